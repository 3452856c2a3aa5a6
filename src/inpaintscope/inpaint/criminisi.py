"""Exemplar-based inpainting by priority-ordered patch copying (Criminisi et al.).

Criminisi, Pérez, Toyama, "Region Filling and Object Removal by Exemplar-Based Image
Inpainting", IEEE TIP 13(9), 2004. The hole is filled one patch at a time from its border
inwards. The next patch is the border pixel of highest priority ``P = C·D``: ``C`` is the share
of already-trusted pixels in its patch (confidence), ``D`` the strength of the isophote (the
image gradient turned 90°) flowing into the hole across the border, so linear structures are
continued first. Its unknown pixels are copied **exactly** from the known patch with the
smallest sum of squared differences over the known part; the copied pixels inherit the
patch's confidence.

The result is made of pixel-exact chunks of the photo — the trace a copy cue looks for — with
no blending between chunks. For speed: source patches are searched in a window around the
target patch (``search`` px, default 4 × the hole's extent, at least 48), squared differences
come from OpenCV's masked template matching, and priorities are updated only around the patch
just filled.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import InpaintscopeError
from .base import Inpainter, register_inpainter
from .classical import hole_bbox, require_known


def criminisi_fill(
    image: np.ndarray, mask: np.ndarray, *, patch_size: int = 9, search: int | None = None, alpha: float = 255.0
) -> np.ndarray:
    require_known(mask)
    p, r = int(patch_size), int(patch_size) // 2
    ys, xs = np.nonzero(mask)
    extent = max(int(ys.max() - ys.min()), int(xs.max() - xs.min())) + 1
    radius = int(search) if search is not None else max(48, 4 * extent)
    y0, y1, x0, x1 = hole_bbox(mask, margin=radius + p)
    # Work in a padded crop so every target patch lies inside the arrays.
    img = np.pad(image[y0:y1, x0:x1].astype(np.float32), ((r, r), (r, r), (0, 0)), mode="reflect")
    hole = np.pad(mask[y0:y1, x0:x1], r)
    inside = np.pad(np.ones((y1 - y0, x1 - x0), bool), r)  # padding is never a source
    known = ~hole
    img[hole] = 0.0
    conf = known.astype(np.float32)
    source_ok = cv2.erode(
        (known & inside).astype(np.uint8), np.ones((p, p), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0
    ).astype(bool)
    if not source_ok.any():
        raise InpaintscopeError("criminisi: no fully known patch to copy from; the hole covers almost everything")
    h, w = hole.shape
    priority = np.full((h, w), -1.0, np.float32)
    _update_priority(priority, img, known, conf, alpha, (r, h - r, r, w - r), p)
    remaining = int(hole.sum())
    while remaining:
        cy, cx = np.unravel_index(int(np.argmax(priority)), priority.shape)
        if priority[cy, cx] < 0:  # no front pixel left (should not happen while pixels remain)
            break
        tgt = (slice(cy - r, cy + r + 1), slice(cx - r, cx + r + 1))
        need = ~known[tgt]
        sy, sx = _best_source(img, known, source_ok, cy, cx, r, radius)
        src = (slice(sy - r, sy + r + 1), slice(sx - r, sx + r + 1))
        img[tgt][need] = img[src][need]
        conf[tgt][need] = conf[tgt].sum() / (p * p)
        known[tgt] |= need
        remaining -= int(need.sum())
        _update_priority(
            priority,
            img,
            known,
            conf,
            alpha,
            (max(r, cy - 2 * p), min(h - r, cy + 2 * p + 1), max(r, cx - 2 * p), min(w - r, cx + 2 * p + 1)),
            p,
        )
    out = image.copy()
    region = out[y0:y1, x0:x1]
    filled = np.clip(np.round(img[r : h - r, r : w - r]), 0, 255).astype(np.uint8)
    region[mask[y0:y1, x0:x1]] = filled[mask[y0:y1, x0:x1]]
    return out


def _update_priority(
    priority: np.ndarray,
    img: np.ndarray,
    known: np.ndarray,
    conf: np.ndarray,
    alpha: float,
    box: tuple[int, int, int, int],
    p: int,
) -> None:
    """Recompute ``C·D`` on the fill front inside ``box`` (−1 elsewhere in the box)."""
    ry0, ry1, rx0, rx1 = box
    pad = p  # context so filters near the box edge see real neighbours
    by0, bx0 = max(0, ry0 - pad), max(0, rx0 - pad)
    by1, bx1 = min(known.shape[0], ry1 + pad), min(known.shape[1], rx1 + pad)
    k = known[by0:by1, bx0:bx1]
    ku8 = k.astype(np.uint8)
    front = (~k) & (cv2.dilate(ku8, np.ones((3, 3), np.uint8)) > 0)
    c = cv2.boxFilter(conf[by0:by1, bx0:bx1], -1, (p, p), normalize=True, borderType=cv2.BORDER_CONSTANT)
    gray = img[by0:by1, bx0:bx1].mean(axis=2)
    # gradients of the known image only: unknown pixels get the mean of their known neighbours
    num = cv2.blur(gray * k, (5, 5))
    den = cv2.blur(k.astype(np.float32), (5, 5))
    filled = np.where(k, gray, num / np.maximum(den, 1e-3))
    gx, gy = cv2.Sobel(filled, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(filled, cv2.CV_32F, 0, 1, ksize=3)
    kf = ku8.astype(np.float32)
    nx, ny = cv2.Sobel(kf, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(kf, cv2.CV_32F, 0, 1, ksize=3)
    norm = np.sqrt(nx * nx + ny * ny) + 1e-6
    data = np.abs(-gy * nx / norm + gx * ny / norm) / (4 * alpha) + 1e-3  # isophote ⟂ gradient, · normal
    pr = np.where(front, c * data, -1.0).astype(np.float32)
    priority[ry0:ry1, rx0:rx1] = pr[ry0 - by0 : ry1 - by0, rx0 - bx0 : rx1 - bx0]


def _best_source(
    img: np.ndarray, known: np.ndarray, source_ok: np.ndarray, cy: int, cx: int, r: int, radius: int
) -> tuple[int, int]:
    """Centre of the fully known patch within ``radius`` with the least SSD on the target's known pixels."""
    h, w = known.shape
    wy0, wy1 = max(r, cy - radius), min(h - r, cy + radius + 1)
    wx0, wx1 = max(r, cx - radius), min(w - r, cx + radius + 1)
    window = img[wy0 - r : wy1 + r, wx0 - r : wx1 + r]
    template = img[cy - r : cy + r + 1, cx - r : cx + r + 1]
    weight = np.repeat(known[cy - r : cy + r + 1, cx - r : cx + r + 1, None], 3, axis=2).astype(np.float32)
    ssd = cv2.matchTemplate(window, template, cv2.TM_SQDIFF, mask=weight)
    ok = source_ok[wy0:wy1, wx0:wx1]
    ssd = np.where(ok & np.isfinite(ssd), ssd, np.inf)
    if not np.isfinite(ssd).any():  # nothing usable nearby: search every source
        ys, xs = np.nonzero(source_ok)
        i = int(np.argmin((ys - cy) ** 2 + (xs - cx) ** 2))
        return int(ys[i]), int(xs[i])
    iy, ix = np.unravel_index(int(np.argmin(ssd)), ssd.shape)
    return wy0 + int(iy), wx0 + int(ix)


@register_inpainter("criminisi")
class CriminisiInpainter(Inpainter):
    """Exemplar-based inpainting (Criminisi et al. 2004): priority-ordered exact patch copies.

    Options: ``patch_size`` (odd, default 9), ``search`` (source window radius in px; default
    4 × the hole's extent, at least 48). Deterministic (the ``rng`` is unused).
    """

    def __init__(self, *, patch_size: int = 9, search: int | None = None) -> None:
        if int(patch_size) != patch_size or patch_size < 3 or patch_size % 2 == 0 or patch_size > 31:
            raise InpaintscopeError(f"criminisi patch_size must be an odd integer in 3..31, got {patch_size!r}")
        if search is not None and (int(search) != search or search < 8):
            raise InpaintscopeError(f"criminisi search must be an integer >= 8 px, got {search!r}")
        super().__init__(patch_size=int(patch_size), search=search)

    def _fill(self, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return criminisi_fill(image, mask, **self.options)
