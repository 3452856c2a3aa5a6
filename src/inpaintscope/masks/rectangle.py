"""Random rectangles: the Dataset-1 mask generator of the Bochum report.

The distribution of the Bochum report's generator (its ``inpainting.py``, itself based on a
course-provided gist; docs/references.md, §4.1 "Rectangles"). For an image of width ``w`` (and likewise height ``h``)::

    minsize = 8·w/64                       (64 at 512; never below 8)
    cx = round(U·(w − minsize) + minsize/2)
    cw = round(U·(w/2 − minsize)) + minsize
    x0 = max(0, round(cx − cw/2));  x1 = min(w, x0 + cw)

and the rectangle is filled *inclusive of both end pixels*, so it spans ``cw + 1`` columns
unless it is clipped by the image border. The four uniforms are drawn in the fixed order
cx, cy, cw, ch, so a given ``rng`` state always gives the same rectangle.

The Bochum report: P. Adler, H. Günther, D. Gann, H. Ehringfeld, "Inpainting Detection", student
project report (MPDL project, group 2), Ruhr-Universität Bochum, 2023.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InpaintscopeError
from .base import register_mask, resolve_area

#: How many rectangles to draw before giving up on an ``area`` range the distribution rarely hits.
MAX_AREA_TRIES = 1000


def _min_size(side: int) -> float:
    # 8·S/64 keeps the Bochum report's 64 px at 512 and scales with the image; the floor of 8 keeps a
    # tiny image from getting sub-pixel rectangles.
    return max(8.0, 8.0 * side / 64.0)


def _axis(side: int, u_centre: float, u_size: float) -> tuple[int, int, int]:
    """Return (start, end, size) along one axis; ``end`` is inclusive but may equal ``side``."""
    minsize = _min_size(side)
    centre = round(u_centre * (side - minsize) + minsize / 2)
    # The spec's round(U·(side/2 − minsize)) + minsize, rounded as a whole so a non-integer
    # minsize (sides not a multiple of 8) still gives whole pixels; identical otherwise.
    size = round(u_size * max(0.0, side / 2 - minsize) + minsize)
    start = max(0, round(centre - size / 2))
    end = min(side, start + size)
    return start, end, size


def _draw(shape: tuple[int, int], rng: Any) -> tuple[np.ndarray, dict[str, Any]]:
    h, w = shape
    # Fixed draw order (cx, cy, cw, ch): the manifest promises a seed rebuilds the same mask.
    u_cx, u_cy, u_cw, u_ch = (float(rng.random()) for _ in range(4))
    x0, x1, cw = _axis(w, u_cx, u_cw)
    y0, y1, ch = _axis(h, u_cy, u_ch)
    hole = np.zeros((h, w), dtype=bool)
    # Inclusive of both end pixels (as PIL's ImageDraw.rectangle draws it); slicing clips x1 == w.
    hole[y0 : y1 + 1, x0 : x1 + 1] = True
    params = {"x0": x0, "y0": y0, "x1": x1, "y1": y1, "width": cw, "height": ch}
    return hole, params


def _area_bounds(h: int, w: int) -> tuple[float, float]:
    """Bounds (slightly widened for rounding) on the hole fraction this distribution can draw.

    Per axis the drawn span is at least ~minsize (a rectangle clipped by the far border keeps
    minsize/2 + size/2 ≥ minsize pixels) and at most size + 1 ≤ side/2 + 1 pixels.
    """

    def lo_span(side: int) -> int:
        return max(1, int(_min_size(side)) - 1)

    def hi_span(side: int) -> int:
        return min(side, side // 2 + 2)

    return lo_span(h) * lo_span(w) / (h * w), hi_span(h) * hi_span(w) / (h * w)


@register_mask("rectangle")
def rectangle(
    shape: tuple[int, int],
    *,
    rng: np.random.Generator,
    area: tuple[float, float] | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """One random axis-aligned rectangle, distributed as in the Bochum report's generator (module doc).

    Without ``area`` this is exactly the Bochum report's distribution (no area control). With ``area``
    the rectangle is redrawn from the same ``rng`` until its drawn area fraction lies in
    ``[lo, hi]``; a range the distribution cannot reach raises :class:`InpaintscopeError`.
    ``params`` records ``x0, y0, x1, y1`` (inclusive ends, before clipping to the image) and the
    drawn ``width``/``height``.
    """
    h, w = int(shape[0]), int(shape[1])
    if h < 1 or w < 1:
        raise InpaintscopeError(f"mask shape must be positive (H, W), got {shape}")
    rng_area = resolve_area(area, None)
    if rng_area is None:
        return _draw((h, w), rng)
    lo, hi = rng_area
    smallest, largest = _area_bounds(h, w)
    if lo > largest or hi < smallest:
        raise InpaintscopeError(
            f"rectangle masks on a {h}×{w} image cover {smallest:.3f}–{largest:.3f} of it, which "
            f"misses the requested area {lo}–{hi}; use 'shapes' or 'strokes' for other areas"
        )
    for attempt in range(MAX_AREA_TRIES):
        hole, params = _draw((h, w), rng)
        if lo <= hole.mean() <= hi:
            if attempt:
                params["area_tries"] = attempt + 1
            return hole, params
    raise InpaintscopeError(
        f"no rectangle with area {lo}–{hi} in {MAX_AREA_TRIES} draws on a {h}×{w} image; "
        "widen the area range or use 'shapes' for area-controlled masks"
    )
