"""Shared by the serve tests: a detector whose answer is known exactly, its test picture, and a
real uvicorn server on a free loopback port in a thread."""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time
from collections.abc import Iterator

import numpy as np
import torch
from PIL import Image

from inpaintscope.models import Detector, DetectorOutput

# The ramp picture: a 320×240 background of red 20 with a 150×120 rectangle (x 80..229,
# y 60..179) whose red channel rises by one per column, 100..249.
WIDTH, HEIGHT = 320, 240
RECT_X0, RECT_X1, RECT_Y0, RECT_Y1 = 80, 230, 60, 180


def ramp_image() -> np.ndarray:
    img = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    img[..., 0], img[..., 1], img[..., 2] = 20, 90, 140
    img[RECT_Y0:RECT_Y1, RECT_X0:RECT_X1, 0] = 100 + np.arange(RECT_X1 - RECT_X0, dtype=np.uint8)[None, :]
    return img


def ramp_probability(image: np.ndarray) -> np.ndarray:
    """What :class:`RampDetector` answers: sigmoid((red - 127.5) / 12)."""
    red = image[..., 0].astype(np.float64)
    return 1.0 / (1.0 + np.exp(-(red - 127.5) / 12.0))


def first_column_at(p: float) -> int:
    """First rectangle column whose probability is >= p."""
    red = 127.5 + 12.0 * np.log(p / (1.0 - p))
    return RECT_X0 + int(np.ceil(red)) - 100


class RampDetector(Detector):
    """Mask logit = (red - 127.5) / 12, no image head (score = 99.9th percentile of the heatmap).
    With ``gate`` set, a forward pass announces itself on ``entered`` and waits for ``gate``
    (a blocked worker, to fill the pool deterministically); ``fail`` makes it raise."""

    def __init__(self, *, gate: threading.Event | None = None, fail: bool = False) -> None:
        super().__init__()
        self.gate = gate
        self.fail = fail
        self.entered = threading.Event()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> DetectorOutput:
        self.calls += 1
        if self.fail:
            raise RuntimeError("simulated fault\nsecond line")
        if self.gate is not None:
            self.entered.set()
            if not self.gate.wait(timeout=60):
                raise RuntimeError("test gate never opened")
        return DetectorOutput((x[:, :1] * 255.0 - 127.5) / 12.0)


def encode(image: np.ndarray, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, fmt, **kw)
    return buf.getvalue()


def decode_data_url(url: str) -> np.ndarray:
    import base64

    head, data = url.split(",", 1)
    assert head == "data:image/png;base64"
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))))


@contextlib.contextmanager
def running_server(app) -> Iterator[str]:
    """``app`` under a real uvicorn on 127.0.0.1 (a free port); yields the base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
