"""What the server accepts: upload size, pixel count, and image formats recognised by content.

Formats are recognised by their magic bytes only, never by the file name or the declared
``Content-Type`` (both are whatever the client says). The pixel count is read from the file
header before any pixel is decoded, so a small file that claims 100 000 × 100 000 pixels (a
decompression bomb) costs nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import ApiError

#: defaults of ``inpaintscope serve``: a 50 MiB upload, a 50-megapixel image
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_MAX_PIXELS = 50_000_000
DEFAULT_WORKERS = 1
DEFAULT_QUEUE = 8

#: leading bytes -> format name; ``None`` in a signature matches any byte
_SIGNATURES: tuple[tuple[int, tuple[int | None, ...], str], ...] = (
    (0, (0xFF, 0xD8, 0xFF), "JPEG"),
    (0, tuple(b"\x89PNG\r\n\x1a\n"), "PNG"),
    (0, tuple(b"GIF87a"), "GIF"),
    (0, tuple(b"GIF89a"), "GIF"),
    (0, tuple(b"RIFF") + (None,) * 4 + tuple(b"WEBP"), "WebP"),
    (0, tuple(b"II*\x00"), "TIFF"),
    (0, tuple(b"MM\x00*"), "TIFF"),
    (0, tuple(b"BM"), "BMP"),
)
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1")
#: what a 415 answer lists
ACCEPTED_FORMATS = "JPEG, PNG, WebP, TIFF, BMP, GIF or HEIC"
#: bytes :func:`sniff_format` needs to look at
SNIFF_BYTES = 16


@dataclass(frozen=True)
class ServeLimits:
    """Bounds on one request (``max_bytes``, ``max_pixels``) and on the server's work at once:
    ``workers`` detections run in parallel and at most ``queue`` more wait for a worker; past
    that a request is refused with 503 instead of piling up memory."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    workers: int = DEFAULT_WORKERS
    queue: int = DEFAULT_QUEUE

    def __post_init__(self) -> None:
        for name, low in (("max_bytes", 1), ("max_pixels", 1), ("workers", 1), ("queue", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")

    def to_dict(self) -> dict[str, int]:
        return {
            "max_bytes": self.max_bytes,
            "max_pixels": self.max_pixels,
            "workers": self.workers,
            "queue": self.queue,
        }


def sniff_format(head: bytes) -> str | None:
    """The image format that ``head`` (the first :data:`SNIFF_BYTES` bytes of a file) starts
    like, or None when it starts like none we read."""
    for offset, signature, name in _SIGNATURES:
        chunk = head[offset : offset + len(signature)]
        if len(chunk) == len(signature) and all(s is None or s == b for s, b in zip(signature, chunk)):
            return name
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "HEIC"
    return None


def check_format(path: str | os.PathLike, *, label: str) -> str:
    """The sniffed format of the file at ``path``; 415 when it is not an image we read."""
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
    fmt = sniff_format(head)
    if fmt is None:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"{label} is not an image (its content is not {ACCEPTED_FORMATS}; the file name "
            "and Content-Type are not trusted)",
        )
    return fmt


def check_pixels(path: str | os.PathLike, *, max_pixels: int, label: str) -> tuple[int, int]:
    """``(width, height)`` from the header of the image at ``path``; 413 when it has more than
    ``max_pixels`` pixels. A header that cannot be parsed is left to the decoder (it gives the
    precise reason); so is HEIC, whose reader is an optional plug-in."""
    from ..io.images import read_image_size

    try:
        # the header alone, without Pillow's process-wide limit: our max_pixels decides
        width, height = read_image_size(path)
    except (OSError, SyntaxError, ValueError):  # Pillow's UnidentifiedImageError is an OSError
        return (0, 0)
    if width * height > max_pixels:
        raise ApiError(
            413,
            "too_many_pixels",
            f"{label} is {width}×{height} = {width * height:,} pixels; this server accepts at "
            f"most {max_pixels:,} (send a smaller image or start the server with a larger --max-pixels)",
        )
    return width, height
