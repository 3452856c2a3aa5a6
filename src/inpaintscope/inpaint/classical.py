"""Classical diffusion-type inpainters: Telea, Navier–Stokes (OpenCV) and biharmonic (scikit-image).

* ``telea``: fast marching method of A. Telea, "An image inpainting technique based on the fast
  marching method", J. Graphics Tools 9(1), 2004 (``cv2.INPAINT_TELEA``).
* ``ns``: Bertalmío, Bertozzi & Sapiro, "Navier–Stokes, fluid dynamics, and image and video
  inpainting", CVPR 2001 (``cv2.INPAINT_NS``).
* ``biharmonic``: smooth fill solving the biharmonic equation Δ²u = 0 in the hole with the known
  pixels as boundary condition (Damelin & Hoang, "On surface completion and image inpainting by
  biharmonic functions", Int. J. Math. Math. Sci. 2018; ``skimage.restoration.inpaint_biharmonic``).

All three work channel by channel, so RGB vs BGR order does not matter for OpenCV here.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from ..errors import InpaintscopeError
from .base import Inpainter, register_inpainter


def _check_radius(radius: Any) -> float:
    try:
        r = float(radius)
    except (TypeError, ValueError):
        raise InpaintscopeError(f"inpainter option radius must be a number, got {radius!r}") from None
    if not (0 < r <= 100):
        raise InpaintscopeError(f"inpainter option radius must be in (0, 100] pixels, got {r}")
    return r


def _cv2_inpaint(image: np.ndarray, mask: np.ndarray, radius: float, flags: int) -> np.ndarray:
    # OpenCV wants C-contiguous uint8 input and an 8-bit single-channel mask (non-zero = hole).
    src = np.ascontiguousarray(image, dtype=np.uint8)
    m = np.ascontiguousarray(mask, dtype=np.uint8)
    out = cv2.inpaint(src, m, float(radius), flags)
    return np.ascontiguousarray(out, dtype=np.uint8)


def telea_fill(image: np.ndarray, mask: np.ndarray, *, radius: float = 5.0) -> np.ndarray:
    """Telea fast-marching fill of ``mask`` (bool H×W) in an RGB uint8 image (whole image returned)."""
    return _cv2_inpaint(image, mask, radius, cv2.INPAINT_TELEA)


class _OpenCVInpainter(Inpainter):
    _flag: int = cv2.INPAINT_TELEA

    def __init__(self, *, radius: float = 5.0) -> None:
        super().__init__(radius=_check_radius(radius))

    def _fill(self, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        require_known(mask)
        return _cv2_inpaint(image, mask, self.options["radius"], self._flag)


@register_inpainter("telea")
class TeleaInpainter(_OpenCVInpainter):
    """Telea (2004) fast marching inpainting; ``radius`` is the neighbourhood used per pixel."""

    _flag = cv2.INPAINT_TELEA


@register_inpainter("ns")
class NavierStokesInpainter(_OpenCVInpainter):
    """Navier–Stokes inpainting (Bertalmío et al., CVPR 2001); ``radius`` as for Telea."""

    _flag = cv2.INPAINT_NS


@register_inpainter("biharmonic")
class BiharmonicInpainter(Inpainter):
    """Biharmonic fill (Damelin & Hoang 2018) via ``skimage.restoration.inpaint_biharmonic``.

    Why the guards: scikit-image builds and solves one sparse linear system whose size is the
    number of hole pixels, and its cost grows super-linearly with that number (a 512² image with a
    30 % hole means ~80 000 unknowns and minutes of CPU). The biharmonic stencil only reaches two
    pixels, so

    1. we solve only on the hole's bounding box plus ``margin`` known pixels (the solution is
       identical as long as the margin covers the stencil), and
    2. when the hole has more than ``max_hole_pixels`` pixels we solve on a copy of that box
       downscaled so the hole has about ``max_hole_pixels`` pixels, then upsample the fill
       bilinearly. A biharmonic fill is smooth, so little is lost; the scale used by the last call
       is recorded in :attr:`last_scale` (1.0 = full resolution).
    """

    def __init__(self, *, max_hole_pixels: int = 20_000, margin: int = 8) -> None:
        if int(max_hole_pixels) < 16:
            raise InpaintscopeError(f"biharmonic max_hole_pixels must be >= 16, got {max_hole_pixels}")
        if int(margin) < 2:
            raise InpaintscopeError(f"biharmonic margin must be >= 2 (the stencil's reach), got {margin}")
        super().__init__(max_hole_pixels=int(max_hole_pixels), margin=int(margin))
        self.last_scale: float = 1.0

    def _fill(self, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        from skimage.restoration import inpaint_biharmonic

        require_known(mask)
        limit = self.options["max_hole_pixels"]
        n_hole = int(mask.sum())
        scale = 1.0 if n_hole <= limit else math.sqrt(limit / n_hole)
        self.last_scale = scale
        # The margin is counted at the solving scale so the downscaled box still has a ring of
        # known pixels for the boundary condition.
        y0, y1, x0, x1 = hole_bbox(mask, margin=math.ceil(self.options["margin"] / scale) + 1)
        crop = image[y0:y1, x0:x1].astype(np.float64) / 255.0
        hole = mask[y0:y1, x0:x1]
        if scale < 1.0:
            h, w = hole.shape
            sh, sw = max(3, round(h * scale)), max(3, round(w * scale))
            small = cv2.resize(crop, (sw, sh), interpolation=cv2.INTER_AREA)
            # Any small pixel that overlaps the hole is unknown, so no hole colour leaks into the
            # boundary condition.
            coverage = cv2.resize(hole.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA)
            small_hole = coverage > 0
            if small_hole.all():
                # Context too thin to survive the downscale (slivers between huge holes): keep
                # partly-known pixels as boundary rather than solving ~all pixels at full size.
                small_hole = coverage > 0.999
                if small_hole.all():
                    small_hole[...] = True
                    small_hole[np.unravel_index(np.argmin(coverage), coverage.shape)] = False
            filled = inpaint_biharmonic(small, small_hole, channel_axis=-1)
            if filled.shape[:2] != (h, w):
                filled = cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR)
        else:
            filled = inpaint_biharmonic(crop, hole, channel_axis=-1)
        out = image.copy()
        patch = np.clip(np.round(filled * 255.0), 0, 255).astype(np.uint8)
        region = out[y0:y1, x0:x1]
        region[hole] = patch[hole]
        return out


def require_known(mask: np.ndarray) -> None:
    """Every inpainter fills from known pixels; a mask covering the whole image leaves none."""
    if mask.all():
        raise InpaintscopeError(
            f"the mask covers the whole {mask.shape[0]}×{mask.shape[1]} image, so there are "
            "no known pixels to inpaint from; use a mask that leaves part of the image"
        )


def hole_bbox(mask: np.ndarray, *, margin: int) -> tuple[int, int, int, int]:
    """``(y0, y1, x0, x1)`` of the hole's bounding box grown by ``margin``, clipped to the image."""
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    return (
        max(0, int(ys[0]) - margin),
        min(h, int(ys[-1]) + 1 + margin),
        max(0, int(xs[0]) - margin),
        min(w, int(xs[-1]) + 1 + margin),
    )
