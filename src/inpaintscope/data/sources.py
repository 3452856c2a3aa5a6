"""Source photos for the dataset builder: discovery, stable naming, hashing and preparation.

Everything here is a pure function of the source *relative paths* and the options, never of
absolute paths, file-system order, worker count or Python's randomised ``hash()``, so a build
is reproducible on another machine from the same photos and seed.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from ..contract import check_image
from ..errors import InpaintscopeError
from ..io import IMAGE_SUFFIXES

ResizeMode = Literal["crop", "stretch", "none"]
RESIZE_MODES: tuple[str, ...] = ("crop", "stretch", "none")

#: Sources whose shorter side is below this are skipped (too small to hold a meaningful hole).
DEFAULT_MIN_SIDE = 64


@dataclass(frozen=True)
class Source:
    """One source photo: where it is and the relative path that names it everywhere."""

    path: Path  # absolute path on this machine (never written to outputs)
    relpath: str  # POSIX path relative to the SRC it came from; the identity of the photo

    @property
    def key(self) -> int:
        return stable_hash(self.relpath)

    @property
    def base_id(self) -> str:
        return source_base_id(self.relpath)


def stable_hash(text: str) -> int:
    """A 64-bit hash of ``text`` that is the same in every process and on every machine
    (blake2b; Python's ``hash()`` is salted per process and must never seed anything)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


_SLUG_BAD = re.compile(r"[^A-Za-z0-9_-]+")


def source_base_id(relpath: str) -> str:
    """A readable, file-name-safe id for a source: its path without suffix plus a short hash.

    Dots are replaced so the id never confuses the ``<id>.<role>.<ext>`` naming; the hash keeps
    ``a.jpg`` and ``a.png`` (or ``a/b.jpg`` and ``a_b.jpg``) apart.
    """
    stem = relpath.rsplit(".", 1)[0] if "." in Path(relpath).name else relpath
    slug = _SLUG_BAD.sub("_", stem.replace("/", "__")).strip("_")[-60:] or "img"
    digest = hashlib.blake2b(relpath.encode("utf-8"), digest_size=3).hexdigest()
    return f"{slug}-{digest}"


def discover_sources(paths: list[str | os.PathLike]) -> list[Source]:
    """List the image files under ``paths`` (folders are searched recursively), sorted by relpath.

    With one folder, relpaths are relative to it. With several inputs, each folder's relpaths
    are prefixed with the folder's name (and a file's relpath is its name), so photos from
    different folders never collide; two inputs with the same name are refused.
    """
    if not paths:
        raise InpaintscopeError("no source given; pass one or more folders or image files")
    resolved = [Path(p).expanduser() for p in paths]
    for p in resolved:
        if not p.exists():
            raise InpaintscopeError(f"source {p} does not exist")
    prefix_needed = len(resolved) > 1
    names = [p.resolve().name for p in resolved]
    if prefix_needed and len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise InpaintscopeError(f"several sources share the name {dup[0]!r}; relative paths would "
                                "collide, so give folders with distinct names (or their common parent)")
    out: dict[str, Source] = {}
    for p, name in zip(resolved, names):
        if p.is_file():
            files = [(p, p.name)]
        else:
            # Every regular file with an image suffix counts, even ones that will turn out to
            # be unreadable: those are reported as skipped rather than silently ignored.
            files = [(f, f.relative_to(p).as_posix()) for f in sorted(p.rglob("*"))
                     if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
                     and not f.name.startswith(".")]
        for f, rel in files:
            rel = f"{name}/{rel}" if prefix_needed and p.is_dir() else rel
            if rel in out and out[rel].path != f.resolve():
                raise InpaintscopeError(f"two sources would both be named {rel!r}; pass distinct folders")
            out[rel] = Source(path=f.resolve(), relpath=rel)
    if not out:
        raise InpaintscopeError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) found in "
                                + ", ".join(str(p) for p in resolved))
    return [out[k] for k in sorted(out)]


def prepare_image(image: np.ndarray, *, size: int | None, resize: ResizeMode = "crop") -> np.ndarray:
    """Bring a photo to ``size``×``size``.

    * ``crop`` (default): centre-crop to a square on the longer side, then resize — no distortion;
    * ``stretch``: resize the whole photo to a square (aspect ratio not kept, as the report did
      for COCO);
    * ``none``: keep the native size (``size`` is ignored).

    Shrinking uses area interpolation (the anti-aliased choice, so no resampling artefacts end
    up in the "authentic" pixels a detector learns from); enlarging uses bicubic.
    """
    check_image(image)
    if resize == "none" or size is None:
        return image
    if resize not in RESIZE_MODES:
        raise InpaintscopeError(f"unknown resize mode {resize!r}; choose one of {', '.join(RESIZE_MODES)}")
    h, w = image.shape[:2]
    if resize == "crop" and h != w:
        side = min(h, w)
        y0, x0 = (h - side) // 2, (w - side) // 2
        image = image[y0:y0 + side, x0:x0 + side]
        h = w = side
    if (h, w) == (size, size):
        return np.ascontiguousarray(image)
    interp = cv2.INTER_AREA if size < min(h, w) else cv2.INTER_CUBIC
    return cv2.resize(np.ascontiguousarray(image), (size, size), interpolation=interp)


def probe_source(path: Path, *, min_side: int = DEFAULT_MIN_SIDE) -> str | None:
    """Cheap check of a source before splits are assigned: ``None`` if it looks usable, else
    the reason to skip it. Reads only the header, so empty, non-image and tiny files never take
    a place in a split; truncated or corrupt pixel data is caught later, when the photo is decoded.
    """
    from PIL import Image, UnidentifiedImageError

    from ..errors import ImageReadError
    from ..io import read_image

    try:
        if path.stat().st_size == 0:
            return "empty file (0 bytes)"
        with Image.open(path) as img:
            w, h = img.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        try:  # let the one reader phrase the reason (HEIC extra missing, permission, ...)
            read_image(path)
        except ImageReadError as e:
            return str(e).replace(str(path), "").lstrip(": ").strip() or "unreadable"
        return None
    if min(w, h) < min_side:
        return f"too small ({w}×{h} px; the shorter side must be at least {min_side} px, see --min-side)"
    return None
