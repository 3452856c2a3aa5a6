"""Mask generation: the registry, the soft-edge step and the guarantees every generator gets.

A generator is a function ``fn(shape, *, rng, area, **options) -> (hole, params)``:

* ``shape`` is ``(H, W)``; ``rng`` a :class:`numpy.random.Generator` (the only randomness);
* ``area`` the target hole-area fraction range ``(lo, hi)`` of the *drawn* hole;
* ``hole`` is a bool H×W array (True = to be inpainted); ``params`` a JSON-serialisable dict
  recorded in the dataset manifest so the sample can be rebuilt and described.

:func:`make_mask` calls a generator, softens the hole's edges the way the Bochum report does
(docs/references.md, §4.1 "Soft edges"; PIL
Gaussian blur, radius 3: the 255 core is the hole eroded by ~8 px and the > 0 band extends
~8 px outside) and retries (from the same ``rng``, so still deterministic) until the soft mask
has a non-empty core and does not cover the whole image.

The Bochum report: P. Adler, H. Günther, D. Gann, H. Ehringfeld, "Inpainting Detection", student
project report (MPDL project, group 2), Ruhr-Universität Bochum, 2023.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from .._registry import Registry
from ..errors import InpaintscopeError

MaskFn = Callable[..., tuple[np.ndarray, dict[str, Any]]]
MASKS: Registry[MaskFn] = Registry("mask generator")


def register_mask(name: str) -> Callable[[MaskFn], MaskFn]:
    """Register a generator ``fn(shape, *, rng, area, **options) -> (hole, params)`` under ``name``."""
    return MASKS.register(name)


def create_mask(
    kind: str, shape: tuple[int, int], *, rng: np.random.Generator, **options: Any
) -> tuple[np.ndarray, dict[str, Any]]:
    """The registered generator's own draw: a bool hole and its params, neither softened nor
    retried. Datasets use :func:`make_mask`, which builds on this."""
    return MASKS.create(kind, shape, rng=rng, **options)


def list_masks() -> list[str]:
    return MASKS.names()


DEFAULT_BLUR_RADIUS = 3.0
MAX_TRIES = 50


@dataclass(frozen=True)
class MaskSample:
    """A generated mask: the drawn hole, its soft 0–255 version and the recorded parameters."""

    hole: np.ndarray  # bool H×W, as drawn
    soft: np.ndarray  # uint8 H×W, 255 = fully inpainted; the ground truth comes from this
    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def core(self) -> np.ndarray:
        return self.soft == 255

    @property
    def support(self) -> np.ndarray:
        """Every pixel an inpainter may change (soft > 0)."""
        return self.soft > 0


def resolve_area(area: tuple[float, float] | None, default: tuple[float, float] | None) -> tuple[float, float] | None:
    """Validate a generator's ``area`` option, or fall back to its ``default``.

    Generators call this themselves so they are safe to use directly, not only via :func:`make_mask`.
    """
    if area is None:
        return default
    try:
        lo, hi = float(area[0]), float(area[1])
    except (TypeError, ValueError, IndexError):
        raise InpaintscopeError(f"mask area must be a (lo, hi) pair of fractions, got {area!r}") from None
    if not 0.0 < lo <= hi < 1.0:
        raise InpaintscopeError(f"mask area range must satisfy 0 < lo <= hi < 1, got {area}")
    return lo, hi


def soften(hole: np.ndarray, radius: float = DEFAULT_BLUR_RADIUS) -> np.ndarray:
    """Blur a bool hole into a soft uint8 mask with PIL's Gaussian blur (as the Bochum report does).

    ``radius=0`` returns the hard mask as 0/255.
    """
    hard = hole.astype(np.uint8) * 255
    if radius <= 0:
        return hard
    return np.asarray(Image.fromarray(hard, mode="L").filter(ImageFilter.GaussianBlur(radius)))


def make_mask(
    kind: str,
    shape: tuple[int, int],
    *,
    rng: np.random.Generator,
    area: tuple[float, float] | None = None,
    blur_radius: float = DEFAULT_BLUR_RADIUS,
    **options: Any,
) -> MaskSample:
    """Draw a ``kind`` mask for an image of ``shape`` (H, W).

    The result always has a non-empty core (soft == 255) and never covers the whole image.
    """
    MASKS.get(kind)  # an unknown kind fails before the size check
    h, w = int(shape[0]), int(shape[1])
    if h < 16 or w < 16:
        raise InpaintscopeError(f"image of {h}×{w} px is too small for a mask (need at least 16×16)")
    kwargs = dict(options)
    if area is not None:
        lo, hi = float(area[0]), float(area[1])
        if not 0.0 < lo <= hi < 1.0:
            raise InpaintscopeError(f"mask area range must satisfy 0 < lo <= hi < 1, got {area}")
        kwargs["area"] = (lo, hi)
    for attempt in range(MAX_TRIES):
        hole, params = create_mask(kind, (h, w), rng=rng, **kwargs)
        if hole.shape != (h, w) or hole.dtype != bool:
            raise TypeError(f"mask generator {kind!r} returned {hole.dtype} {hole.shape}, expected bool {(h, w)}")
        soft = soften(hole, blur_radius)
        n_core = int((soft == 255).sum())
        if n_core == 0 or bool((soft > 0).all()):
            continue
        params = dict(params, area_fraction=round(float(hole.mean()), 6), blur_radius=blur_radius)
        if attempt:
            params["attempts"] = attempt + 1
        return MaskSample(hole=hole, soft=soft, kind=kind, params=params)
    raise InpaintscopeError(
        f"mask generator {kind!r} gave no usable mask for a {h}×{w} image in {MAX_TRIES} tries "
        "(empty core after blurring, or the whole image); widen the area range or use a larger image"
    )


@dataclass(frozen=True)
class AreaBudget:
    """A hole-area range turned into whole pixel counts for an H×W image (area-controlled kinds)."""

    lo: float
    hi: float
    n_pixels: int
    n_lo: int
    n_hi: int

    @classmethod
    def for_shape(cls, area: tuple[float, float], shape: tuple[int, int]) -> AreaBudget:
        h, w = int(shape[0]), int(shape[1])
        lo, hi = float(area[0]), float(area[1])
        n = h * w
        n_lo, n_hi = math.ceil(lo * n), math.floor(hi * n)
        if n_lo > n_hi:
            raise InpaintscopeError(f"area range {lo}–{hi} holds no whole pixel count on a {h}×{w} image; widen it")
        return cls(lo, hi, n, n_lo, n_hi)

    def draw(self, rng: np.random.Generator) -> tuple[float, int]:
        """A target fraction drawn uniformly from the range, and its pixel count inside the bounds."""
        fraction = float(rng.uniform(self.lo, self.hi))
        return fraction, min(self.n_hi, max(self.n_lo, math.ceil(fraction * self.n_pixels)))
