"""The FastAPI application: ``POST /v1/detect``, ``GET /v1/models``, ``GET /healthz``, the
analyst page at ``/`` and the API docs at ``/docs`` (assets served from an installed package,
nothing from a CDN) and ``/openapi.json``.

Every error is JSON ``{"error": "<one line>", "code": "<slug>"}`` with the status code saying
what kind: 400 bad request, 404 unknown path, 413 upload or image too large, 415 not an image,
422 unreadable image or bad parameter, 503 busy (with ``Retry-After``), 500 our fault (logged;
no traceback is sent). Uploads live only in a per-request temp folder that is removed when the
request ends, whatever happened.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..detection import detect, detection_record
from ..detection.api import DEFAULT_IMAGE_THRESHOLD, DEFAULT_PIXEL_THRESHOLD, resolve_thresholds
from ..detection.loader import LoadedModel, load_model, shipped_detector_names
from ..errors import InpaintscopeError
from .errors import ApiError
from .limits import ServeLimits, check_format, check_pixels
from .pool import PoolFull, WorkerPool
from .records import PICTURES, parse_pictures, pictures
from .upload import Upload, check_declared_length, is_multipart, receive_multipart, receive_raw

log = logging.getLogger("inpaintscope.serve")

STATIC_DIR = Path(__file__).resolve().parent / "static"
TEMP_PREFIX = "inpaintscope-serve-"
#: the page loads only its own files; pictures come back as data URLs, originals as blob URLs
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


class Service:
    """The loaded model, the limits and the worker pool of one server."""

    def __init__(
        self,
        loaded: LoadedModel,
        limits: ServeLimits,
        *,
        pixel_threshold: float,
        image_threshold: float,
        temp_dir: str | os.PathLike | None,
    ) -> None:
        self.loaded = loaded
        self.limits = limits
        self.pixel_threshold = pixel_threshold
        self.image_threshold = image_threshold
        self.temp_dir = None if temp_dir is None else os.fspath(temp_dir)
        self.pool = WorkerPool(limits.workers, limits.queue)

    def analyse(self, upload: Upload, pixel_threshold: float, image_threshold: float, kinds: tuple[str, ...]) -> bytes:
        """Detection on one received file (runs on a worker thread): the JSON body of the answer."""
        label = upload.filename
        check_format(upload.path, label=label)
        check_pixels(upload.path, max_pixels=self.limits.max_pixels, label=label)
        data = upload.path.read_bytes()
        try:
            det = detect(
                data,
                model=self.loaded,
                pixel_threshold=pixel_threshold,
                image_threshold=image_threshold,
                max_pixels=self.limits.max_pixels,
            )
        except InpaintscopeError as e:
            # read_image names a byte buffer "input bytes"; the analyst knows it by its file name
            raise ApiError(422, "unreadable_image", str(e).replace("input bytes", label, 1)) from None
        record = detection_record(label, det)
        record["images"] = pictures(det, kinds)
        return json.dumps(record, ensure_ascii=False).encode("utf-8")

    def model_info(self) -> dict[str, Any]:
        info = getattr(self.loaded.detector, "checkpoint_info", {}) or {}
        return {
            "id": self.loaded.label,
            "architecture": info.get("model", type(self.loaded.detector).__name__),
            "device": str(self.loaded.device),
            "thresholds": {"pixel": self.pixel_threshold, "image": self.image_threshold},
        }


def _status_code(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def _internal_message(exc: BaseException) -> str:
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"internal error ({type(exc).__name__}: {first})"


class _SecurityHeaders:
    """Pure ASGI middleware (the body stream stays untouched): ``nosniff`` everywhere, and the
    page's Content-Security-Policy on the page and its files."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        page = scope["path"] == "/" or scope["path"].startswith("/static/")

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                if page:
                    headers.append((b"content-security-policy", PAGE_CSP.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _docs_assets() -> Path | None:
    """Swagger UI files shipped by the fastapi-offline package (part of the serve extra)."""
    try:
        folder = Path(str(resources.files("fastapi_offline") / "static"))
    except (ModuleNotFoundError, TypeError):
        return None
    return folder if (folder / "swagger-ui-bundle.js").is_file() else None


_DETECT_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary", "description": "the image"}},
            }
        },
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        "image/*": {"schema": {"type": "string", "format": "binary"}},
    },
}
_ERROR_SCHEMA = {
    "application/json": {
        "schema": {"type": "object", "properties": {"error": {"type": "string"}, "code": {"type": "string"}}}
    }
}
_DETECT_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "empty upload, malformed form, no file part", "content": _ERROR_SCHEMA},
    413: {"description": "upload over --max-bytes, or image over --max-pixels", "content": _ERROR_SCHEMA},
    415: {"description": "content is not an image we read (sniffed from its bytes)", "content": _ERROR_SCHEMA},
    422: {"description": "corrupt or truncated image, or a bad query parameter", "content": _ERROR_SCHEMA},
    503: {"description": "every worker busy and the queue full; see Retry-After", "content": _ERROR_SCHEMA},
}


def create_app(
    *,
    model: Any = None,
    device: str = "auto",
    limits: ServeLimits | None = None,
    pixel_threshold: float = DEFAULT_PIXEL_THRESHOLD,
    image_threshold: float = DEFAULT_IMAGE_THRESHOLD,
    temp_dir: str | os.PathLike | None = None,
    warm_up: bool = True,
) -> FastAPI:
    """Build the app. The model (``model``: anything :func:`inpaintscope.detect` accepts) is
    loaded here, once, and, with ``warm_up``, run once on a small image so a broken checkpoint
    fails now and the first request pays no start-up cost. ``temp_dir``: where the per-request
    folders go (default: the system temp folder)."""
    pixel_threshold, image_threshold = resolve_thresholds(pixel_threshold, image_threshold)
    limits = limits or ServeLimits()
    loaded = load_model(model, device=device)
    if warm_up:
        detect(np.full((64, 64, 3), 128, np.uint8), model=loaded)
    service = Service(
        loaded,
        limits,
        pixel_threshold=pixel_threshold,
        image_threshold=image_threshold,
        temp_dir=temp_dir,
    )

    @asynccontextmanager
    async def lifespan(_app: Any):
        yield
        service.pool.shutdown()

    app = FastAPI(
        title="inpaintscope",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        description=(
            "Image-inpainting forensics: was this photo inpainted, and where? "
            "`POST /v1/detect` an image; the answer is the same record as results.jsonl of "
            "`inpaintscope detect`, plus the thresholds used and the pictures asked for."
        ),
    )
    app.state.service = service
    app.add_middleware(_SecurityHeaders)

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.payload(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = f"no such page or endpoint: {request.url.path}" if exc.status_code == 404 else str(exc.detail)
        return JSONResponse(
            {"error": message, "code": _status_code(exc.status_code)},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def _bad_parameter(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        return JSONResponse(
            {"error": f"{where}: {first.get('msg', 'invalid value')}", "code": "bad_parameter"}, status_code=422
        )

    @app.exception_handler(Exception)
    async def _internal(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": _internal_message(exc), "code": "internal_error"}, status_code=500)

    probability = {"ge": 0.0, "le": 1.0}

    @app.post(
        "/v1/detect",
        tags=["detect"],
        openapi_extra={"requestBody": _DETECT_BODY},
        responses=_DETECT_RESPONSES,
        summary="Detect inpainted regions in one image",
    )
    async def detect_image(
        request: Request,
        threshold: float | None = Query(None, **probability, description="sets both thresholds below"),
        pixel_threshold: float | None = Query(
            None,
            **probability,
            description=(
                f"probability at which a pixel is marked inpainted (mask, regions); default {pixel_threshold}"
            ),
        ),
        image_threshold: float | None = Query(
            None,
            **probability,
            description=(f"score at which the image is called inpainted (decision); default {image_threshold}"),
        ),
        images: str | None = Query(
            None,
            description=(
                f"pictures to return as PNG data URLs: a comma list of {', '.join(PICTURES)}, or none "
                "(default mask,heatmap,overlay)"
            ),
        ),
    ) -> Response:
        """Send the image as the request body, or as the `file` part of a multipart form. Its
        format is recognised from its bytes (JPEG, PNG, WebP, TIFF, BMP, GIF, HEIC). The answer
        is the results.jsonl record (`file`, `status`, `width`, `height`, `score`, `decision`,
        `area_fraction`, `regions` with boxes and per-region probabilities, `model`, `version`,
        `seconds`) plus `thresholds` and `images`."""
        try:
            kinds = parse_pictures(images)
        except ValueError as e:
            raise ApiError(422, "bad_parameter", str(e)) from None
        pixel = next(v for v in (pixel_threshold, threshold, service.pixel_threshold) if v is not None)
        image = next(v for v in (image_threshold, threshold, service.image_threshold) if v is not None)
        content_type = request.headers.get("content-type")
        multipart = is_multipart(content_type)
        check_declared_length(request.headers, max_bytes=limits.max_bytes, multipart=multipart)
        try:
            ticket = service.pool.admit()
        except PoolFull as e:
            stats = service.pool.stats()
            raise ApiError(
                503,
                "busy",
                f"the server is busy ({stats['running']} running, {stats['waiting']} "
                f"waiting, queue of {limits.queue}); retry in {e.retry_after} s",
                headers={"Retry-After": str(e.retry_after)},
            ) from None
        try:
            with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX, dir=service.temp_dir) as folder:
                if multipart:
                    upload = await receive_multipart(
                        request.stream(), content_type or "", Path(folder), max_bytes=limits.max_bytes
                    )
                else:
                    upload = await receive_raw(request.stream(), Path(folder), max_bytes=limits.max_bytes)
                try:
                    body = await service.pool.run(ticket, service.analyse, upload, pixel, image, kinds)
                except (ApiError, PoolFull):
                    raise
                except Exception as e:  # our fault, not the image's: logged here, one line to the client
                    log.exception("detection failed on %s", upload.filename)
                    raise ApiError(500, "internal_error", _internal_message(e)) from None
        finally:
            if not ticket.handed_over:
                ticket.release()
        return Response(body, media_type="application/json")

    @app.get("/v1/models", tags=["info"], summary="The model this server runs")
    async def models() -> dict[str, Any]:
        shipped = shipped_detector_names()
        return {"models": [service.model_info()], "shipped": shipped}

    @app.get("/healthz", tags=["info"], summary="Liveness, limits and load")
    async def healthz() -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "model": loaded.label,
            "limits": limits.to_dict(),
            "pool": service.pool.stats(),
        }

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    assets = _docs_assets()
    if assets is not None:
        app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        if assets is None:
            return HTMLResponse(
                "<!DOCTYPE html><meta charset='utf-8'><title>inpaintscope API</title>"
                "<p>The interactive API page needs the fastapi-offline package "
                '(<code>pip install "inpaintscope[serve]"</code>); nothing is loaded from a CDN. '
                f"The schema is at <a href='{root}/openapi.json'>/openapi.json</a>.</p>"
            )
        return get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json",
            title="inpaintscope API",
            swagger_js_url=f"{root}/docs-assets/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/docs-assets/swagger-ui.css",
            swagger_favicon_url=f"{root}/docs-assets/favicon.png",
        )

    return app
