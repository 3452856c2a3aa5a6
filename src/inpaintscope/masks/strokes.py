"""Free-form brush strokes, like the NVIDIA irregular holes and the QuickDraw (QD-IMD) masks.

The Bochum report's Dataset 2 (docs/references.md, §4.1) used QD-IMD sketches (Iskakov 2018)
dilated with a 15×15 maximum filter; the NVIDIA irregular-mask set (Liu et
al., ECCV 2018, partial convolutions) has the same look. Both are thick free-hand lines, so
this generator draws random walks of thick line segments with round joints.

Each stroke is a walk of a few segments whose heading turns by a normal angle per vertex and
bounces off the image border. Strokes are added segment by segment until the drawn area
reaches a target drawn uniformly from ``area``; a segment that would push the area past the
upper bound is dropped, so the result always lies in ``[lo, hi]``.

The Bochum report: P. Adler, H. Günther, D. Gann, H. Ehringfeld, "Inpainting Detection", student
project report (MPDL project, group 2), Ruhr-Universität Bochum, 2023.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from ..errors import InpaintscopeError
from .base import AreaBudget, register_mask, resolve_area

DEFAULT_AREA = (0.05, 0.30)
#: Narrowest default brush in pixels. The default soft edge (PIL blur radius 3) erodes a hole by
#: ~8 px on each side, so a brush needs 2·8 + a few px for its core (soft == 255) to survive;
#: 20 px leaves a 4 px core. This is absolute, not scaled, because the blur is absolute.
MIN_BRUSH = 20
_MAX_ATTEMPTS = 10  # whole-mask restarts when a draw ends below ``lo``
_MAX_REJECTIONS = 12  # segments dropped (would exceed ``hi``) before a draw gives up
_MAX_STROKES = 60


def default_brush(shape: tuple[int, int]) -> tuple[int, int]:
    """Default (min, max) brush width for an image: ~4–9 % of the short side, at least 20–24 px.

    At 512 px that is 20–46 px, the range of the NVIDIA irregular masks' strokes.
    """
    side = min(shape)
    lo = max(MIN_BRUSH, round(0.04 * side))
    hi = max(lo + 4, round(0.09 * side))
    return lo, hi


def _walk(
    canvas: np.ndarray, rng: np.random.Generator, *, width: int, max_count: int, target: int, side: int
) -> tuple[list[list[int]], int, bool]:
    """Draw one stroke into ``canvas`` in place.

    Returns (vertices, pixel count, overshot) where ``overshot`` says a segment was dropped
    because it would have exceeded ``max_count``.
    """
    h, w = canvas.shape
    x, y = float(rng.uniform(0, w - 1)), float(rng.uniform(0, h - 1))
    heading = float(rng.uniform(0, 2 * math.pi))
    n_segments = int(rng.integers(3, 9))
    vertices = [[round(x), round(y)]]
    count = int(np.count_nonzero(canvas))
    radius = width // 2
    for _ in range(n_segments):
        heading += float(rng.normal(0.0, 0.7))
        length = float(rng.uniform(0.06, 0.22)) * side + radius
        nx, ny = x + length * math.cos(heading), y + length * math.sin(heading)
        # Bounce off the border so the stroke stays on the image instead of wasting its length.
        if not 0 <= nx <= w - 1:
            nx = float(np.clip(2 * np.clip(nx, 0, w - 1) - nx, 0, w - 1))
            heading = math.pi - heading
        if not 0 <= ny <= h - 1:
            ny = float(np.clip(2 * np.clip(ny, 0, h - 1) - ny, 0, h - 1))
            heading = -heading
        p, q = (round(x), round(y)), (round(nx), round(ny))
        trial = canvas.copy()
        cv2.line(trial, p, q, 1, thickness=width, lineType=cv2.LINE_8)
        # Round joints and ends: without them a turning thick line leaves notches at vertices.
        cv2.circle(trial, p, radius, 1, thickness=-1)
        cv2.circle(trial, q, radius, 1, thickness=-1)
        new_count = int(np.count_nonzero(trial))
        if new_count > max_count:
            return vertices, count, True
        canvas[...] = trial
        count = new_count
        vertices.append([q[0], q[1]])
        x, y = nx, ny
        if count >= target:
            break
    return vertices, count, False


@register_mask("strokes")
def strokes(
    shape: tuple[int, int],
    *,
    rng: np.random.Generator,
    area: tuple[float, float] | None = None,
    width: tuple[int, int] | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Random thick brush strokes covering a fraction of the image drawn from ``area``.

    ``area`` defaults to (0.05, 0.30); the drawn hole fraction always lies inside it (exactly,
    no tolerance). ``width`` is the (min, max) brush width in pixels (default
    :func:`default_brush`: 4–9 % of the short side, never below 20 px so the blurred core
    survives). ``params`` records the target area and each stroke's width and vertices.
    """
    h, w = int(shape[0]), int(shape[1])
    lo, hi = resolve_area(area, DEFAULT_AREA)  # type: ignore[misc]
    w_lo, w_hi = default_brush((h, w)) if width is None else (int(width[0]), int(width[1]))
    if not 1 <= w_lo <= w_hi:
        raise InpaintscopeError(f"brush width must be a (min, max) pair with 1 <= min <= max, got {width}")
    budget = AreaBudget.for_shape((lo, hi), (h, w))
    n_lo, n_hi = budget.n_lo, budget.n_hi
    for attempt in range(_MAX_ATTEMPTS):
        target_fraction, target = budget.draw(rng)
        canvas = np.zeros((h, w), dtype=np.uint8)
        count, rejections = 0, 0
        drawn: list[dict[str, Any]] = []
        for _ in range(_MAX_STROKES):
            if count >= target or rejections >= _MAX_REJECTIONS:
                break
            brush = int(rng.integers(w_lo, w_hi + 1))
            vertices, count, overshot = _walk(canvas, rng, width=brush, max_count=n_hi, target=target, side=min(h, w))
            if len(vertices) > 1:
                drawn.append({"width": brush, "points": vertices})
            rejections += int(overshot)
        if count >= n_lo:
            params: dict[str, Any] = {"target_area": round(target_fraction, 6), "strokes": drawn}
            if attempt:
                params["area_tries"] = attempt + 1
            return canvas.astype(bool), params
    raise InpaintscopeError(
        f"could not draw strokes covering {lo}–{hi} of a {h}×{w} image with {w_lo}–{w_hi} px brushes "
        f"in {_MAX_ATTEMPTS} tries; widen the area range or pass a smaller width=(min, max)"
    )
