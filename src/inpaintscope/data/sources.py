"""Source photos for the dataset builder: discovery, stable naming, hashing and preparation.

Everything here is a pure function of the source *relative paths* and the options, never of
absolute paths, file-system order, worker count or Python's randomised ``hash()``, so a build
is reproducible on another machine from the same photos and seed.

**File names that are not UTF-8.** POSIX names are bytes; Python shows undecodable bytes as
lone surrogates (``os.fsdecode``), which cannot be encoded as UTF-8 or written to JSON. Hashes
are therefore taken over the raw bytes (``os.fsencode``: the same bytes as UTF-8 for every
ordinary name, so ids and seeds do not change), and outputs (manifest, summary, messages)
name such a source by :func:`inpaintscope.io.printable`: each undecodable byte and control
character written as ``\\xNN`` (a backslash, ``x`` and two hex digits). A split file may list the
source in that form.

The Bochum report: P. Adler, H. Günther, D. Gann, H. Ehringfeld, "Inpainting Detection", student
project report (MPDL project, group 2), Ruhr-Universität Bochum, 2023.
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
from ..io import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, printable
from ..io.images import list_image_files

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
    def label(self) -> str:
        """The relpath as written to manifests, summaries and messages (:func:`printable`)."""
        return printable(self.relpath)


def stable_hash(text: str) -> int:
    """A 64-bit hash of ``text`` that is the same in every process and on every machine
    (blake2b; Python's ``hash()`` is salted per process and must never seed anything).
    Hashes the raw file-name bytes, so names that are not UTF-8 work too."""
    return int.from_bytes(hashlib.blake2b(os.fsencode(text), digest_size=8).digest(), "little")


_SLUG_BAD = re.compile(r"[^A-Za-z0-9_-]+")


def source_base_id(relpath: str) -> str:
    """A readable, file-name-safe id for a source: its path without suffix plus a short hash.

    Dots are replaced so the id never confuses the ``<id>.<role>.<ext>`` naming; the hash keeps
    ``a.jpg`` and ``a.png`` (or ``a/b.jpg`` and ``a_b.jpg``) apart.
    """
    stem = relpath.rsplit(".", 1)[0] if "." in Path(relpath).name else relpath
    slug = _SLUG_BAD.sub("_", stem.replace("/", "__")).strip("_")[-60:] or "img"
    digest = hashlib.blake2b(os.fsencode(relpath), digest_size=3).hexdigest()
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
        raise InpaintscopeError(
            f"several sources share the name {dup[0]!r}; relative paths would "
            "collide, so give folders with distinct names (or their common parent)"
        )
    out: dict[str, Source] = {}
    for p, name in zip(resolved, names):
        if p.is_file():
            files = [(p, p.name)]
        else:
            # The listing rule shared with `detect`: every file with an image suffix counts, even
            # ones that will turn out to be unreadable (dangling links included): those are
            # reported as skipped rather than silently ignored.
            files = [(f, f.relative_to(p).as_posix()) for f in list_image_files(p)]
        for f, rel in files:
            rel = f"{name}/{rel}" if prefix_needed and p.is_dir() else rel
            # a dangling link keeps its own path, so the skip reason can say what it points to
            target = f.resolve() if f.exists() else f.absolute()
            if rel in out and out[rel].path != target:
                raise InpaintscopeError(f"two sources would both be named {printable(rel)!r}; pass distinct folders")
            out[rel] = Source(path=target, relpath=rel)
    if not out:
        raise InpaintscopeError(
            f"no image files ({', '.join(IMAGE_SUFFIXES)}) found in "
            + ", ".join(str(p) for p in resolved)
            + " (hidden files and folders are skipped)"
        )
    return [out[k] for k in sorted(out)]


def prepare_image(image: np.ndarray, *, size: int | None, resize: ResizeMode = "crop") -> np.ndarray:
    """Bring a photo to ``size``×``size``.

    * ``crop`` (default): centre-crop to a square on the longer side, then resize — no distortion;
    * ``stretch``: resize the whole photo to a square (aspect ratio not kept, as the Bochum report did
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
        image = image[y0 : y0 + side, x0 : x0 + side]
        h = w = side
    if (h, w) == (size, size):
        return np.ascontiguousarray(image)
    interp = cv2.INTER_AREA if size < min(h, w) else cv2.INTER_CUBIC
    return cv2.resize(np.ascontiguousarray(image), (size, size), interpolation=interp)


def probe_source(path: Path, *, min_side: int = DEFAULT_MIN_SIDE, max_pixels: int = DEFAULT_MAX_PIXELS) -> str | None:
    """Cheap check of a source before splits are assigned: ``None`` if it looks usable, else
    the reason to skip it. Reads only the header, so empty, non-image, tiny and oversize files
    (more than ``max_pixels``, the project's decompression-bomb limit rather than Pillow's)
    never take a place in a split; truncated or corrupt pixel data is caught later, when the
    photo is decoded.
    """
    from PIL import UnidentifiedImageError

    from ..errors import ImageReadError
    from ..io import read_image
    from ..io.images import read_image_size

    if path.is_symlink() and not path.exists():
        return f"broken symbolic link (its target {printable(os.readlink(path))} does not exist)"
    try:
        if path.stat().st_size == 0:
            return "empty file (0 bytes)"
        w, h = read_image_size(path)  # only the header is parsed here
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        try:  # let the one reader phrase the reason (HEIC extra missing, permission, ...)
            read_image(path, max_pixels=max_pixels)
        except ImageReadError as e:
            return str(e).replace(str(path), "").lstrip(": ").strip() or "unreadable"
        return None
    if w * h > max_pixels:
        return (
            f"too large ({w}×{h} = {w * h:,} pixels; the limit is {max_pixels:,}, see --max-pixels; "
            "a guard against decompression bombs)"
        )
    if min(w, h) < min_side:
        return f"too small ({w}×{h} px; the shorter side must be at least {min_side} px, see --min-side)"
    return None


def content_digest(path: Path) -> str:
    """blake2b of the file's bytes: finds exact copies of a photo under other names."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def find_duplicates(sources: list[Source]) -> list[list[Source]]:
    """Groups (in source order, two or more each) of sources whose files are byte-identical.

    Only files of equal size are hashed, so a folder without copies costs one ``stat`` each.
    """
    by_size: dict[int, list[Source]] = {}
    for src in sources:
        try:
            by_size.setdefault(src.path.stat().st_size, []).append(src)
        except OSError:
            continue
    groups: dict[str, list[Source]] = {}
    for same_size in by_size.values():
        if len(same_size) < 2:
            continue
        for src in same_size:
            try:
                groups.setdefault(content_digest(src.path), []).append(src)
            except OSError:
                continue
    order = {s.relpath: i for i, s in enumerate(sources)}
    dups = [sorted(g, key=lambda s: order[s.relpath]) for g in groups.values() if len(g) > 1]
    return sorted(dups, key=lambda g: order[g[0].relpath])
