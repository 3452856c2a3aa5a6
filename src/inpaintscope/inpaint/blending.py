"""Gradient-domain (Poisson) blending of a generated fill into the photo around it.

A network's fill is often right in its texture and wrong by a slowly varying colour offset
(a cast, a brightness step at the hole's edge): the L1 loss of a short training run corrects
the high frequencies before the low ones. Blending in the gradient domain (Pérez, Gangnet &
Blake, "Poisson Image Editing", SIGGRAPH 2003) keeps the fill's gradients (its texture) and
replaces its low frequencies with those the known pixels impose. Iizuka, Simo-Serra & Ishikawa
("Globally and Locally Consistent Image Completion", SIGGRAPH 2017) post-process their network's
fills the same way.

With the fill ``f`` and the photo ``g`` known outside the hole, the blended fill is ``f + c``
where the correction ``c`` is harmonic inside the hole (Δc = 0) and equals ``g − f`` on the
known pixels next to it. That is the Poisson equation Δu = Δf with boundary ``g``, solved for
``u = f + c``. ``c`` is smooth, so it is solved on a grid of about ``max_unknowns`` hole
pixels and upsampled: the cost is bounded whatever the hole's size.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..contract import check_image, check_mask
from ..errors import ShapeError
from .classical import hole_bbox

_NEIGHBOURS = ((1, 0), (-1, 0), (0, 1), (0, -1))


def harmonic_fill(values: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """``values`` (H×W×C float) with the ``hole`` pixels replaced by the harmonic interpolation of the rest.

    Solves the discrete Laplace equation (4-neighbour stencil) with the known pixels as Dirichlet
    boundary; a hole pixel on the image border has fewer neighbours (a zero-flux border).
    """
    # scipy only when a fill is blended: importing the inpainters stays light
    import scipy.sparse as sparse
    import scipy.sparse.linalg as sparse_linalg

    if values.ndim != 3 or hole.shape != values.shape[:2]:
        raise ShapeError(f"values must be H×W×C and hole H×W, got {values.shape} and {hole.shape}")
    out = values.astype(np.float64, copy=True)
    ys, xs = np.nonzero(hole)
    n = len(ys)
    if n == 0:
        return out
    if n == hole.size:
        raise ShapeError("the hole covers every pixel, so nothing bounds the harmonic fill")
    h, w = hole.shape
    index = np.full((h, w), -1, dtype=np.int64)
    index[ys, xs] = np.arange(n)
    degree = np.zeros(n)
    rows, cols = [], []
    rhs = np.zeros((n, values.shape[2]))
    for dy, dx in _NEIGHBOURS:
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        src, ny, nx = np.flatnonzero(inside), ny[inside], nx[inside]
        degree[src] += 1
        neighbour = index[ny, nx]
        unknown = neighbour >= 0
        rows.append(src[unknown])
        cols.append(neighbour[unknown])
        np.add.at(rhs, src[~unknown], out[ny[~unknown], nx[~unknown]])
    r, c = np.concatenate(rows), np.concatenate(cols)
    diagonal = np.arange(n)
    entries = np.concatenate([degree, -np.ones(len(r))])
    matrix = sparse.csc_matrix((entries, (np.concatenate([diagonal, r]), np.concatenate([diagonal, c]))), shape=(n, n))
    # Every 4-connected hole component that is not the whole frame borders a known pixel, so
    # the matrix is non-singular.
    solve = sparse_linalg.factorized(matrix)
    for channel in range(values.shape[2]):
        out[ys, xs, channel] = solve(rhs[:, channel])
    return out


def poisson_blend(fill: np.ndarray, image: np.ndarray, hole: np.ndarray, *, max_unknowns: int = 40_000) -> np.ndarray:
    """``image`` with its ``hole`` replaced by ``fill`` blended in the gradient domain (RGB uint8 in and out).

    ``fill`` is the generator's output over the whole frame (its pixels outside the hole say where
    its colours disagree with the photo's); pixels outside the hole are returned unchanged.
    """
    check_image(fill, name="fill")
    check_image(image, name="image")
    if fill.shape != image.shape:
        raise ShapeError(f"fill {fill.shape} and image {image.shape} must have the same shape")
    hole = check_mask(hole, image.shape[:2], name="hole")
    if isinstance(max_unknowns, bool) or not isinstance(max_unknowns, int) or max_unknowns < 1:
        raise ValueError(f"max_unknowns must be a positive integer, got {max_unknowns!r}")
    out = image.copy()
    if not hole.any():
        return out
    if hole.all():
        # no known pixel to blend against: the fill is all there is
        return fill.copy()
    # Only the ring of known pixels next to the hole bounds the solution; a crop around the hole
    # with that ring is enough.
    y0, y1, x0, x1 = hole_bbox(hole, margin=2)
    crop_hole = hole[y0:y1, x0:x1]
    crop_offset = image[y0:y1, x0:x1].astype(np.float32) - fill[y0:y1, x0:x1].astype(np.float32)
    scale = min(1.0, math.sqrt(max_unknowns / max(1, int(crop_hole.sum()))))
    if scale < 1.0:
        ch, cw = crop_hole.shape
        size = (max(3, round(cw * scale)), max(3, round(ch * scale)))
        # Known offsets are averaged over known pixels only, so hole pixels (offset unknown)
        # never leak into the boundary, and any cell holding a known pixel is boundary: a
        # known ring thinner than a cell still bounds the solution.
        known = (~crop_hole).astype(np.float32)
        weight = cv2.resize(known, size, interpolation=cv2.INTER_AREA)
        summed = cv2.resize(crop_offset * known[..., None], size, interpolation=cv2.INTER_AREA)
        small_hole = weight <= 0
        small = np.where(small_hole[..., None], 0.0, summed / np.maximum(weight, 1e-6)[..., None])
        solved = harmonic_fill(small, small_hole).astype(np.float32)
        correction = cv2.resize(solved, (cw, ch), interpolation=cv2.INTER_LINEAR)
    else:
        correction = harmonic_fill(crop_offset, crop_hole)
    blended = fill[y0:y1, x0:x1].astype(np.float32) + correction
    region = out[y0:y1, x0:x1]
    region[crop_hole] = np.clip(np.round(blended[crop_hole]), 0, 255).astype(np.uint8)
    return out
