"""Holes read from a folder of mask images (NVIDIA irregular masks, QD-IMD, your own).

The Bochum report's QuickDraw masks (docs/references.md, §4.1) and the training masks of
SafePaint (Chen et al. 2024) are both "a random file from a mask list, resized and binarised".
Here a file is picked with ``rng`` (optionally only among files whose hole fraction is in
``area``), optionally flipped / rotated by multiples of 90°, resized to the image and
binarised at > 127. White (255) is the hole unless ``invert=True`` (QD-IMD draws black
strokes on white).

The Bochum report: P. Adler, H. Günther, D. Gann, H. Ehringfeld, "Inpainting Detection", student
project report (MPDL project, group 2), Ruhr-Universität Bochum, 2023.
"""

from __future__ import annotations

import os
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import ImageReadError, InpaintscopeError
from ..io import list_image_files, read_mask
from .base import register_mask, resolve_area
from .objects import MaskUnavailable

#: Hole fractions are measured (once per folder) on a strided subsample about this many pixels
#: across; for 512 px masks that is within ~0.01 of the full-resolution fraction.
_THUMB = 64


def _hole(mask: np.ndarray, invert: bool) -> np.ndarray:
    return (mask <= 127) if invert else (mask > 127)


class UnreadableMasksWarning(UserWarning):
    """Some files of a mask folder cannot be read; they are left out of the draw."""


@lru_cache(maxsize=16)
def _index(directory: str, listing: tuple[str, ...], invert: bool) -> tuple[tuple[str, ...], np.ndarray]:
    """(relative file names, hole fractions) of every readable mask in ``directory``.

    Cached per (folder, its top-level listing): adding, removing or renaming a file re-indexes
    (a directory's mtime is too coarse for that on some file systems); overwriting a file in
    place, or changes only inside subfolders, do not (rare for a mask set). Unreadable files are
    left out and reported in one :class:`UnreadableMasksWarning` (once per index, thanks to the
    cache): one bad file among thousands must not fail every sample that draws from the folder.
    """
    root = Path(directory)
    files = list_image_files(root)
    names: list[str] = []
    fractions: list[float] = []
    unreadable: list[str] = []
    for path in files:
        try:
            mask = read_mask(path)  # PNG has no cheap reduced decode; the stride below saves the rest
        except ImageReadError:
            unreadable.append(path.relative_to(root).as_posix())
            continue
        step = max(1, min(mask.shape) // _THUMB)
        arr = mask[::step, ::step]
        names.append(path.relative_to(root).as_posix())
        fractions.append(float(_hole(arr, invert).mean()))
    if unreadable and names:
        shown = ", ".join(unreadable[:5]) + (f" and {len(unreadable) - 5} more" if len(unreadable) > 5 else "")
        warnings.warn(
            f"mask folder {root}: skipping {len(unreadable)} unreadable file(s) of {len(files)}: {shown}",
            UnreadableMasksWarning,
            stacklevel=3,
        )
    if unreadable and not names:
        raise InpaintscopeError(
            f"mask folder {root}: none of its {len(files)} image file(s) can be read as a mask "
            f"(e.g. {unreadable[0]}); check the files or use another folder"
        )
    table = np.asarray(fractions, dtype=np.float64)
    table.setflags(write=False)  # shared by every caller through the cache
    return tuple(names), table


def mask_index(directory: str | Path, *, invert: bool = False) -> tuple[tuple[str, ...], np.ndarray]:
    """Relative names and (thumbnail) hole fractions of the masks in ``directory`` (cached)."""
    root = Path(directory)
    if not root.is_dir():
        raise InpaintscopeError(f"mask folder {root} does not exist or is not a directory")
    names, fractions = _index(str(root.resolve()), tuple(sorted(os.listdir(root))), bool(invert))
    if not names:
        raise InpaintscopeError(f"mask folder {root} holds no mask images (.png, .jpg, ...)")
    return names, fractions


def _resize(hole: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    if hole.shape == (h, w):
        return hole
    src = hole.astype(np.uint8) * 255
    # Interpolate then threshold rather than nearest: nearest gives staircase outlines when
    # enlarging and drops thin strokes when shrinking, and a detector could learn those
    # artefacts instead of inpainting traces. AREA averages when shrinking, LINEAR when enlarging.
    shrinking = h * w < hole.shape[0] * hole.shape[1]
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(src, (w, h), interpolation=interp) > 127


@register_mask("folder")
def folder(
    shape: tuple[int, int],
    *,
    rng: np.random.Generator,
    area: tuple[float, float] | None = None,
    directory: str | Path | None = None,
    augment: bool = True,
    invert: bool = False,
) -> tuple[np.ndarray, dict[str, Any]]:
    """A mask file from ``directory``, picked with ``rng``, augmented, resized to ``shape``.

    With ``area`` only files whose hole fraction (measured once per folder on a ~64 px
    subsample) lies in ``[lo, hi]`` are candidates; the fraction after augmenting and resizing
    differs from it by the resampling only (within ~0.02). No file in range raises
    :class:`~inpaintscope.masks.objects.MaskUnavailable`. ``augment`` applies a random
    horizontal/vertical flip and rotation by k·90°. ``params`` records ``file`` (relative to
    ``directory``), ``flip_h``, ``flip_v`` and ``rot90``.
    """
    h, w = int(shape[0]), int(shape[1])
    if directory is None:
        raise InpaintscopeError("folder masks need directory= (a folder of mask images, white = hole)")
    rng_area = resolve_area(area, None)
    names, fractions = mask_index(directory, invert=invert)
    # Files that are all hole or no hole can never give a usable mask.
    usable = (fractions > 0) & (fractions < 1)
    if rng_area is not None:
        usable &= (fractions >= rng_area[0]) & (fractions <= rng_area[1])
    choices = np.flatnonzero(usable)
    if choices.size == 0:
        wanted = f" with a hole fraction in {rng_area[0]}–{rng_area[1]}" if rng_area else ""
        raise MaskUnavailable(
            f"no mask in {directory}{wanted} ({len(names)} files); widen the area "
            "range, check white = hole (or pass invert=True), or use another folder"
        )
    name = names[int(choices[int(rng.integers(choices.size))])]
    hole = _hole(read_mask(Path(directory) / name), invert)
    params: dict[str, Any] = {"file": name, "flip_h": False, "flip_v": False, "rot90": 0}
    if augment:
        # Fixed draw order (flip_h, flip_v, rot90) so a seed rebuilds the same mask.
        params["flip_h"] = bool(rng.random() < 0.5)
        params["flip_v"] = bool(rng.random() < 0.5)
        params["rot90"] = int(rng.integers(4))
        if params["flip_h"]:
            hole = hole[:, ::-1]
        if params["flip_v"]:
            hole = hole[::-1, :]
        hole = np.rot90(hole, params["rot90"])
    hole = _resize(np.ascontiguousarray(hole), (h, w))
    return hole, params
