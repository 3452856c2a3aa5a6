"""Reading and writing images under the data contract (RGB uint8 H×W×3).

:func:`read_image` is the one entry point for every input kind the product accepts: a path,
raw bytes, a PIL image or a numpy array. It applies EXIF orientation and converts grayscale,
palette, alpha, 16-bit and CMYK images to RGB uint8, and turns every way a file can be bad
(missing, empty, truncated, corrupt, not an image, decompression bomb, unreadable, a FIFO or
device instead of a file, a float image holding NaN, infinities or negative values) into an
:class:`~inpaintscope.errors.ImageReadError` whose message is one clear line. Pillow's
process-wide size limit is never touched: our own ``max_pixels`` is checked on the header.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageReadError, InpaintscopeError, ShapeError, install_hint
from .atomic import atomic_write_bytes

ImageSource = str | os.PathLike | bytes | bytearray | memoryview | Image.Image | np.ndarray

#: Refuse images with more pixels than this (decompression-bomb guard). 200 MP covers every
#: camera in use; a user can raise it with ``max_pixels=``.
DEFAULT_MAX_PIXELS = 200_000_000

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".heic", ".heif")

_heif_registered = False


def _register_heif() -> bool:
    global _heif_registered
    if _heif_registered:
        return True
    try:
        from pillow_heif import register_heif_opener  # type: ignore[import-not-found]
    except ImportError:
        return False
    register_heif_opener()
    _heif_registered = True
    return True


def to_rgb(img: Image.Image | np.ndarray) -> np.ndarray:
    """Convert a PIL image or array of any common mode to RGB uint8 H×W×3."""
    if isinstance(img, np.ndarray):
        return _array_to_rgb(img)
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        # 16-bit grayscale always spans 0–65535, whatever the content: a dark 16-bit image must
        # stay dark, so the scale cannot depend on the pixel values.
        arr = np.asarray(img).astype(np.uint32)
        arr = ((arr * 255 + 32767) // 65535).astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2)
    if mode == "I":
        # 32-bit int has no fixed range; files in this mode hold 8- or 16-bit data in practice
        arr = np.asarray(img)
        top = 65535 if arr.max(initial=0) > 255 else 255
        arr = np.clip(arr.astype(np.float64) * (255.0 / top), 0, 255).round().astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2)
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        _check_float_pixels(arr)
        scale = 255.0 if arr.max(initial=0) <= 1.0 else 1.0
        arr = np.clip(arr * scale, 0, 255).round().astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        # Alpha is dropped, not composited: the pixel values under it are the evidence.
        img = img.convert("RGBA").convert("RGB")
    elif mode != "RGB":
        img = img.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))


def _array_to_rgb(arr: np.ndarray) -> np.ndarray:
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise ShapeError(f"image array must be H×W, H×W×1, H×W×3 or H×W×4, got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise ShapeError(
            f"image arrays must hold bool, integer or float pixels, got dtype {arr.dtype}; convert it first"
        )
    if arr.dtype.kind == "u" and arr.dtype.itemsize == 2:  # either byte order: '>u2' is 16-bit too
        arr = (arr.astype(np.uint32) * 255 + 32767) // 65535
    elif np.issubdtype(arr.dtype, np.floating):
        if arr.size and not (np.isfinite(arr.min()) and np.isfinite(arr.max())):
            raise ShapeError("float image array holds NaN or infinite values; it is not an image")
        if arr.size and (arr.min() < 0 or arr.max() > 1):
            raise ShapeError("float image arrays must be in [0, 1]; got values outside that range")
        arr = np.round(arr * 255)
    elif arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype != np.uint8 and arr.size and (arr.min() < 0 or arr.max() > 255):
        raise ShapeError(f"integer image arrays must be in 0–255, got dtype {arr.dtype} with values outside")
    arr = arr.astype(np.uint8, copy=False)
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.shape[2] == 4:
        arr = arr[..., :3]
    return np.ascontiguousarray(arr)


def read_image(source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Load ``source`` (path, bytes, PIL image or array) as RGB uint8 H×W×3.

    Raises :class:`ImageReadError` with a one-line reason for anything unreadable.
    """
    if isinstance(source, np.ndarray):
        if source.ndim >= 2:
            _check_pixels(source.shape[1], source.shape[0], "image array", max_pixels, decoded=True)
        return _array_to_rgb(source)
    if isinstance(source, Image.Image):
        # checked before anything is decoded: a lazily opened PIL image is still only a header
        _check_pixels(*source.size, "PIL image", max_pixels)
        with _decode_errors("PIL image"):
            source.load()
            return to_rgb(ImageOps.exif_transpose(source) or source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise ImageReadError("empty input (0 bytes)")
        return _decode(io.BytesIO(data), "input bytes", max_pixels)
    if isinstance(source, (str, os.PathLike)):
        data, _ = read_file_bytes(source)
        return _decode(io.BytesIO(data), os.fspath(source), max_pixels)
    raise ImageReadError(
        f"cannot read an image from a {type(source).__name__}; pass a path, bytes, a PIL image or a numpy array"
    )


def _check_float_pixels(arr: np.ndarray) -> None:
    """A float image (TIFF mode F) must hold finite, non-negative intensities."""
    if not arr.size:
        return
    low, high = float(arr.min()), float(arr.max())  # NaN and ±inf propagate into min/max
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ImageReadError(
            "float image holds NaN or infinite values: it is not a photo (convert it to 8- or 16-bit first)"
        )
    if low < 0:
        raise ImageReadError(
            f"float image holds negative values (down to {low:g}): it is not a photo (convert it to 8- or 16-bit first)"
        )


_FILE_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(mode: int) -> str:
    for test, name in _FILE_KINDS:
        if test(mode):
            return name
    return "not a regular file"


def _open_nonblocking(path: str, flags: int) -> int:
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait forever for a writer; on a
    # regular file the flag has no effect.
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def read_file_bytes(path: str | os.PathLike) -> tuple[bytes, os.stat_result]:
    """The whole content of the **regular file** ``path`` and its ``stat`` (taken on the open file).

    FIFOs, devices and sockets are refused without blocking; every failure is an
    :class:`ImageReadError` with a one-line reason.
    """
    label = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        kind = " (a broken symbolic link)" if os.path.islink(path) else ""
        raise ImageReadError(f"{label}: no such file{kind}") from None
    except PermissionError:
        raise ImageReadError(f"{label}: permission denied") from None
    except OSError as e:
        raise ImageReadError(f"{label}: cannot read ({e.strerror or e})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageReadError(f"{label}: is a directory, not an image")
    if not stat.S_ISREG(st.st_mode):
        raise ImageReadError(f"{label}: is {_not_regular(st.st_mode)}, not a regular file; refused")
    try:
        with open(path, "rb", opener=_open_nonblocking) as f:
            st = os.fstat(f.fileno())  # the file actually opened, not whatever the name pointed to before
            if not stat.S_ISREG(st.st_mode):
                raise ImageReadError(f"{label}: is {_not_regular(st.st_mode)}, not a regular file; refused")
            data = f.read()
    except PermissionError:
        raise ImageReadError(f"{label}: permission denied") from None
    except FileNotFoundError:
        raise ImageReadError(f"{label}: no such file") from None
    except OSError as e:
        raise ImageReadError(f"{label}: cannot read ({e.strerror or e})") from None
    if not data:
        raise ImageReadError(f"{label}: empty file (0 bytes)")
    return data, st


def decode_image(data: bytes, *, name: str = "input bytes", max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode encoded image ``data`` as RGB uint8; errors name the image ``name``."""
    if not data:
        raise ImageReadError(f"{name}: empty input (0 bytes)")
    return _decode(io.BytesIO(bytes(data)), name, max_pixels)


def _open_header(buf: BinaryIO) -> Image.Image:
    """``Image.open`` without Pillow's process-wide size check (``Image.MAX_IMAGE_PIXELS``).

    Our own ``max_pixels`` is the limit, and it is checked by the caller before any pixel is
    decoded. Lifting Pillow's global for the duration would switch the guard off for every other
    thread, so the format plugins are asked directly, in Pillow's own order (registered formats,
    then the common plugins, then all of them).
    """
    buf.seek(0)
    prefix = buf.read(16)
    tried: set[str] = set()
    for loader in (None, Image.preinit, Image.init):
        if loader is not None:
            loader()
        for fmt in [f for f in Image.ID if f not in tried]:
            tried.add(fmt)
            factory, accept = Image.OPEN[fmt]
            try:
                result = not accept or accept(prefix)
                if result and not isinstance(result, str):
                    buf.seek(0)
                    return factory(buf, "")
            except (SyntaxError, IndexError, TypeError, struct.error):
                continue
    raise UnidentifiedImageError("cannot identify image file")


def read_image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(width, height)`` from the file's header alone, without Pillow's process-wide size
    check (see :func:`_open_header`); raises what ``Image.open`` raises for a non-image."""
    with open(path, "rb") as f, _open_header(f) as img:
        return img.size


def _decode(buf: io.BytesIO, label: str, max_pixels: int) -> np.ndarray:
    if buf.getvalue()[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftyphevc") and not _register_heif():
        raise ImageReadError(f"{label}: HEIC/HEIF needs an extra: {install_hint('heic')}")
    with _decode_errors(label):
        # Our own ``max_pixels`` is the limit: Pillow's (89 MP warning, 179 MP error) would refuse
        # legitimate 100+ MP photos, so the header is parsed without it (see _open_header).
        img = _open_header(buf)
        with img:
            _check_pixels(*img.size, label, max_pixels)
            img.load()
            with contextlib.suppress(Exception):  # a broken EXIF block must not cost us readable pixels
                img = ImageOps.exif_transpose(img) or img
            try:
                return to_rgb(img)
            except ImageReadError as e:
                raise ImageReadError(f"{label}: {e}") from None


def _check_pixels(w: int, h: int, label: str, max_pixels: int, *, decoded: bool = False) -> None:
    if w * h > max_pixels:
        why = (
            "raise max_pixels to analyse it"
            if decoded
            else "possible decompression bomb; raise max_pixels if the image is genuine"
        )
        raise ImageReadError(f"{label}: {w}×{h} = {w * h:,} pixels exceeds the limit of {max_pixels:,} ({why})")
    if w < 1 or h < 1:
        raise ImageReadError(f"{label}: image has zero size")


@contextlib.contextmanager
def _decode_errors(label: str) -> Iterator[None]:
    """Pillow's ways of failing on a bad file, as one :class:`ImageReadError` line naming ``label``."""
    try:
        yield
    except InpaintscopeError:
        raise
    except UnidentifiedImageError:
        raise ImageReadError(f"{label}: not an image, or a format we cannot read") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageReadError(f"{label}: refused as a possible decompression bomb ({e})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        msg = str(e) or type(e).__name__
        if "truncated" in msg.lower() or isinstance(e, EOFError):
            raise ImageReadError(f"{label}: truncated or incomplete image file") from None
        raise ImageReadError(f"{label}: corrupt image ({msg})") from None


def read_mask(source: str | os.PathLike | np.ndarray) -> np.ndarray:
    """Load a mask file as uint8 H×W 0–255 (first channel of colour masks)."""
    if isinstance(source, np.ndarray):
        arr = source
    else:
        try:
            with Image.open(source) as img:
                img.load()
                if img.mode in ("I;16", "I;16B", "I;16L", "I"):
                    arr = (np.asarray(img).astype(np.float64) / 257.0).round().astype(np.uint8)
                elif img.mode in ("L", "1", "P"):
                    arr = np.asarray(img.convert("L"))
                else:
                    arr = np.asarray(img.convert("RGB"))[..., 0]
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as e:
            raise ImageReadError(f"{source}: cannot read mask ({e})") from None
    if arr.ndim == 3:
        arr = arr[..., 0]
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    return np.ascontiguousarray(arr.astype(np.uint8, copy=False))


def encode_image(image: np.ndarray, fmt: str = "png", *, quality: int | None = None) -> bytes:
    """Encode an RGB uint8 image (or H×W uint8 mask) to bytes. ``fmt``: png, jpeg, webp (lossless
    when ``quality`` is None), tiff, bmp. Encoding is deterministic for a given Pillow version."""
    fmt = fmt.lower().lstrip(".")
    fmt = {"jpg": "jpeg", "tif": "tiff"}.get(fmt, fmt)
    pil = Image.fromarray(image)
    buf = io.BytesIO()
    if fmt == "png":
        pil.save(buf, format="PNG", compress_level=1)  # fast; PNG is lossless at any level
    elif fmt == "jpeg":
        pil.save(buf, format="JPEG", quality=quality or 95, subsampling=0 if (quality or 95) >= 90 else 2)
    elif fmt == "webp":
        if quality is None:
            pil.save(buf, format="WEBP", lossless=True, quality=100, method=4)
        else:
            pil.save(buf, format="WEBP", quality=quality, method=4)
    elif fmt in ("tiff", "bmp"):
        pil.save(buf, format=fmt.upper())
    else:
        raise ValueError(f"unsupported output format {fmt!r}; use png, jpeg, webp, tiff or bmp")
    return buf.getvalue()


def write_image(path: str | os.PathLike, image: np.ndarray, *, quality: int | None = None) -> None:
    """Atomically write ``image`` to ``path``; the format follows the suffix."""
    path = Path(path)
    atomic_write_bytes(path, encode_image(image, path.suffix or ".png", quality=quality))


def list_image_files(root: str | os.PathLike, *, recursive: bool = True) -> list[Path]:
    """The one folder-listing rule of ``detect``, ``dataset build`` and mask folders: image files under ``root``.

    * an entry counts when its suffix is in :data:`IMAGE_SUFFIXES` (any case) and it is a
      regular file or a symbolic link to one;
    * a **dangling** symbolic link with an image suffix is listed too, so the caller reports it
      (reading it fails with a reason) instead of silently leaving it out;
    * hidden entries are skipped: files and folders whose name starts with ``.`` (which covers
      the ``.tmp-*`` partial writes of :mod:`inpaintscope.io.atomic`); ``root`` itself may be hidden;
    * symbolic links to folders are not descended (as :meth:`pathlib.Path.rglob`; no loops);
      FIFOs, sockets and devices are skipped (reading one could block forever); sub-folders
      that cannot be read are skipped;
    * the result is sorted (by path components), so it is the same on every file system.

    ``recursive=False`` lists ``root``'s own entries only.
    """
    root = Path(root)
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")) if recursive else []
        for name in filenames:
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in IMAGE_SUFFIXES:
                continue
            path = Path(dirpath) / name
            try:
                regular = stat.S_ISREG(path.stat().st_mode)
            except OSError:  # dangling (or looping) symbolic link: listed, so it gets reported
                regular = path.is_symlink()
            if regular:
                found.append(path)
    return sorted(found)
