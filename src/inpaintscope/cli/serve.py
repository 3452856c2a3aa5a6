"""``inpaintscope serve``: detection over HTTP on this machine, and the analysts' web page."""

from __future__ import annotations

import click

from ..serve.limits import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, DEFAULT_QUEUE, DEFAULT_WORKERS
from .common import UserError


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command("serve")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Anything but loopback lets other machines upload images (no authentication).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port to listen on (0: any free port, printed at start).",
)
@click.option(
    "--model",
    "model",
    default=None,
    metavar="NAME|CHECKPOINT",
    help="Shipped model name (default: 'default') or a checkpoint file; loaded once at start-up.",
)
@click.option("--device", default="auto", show_default=True, metavar="auto|cpu|cuda", help="Where to run the model.")
@click.option(
    "--workers",
    type=click.IntRange(1),
    default=DEFAULT_WORKERS,
    show_default=True,
    help="Detections run in parallel (threads sharing one model).",
)
@click.option(
    "--queue",
    type=click.IntRange(0),
    default=DEFAULT_QUEUE,
    show_default=True,
    help="Requests that may wait for a worker; more get 503 with Retry-After.",
)
@click.option(
    "--max-bytes",
    type=click.IntRange(1),
    default=DEFAULT_MAX_BYTES,
    show_default=True,
    help="Largest upload in bytes (413 beyond).",
)
@click.option(
    "--max-pixels",
    type=click.IntRange(1),
    default=DEFAULT_MAX_PIXELS,
    show_default=True,
    help="Largest image in pixels, read from the header before decoding (413 beyond).",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0.0, 1.0),
    default=0.5,
    show_default=True,
    help="Default pixel and image threshold (a request may set its own).",
)
@click.option("--access-log", is_flag=True, help="Log every request (uvicorn's access log).")
def serve(
    host: str,
    port: int,
    model: str | None,
    device: str,
    workers: int,
    queue: int,
    max_bytes: int,
    max_pixels: int,
    threshold: float,
    access_log: bool,
) -> None:
    """Serve detection over HTTP: POST /v1/detect, GET /v1/models, GET /healthz, the analysts'
    page at / and the API docs at /docs. Listens on 127.0.0.1 unless --host says otherwise.

    Example: inpaintscope serve --port 8000, then open http://127.0.0.1:8000/ or
    curl -F file=@photo.jpg http://127.0.0.1:8000/v1/detect
    """
    from ..serve import require_serve_extra

    require_serve_extra()  # one line with the pip command, before anything heavy is imported
    import os
    import socket

    import torch
    import uvicorn

    from ..serve.app import create_app
    from ..serve.limits import ServeLimits

    # N workers each running torch's own thread pool over every core would fight for them
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))
    limits = ServeLimits(max_bytes=max_bytes, max_pixels=max_pixels, workers=workers, queue=queue)
    app = create_app(model=model, device=device, limits=limits, pixel_threshold=threshold, image_threshold=threshold)
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)  # connections made from now on wait for uvicorn instead of being refused
    except OSError as e:
        raise UserError(f"cannot listen on {host}:{port} ({e.strerror or e})") from None
    bound_port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    click.echo(
        f"inpaintscope serve: http://{shown}:{bound_port}/ (model {app.state.service.loaded.label}, "
        f"{workers} worker(s), queue {queue}; API docs at /docs; Ctrl-C stops)",
        err=True,
    )
    if not _is_loopback(host):
        click.echo(
            f"warning: listening on {host}: anyone who can reach this machine can upload images "
            "(there is no authentication)",
            err=True,
        )
    config = uvicorn.Config(app, log_level="info" if access_log else "warning", access_log=access_log, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])
