"""Geometric holes: ellipses, convex polygons and star-ish polygons, one or a few per mask.

These stand in for the blob-like object removals of the Bochum report's segmenter-derived masks
(docs/references.md, §4.1) when no labels are at hand, and give holes
whose outline is neither axis-aligned (rectangle) nor stroke-like (strokes).

A target area is drawn uniformly from ``area``; the first shapes split it (each is sized from
the area still missing), later ones top it up when overlap or the border ate some of it. A
shape that would push the area past the upper bound is redrawn smaller, so the result always
lies in ``[lo, hi]``.

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
SHAPE_KINDS = ("ellipse", "polygon", "star")
#: Smallest semi-axis / inradius-ish size in px: the default blur (radius 3) erodes ~8 px, and a
#: disk needs a radius of ~10 px to keep a fully opaque core (measured).
MIN_RADIUS = 10
_MAX_ATTEMPTS = 10
_MAX_SHAPES = 40


def _unit_polygon(kind: str, rng: np.random.Generator) -> np.ndarray:
    """A polygon around the origin (float K×2) of roughly unit radius."""
    if kind == "polygon":
        while True:
            k = int(rng.integers(5, 11))
            r = np.sqrt(rng.random(k))  # uniform in the disk, not clustered at the centre
            t = rng.random(k) * 2 * math.pi
            pts = np.stack([r * np.cos(t), r * np.sin(t)], axis=1).astype(np.float32)
            hull = cv2.convexHull(pts).reshape(-1, 2)
            # A sliver hull would be all blur band and no core; redraw (rare for k >= 5).
            if len(hull) >= 3 and cv2.contourArea(hull) > 0.6:
                return hull.astype(np.float64)
    # star: alternating outer/inner radii with jittered angles and radii, so no two look alike
    n = int(rng.integers(5, 10))
    inner = float(rng.uniform(0.4, 0.7))
    angles = (np.arange(2 * n) + rng.uniform(-0.25, 0.25, 2 * n)) * (math.pi / n) + rng.uniform(0, 2 * math.pi)
    radii = np.where(np.arange(2 * n) % 2 == 0, 1.0, inner) * rng.uniform(0.85, 1.15, 2 * n)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def _draw_shape(canvas: np.ndarray, kind: str, pixels: float, rng: np.random.Generator) -> dict[str, Any]:
    """Draw one ``kind`` shape of about ``pixels`` area into ``canvas``; return its params."""
    h, w = canvas.shape
    # Centres keep a margin so most of the shape lands on the image; clipping is topped up later.
    cx = float(rng.uniform(0.15, 0.85)) * (w - 1)
    cy = float(rng.uniform(0.15, 0.85)) * (h - 1)
    if kind == "ellipse":
        aspect = float(rng.uniform(0.35, 1.0))
        a = math.sqrt(pixels / (math.pi * aspect))
        b = max(float(MIN_RADIUS), aspect * a)
        a = max(a, b)
        angle = float(rng.uniform(0, 180))
        centre, axes = (round(cx), round(cy)), (round(a), round(b))
        cv2.ellipse(canvas, centre, axes, angle, 0, 360, 1, thickness=-1)
        return {"kind": kind, "centre": list(centre), "axes": list(axes), "angle": round(angle, 3)}
    unit = _unit_polygon(kind, rng)
    unit_area = float(cv2.contourArea(unit.astype(np.float32)))
    scale = max(math.sqrt(pixels / unit_area), MIN_RADIUS / 0.5)
    pts = np.round(unit * scale + [cx, cy]).astype(np.int32)
    cv2.fillPoly(canvas, [pts], 1)
    return {"kind": kind, "centre": [round(cx), round(cy)], "points": pts.tolist()}


@register_mask("shapes")
def shapes(
    shape: tuple[int, int],
    *,
    rng: np.random.Generator,
    area: tuple[float, float] | None = None,
    kinds: tuple[str, ...] = SHAPE_KINDS,
    max_shapes: int = 3,
) -> tuple[np.ndarray, dict[str, Any]]:
    """One to ``max_shapes`` filled shapes (of ``kinds``: ellipse, polygon, star) covering a
    fraction of the image drawn from ``area`` (default (0.05, 0.30); always honoured exactly).

    ``params`` records the target area and every shape (kind, centre, and axes/angle for
    ellipses or the integer vertices for polygons).
    """
    h, w = int(shape[0]), int(shape[1])
    lo, hi = resolve_area(area, DEFAULT_AREA)  # type: ignore[misc]
    kinds = tuple(kinds)
    unknown = [k for k in kinds if k not in SHAPE_KINDS]
    if not kinds or unknown:
        raise InpaintscopeError(f"shape kinds must be a non-empty subset of {SHAPE_KINDS}, got {kinds}")
    if max_shapes < 1:
        raise InpaintscopeError(f"max_shapes must be at least 1, got {max_shapes}")
    budget = AreaBudget.for_shape((lo, hi), (h, w))
    n_lo, n_hi = budget.n_lo, budget.n_hi
    for attempt in range(_MAX_ATTEMPTS):
        target_fraction, target = budget.draw(rng)
        n_planned = int(rng.integers(1, max_shapes + 1))
        canvas = np.zeros((h, w), dtype=np.uint8)
        count, shrink = 0, 1.0
        drawn: list[dict[str, Any]] = []
        for _ in range(_MAX_SHAPES):
            if count >= target or shrink < 0.01:
                break
            # Split what is still missing over the shapes still planned (at least one more).
            share = (target - count) / max(1, n_planned - len(drawn))
            pixels = share * float(rng.uniform(0.85, 1.2)) * shrink
            kind = kinds[int(rng.integers(len(kinds)))]
            trial = canvas.copy()
            item = _draw_shape(trial, kind, pixels, rng)
            new_count = int(np.count_nonzero(trial))
            if new_count > n_hi:
                shrink *= 0.5  # too big for the room left under ``hi``: try a smaller one
                continue
            if new_count == count:
                continue  # fell entirely on existing hole; contributes nothing to record
            canvas, count = trial, new_count
            drawn.append(item)
        if count >= n_lo:
            params: dict[str, Any] = {"target_area": round(target_fraction, 6), "shapes": drawn}
            if attempt:
                params["area_tries"] = attempt + 1
            return canvas.astype(bool), params
    raise InpaintscopeError(
        f"could not fit shapes covering {lo}–{hi} of a {h}×{w} image in {_MAX_ATTEMPTS} tries "
        f"(shapes are at least {2 * MIN_RADIUS} px across so their core survives the blur); "
        "widen the area range or use a larger image"
    )
