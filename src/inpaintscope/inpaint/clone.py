"""Edits that fill a hole with real photo content: the clone stamp and the splice.

* ``clone`` — the clone stamp / copy-move: the hole receives a region of the **same** photo from
  elsewhere (a random offset, the source never overlapping the hole), optionally scaled
  (0.85–1.2×) and rotated (±12°), as retouchers do to hide the repetition. Feathered edges come
  from the soft mask when the fill is composited (``realfake``).
* ``splice`` — the hole receives a region of **another** photo (a donor), rescaled by a random
  factor and, half of the time, re-encoded as JPEG at quality 70–95, so its noise and
  compression history differ from the host's, as in a real splice; a third of the time it is
  blended in the gradient domain (Poisson image editing: Pérez, Gangnet, Blake, ACM TOG 2003,
  via OpenCV's ``seamlessClone``) so colours match at the border.

Both draw every choice from the ``rng`` they are given, so a dataset sample can be rebuilt.
"""

from __future__ import annotations

import copy
import functools
import math
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import InpaintscopeError
from ..io.images import IMAGE_SUFFIXES, read_image
from .base import Inpainter, register_inpainter


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1


def _stamp(
    image: np.ndarray,
    piece: np.ndarray,
    hole: np.ndarray,
    *,
    rng: np.random.Generator,
    transform_prob: float,
    tries: int,
) -> tuple[np.ndarray, dict[str, Any]] | None:
    """Colours for the pixels of ``piece`` copied from one offset (optionally scaled/rotated) whose
    source pixels all lie in the photo and outside ``hole``; None when no such offset is found."""
    h, w = hole.shape
    y0, y1, x0, x1 = _bbox(piece)
    bh, bw = y1 - y0, x1 - x0
    extent = max(bh, bw)
    scale, angle = 1.0, 0.0
    if rng.random() < transform_prob:
        scale, angle = float(rng.uniform(0.85, 1.2)), float(rng.uniform(-12.0, 12.0))
    transformed = (scale, angle) != (1.0, 0.0)
    # a scaled or rotated source reaches up to ~extent/4 px beyond the plain shifted one
    grow = 9 + (2 * int(math.ceil(extent * 0.25)) if transformed else 0)
    guard = cv2.dilate(hole.astype(np.uint8), np.ones((grow, grow), np.uint8)).astype(bool)
    margin = (int(math.ceil(extent * 0.25)) if transformed else 0) + 1
    hy, hx = np.nonzero(piece)
    for attempt in range(tries):
        # nearby first (a retoucher samples next to the object), farther when that fails
        dist = float(rng.uniform(0.3, 1.5 + attempt / 4)) * max(extent, 24)
        theta = float(rng.uniform(0, 2 * math.pi))
        dy, dx = int(round(dist * math.sin(theta))), int(round(dist * math.cos(theta)))
        sy, sx = hy + dy, hx + dx
        if sy.min() < margin or sx.min() < margin or sy.max() >= h - margin or sx.max() >= w - margin:
            continue
        if not guard[sy, sx].any():
            break
    else:
        if transformed:  # a rotated or scaled source needs more room: try a plain copy
            return _stamp(image, piece, hole, rng=rng, transform_prob=0.0, tries=tries)
        return None
    params = {"offset": [dy, dx], "scale": round(scale, 4), "angle": round(angle, 3)}
    if not transformed:
        return image[sy, sx], params
    # hole pixel q ← source q + (dy, dx), rotated and scaled about the source box centre
    cy, cx = y0 + bh / 2 + dy, x0 + bw / 2 + dx
    rot = np.vstack([cv2.getRotationMatrix2D((cx, cy), angle, scale), [0, 0, 1]])
    shift = np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1]], float)
    m = (np.linalg.inv(rot) @ shift)[:2]
    warped = cv2.warpAffine(
        image, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT
    )
    return warped[piece], params


def clone_fill(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    rng: np.random.Generator,
    transform_prob: float = 0.4,
    tries: int = 48,
    max_depth: int = 4,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Fill ``mask`` with content copied from elsewhere in ``image``; returns (result, parameters).

    Each connected part of the hole gets one stamp (one offset). A part too large or too spread
    out for any single offset (a long brush stroke) is split into the four quarters of its box,
    recursively, as a retoucher re-picks the source while painting; sources always lie outside
    the whole hole, so every copied pixel is an original one.
    """
    out = image.copy()
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    queue = [(labels == i, 0) for i in range(1, n)]
    stamps = []
    while queue:
        piece, depth = queue.pop(0)
        if not piece.any():
            continue
        found = _stamp(image, piece, mask, rng=rng, transform_prob=transform_prob, tries=tries)
        if found is not None:
            out[piece] = found[0]
            stamps.append(found[1])
            continue
        if depth >= max_depth:
            h, w = mask.shape
            raise InpaintscopeError(
                f"clone: found no source that avoids the hole in a {w}×{h} image; use a smaller hole"
            )
        y0, y1, x0, x1 = _bbox(piece)
        ym, xm = (y0 + y1) // 2, (x0 + x1) // 2
        for ys, xs in (
            (slice(0, ym), slice(0, xm)),
            (slice(0, ym), slice(xm, None)),
            (slice(ym, None), slice(0, xm)),
            (slice(ym, None), slice(xm, None)),
        ):
            quarter = np.zeros_like(piece)
            quarter[ys, xs] = piece[ys, xs]
            queue.append((quarter, depth + 1))
    return out, {"stamps": stamps}


@register_inpainter("clone")
class CloneStampInpainter(Inpainter):
    """Clone stamp / copy-move: the hole is covered with a region of the same photo.

    Options: ``transform_prob`` (probability of a random scale and rotation, default 0.4).
    """

    def __init__(self, *, transform_prob: float = 0.4) -> None:
        if not 0 <= float(transform_prob) <= 1:
            raise InpaintscopeError(f"clone transform_prob must be in [0, 1], got {transform_prob!r}")
        super().__init__(transform_prob=float(transform_prob))

    def _fill(self, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return clone_fill(image, mask, rng=rng, **self.options)[0]


@functools.lru_cache(maxsize=16)
def _donor(path: str) -> np.ndarray:
    return read_image(path)


def _list_donors(donors: Any) -> tuple[str, ...]:
    items = [donors] if isinstance(donors, (str, os.PathLike)) else list(donors or [])
    files: list[str] = []
    for item in items:
        p = Path(item).expanduser()
        if p.is_dir():
            files += [
                str(f)
                for f in sorted(p.rglob("*"))
                if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".")
            ]
        elif p.is_file():
            files.append(str(p))
        else:
            raise InpaintscopeError(f"splice donor {p} does not exist")
    if not files:
        raise InpaintscopeError("the splice inpainter needs donors=<folder or list of photos> to cut regions from")
    return tuple(files)


def splice_fill(
    image: np.ndarray, mask: np.ndarray, donor: np.ndarray, *, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, Any]]:
    """Fill ``mask`` with a region of ``donor`` (another photo); returns (result, parameters)."""
    h, w = mask.shape
    y0, y1, x0, x1 = _bbox(mask)
    bh, bw = y1 - y0, x1 - x0
    factor = float(rng.uniform(0.6, 1.4))
    need = max(bh / donor.shape[0], bw / donor.shape[1]) * 1.05
    factor = max(factor, need)
    size = (max(bw + 1, round(donor.shape[1] * factor)), max(bh + 1, round(donor.shape[0] * factor)))
    src = cv2.resize(donor, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC)
    params: dict[str, Any] = {"donor_scale": round(factor, 4), "jpeg": None, "poisson": False}
    if rng.random() < 0.5:
        q = int(rng.integers(70, 96))
        ok, buf = cv2.imencode(".jpg", src[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
        src = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
        params["jpeg"] = q
    sy = int(rng.integers(0, src.shape[0] - bh + 1))
    sx = int(rng.integers(0, src.shape[1] - bw + 1))
    patch = np.ascontiguousarray(src[sy : sy + bh, sx : sx + bw])
    out = image.copy()
    local = mask[y0:y1, x0:x1]
    if rng.random() < 1 / 3 and bh > 4 and bw > 4 and local.sum() > 16:
        # OpenCV erodes the blending mask by 3 px and keeps the destination's gradients outside it:
        # with the hole itself as mask, the step from the surroundings to the content being replaced
        # survives inside the hole. Growing the mask by 4 px puts that border on known pixels (only
        # the hole is copied back); the padding keeps the grown mask away from the patch border.
        m8 = cv2.dilate(np.pad(local.astype(np.uint8) * 255, 6), np.ones((9, 9), np.uint8))
        src_pad = np.pad(patch, ((6, 6), (6, 6), (0, 0)), mode="edge")
        centre = (x0 + bw // 2, y0 + bh // 2)
        try:
            blended = cv2.seamlessClone(
                np.ascontiguousarray(src_pad[..., ::-1]),
                np.ascontiguousarray(image[..., ::-1]),
                m8,
                centre,
                cv2.NORMAL_CLONE,
            )[..., ::-1]
            out[mask] = blended[mask]
            params["poisson"] = True
            return out, params
        except cv2.error:
            pass  # falls back to a plain paste
    region = out[y0:y1, x0:x1]
    region[local] = patch[local]
    return out, params


@register_inpainter("splice")
class SpliceInpainter(Inpainter):
    """Splice: the hole is covered with a region of another photo (``donors``: a folder or files).

    The dataset builder gives each split its own photos as donors, so no photo crosses splits.
    """

    def __init__(self, *, donors: Any = None) -> None:
        files = _list_donors(donors)
        super().__init__(donors=f"{len(files)} photos")
        self.donors = files

    def excluding(self, path: str) -> SpliceInpainter:
        """A copy that never picks ``path`` (the photo being edited) as its donor."""
        other = copy.copy(self)
        other.donors = tuple(d for d in self.donors if d != path) or self.donors
        return other

    def _fill(self, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        donor = _donor(self.donors[int(rng.integers(len(self.donors)))])
        return splice_fill(image, mask, donor, rng=rng)[0]
