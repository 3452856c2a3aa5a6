"""Tiled inference: any image size with bounded memory.

An image that fits in one tile (both sides ``<= tile``) is run whole, so the result is exactly
whole-image inference. A larger image is cut into a grid of tiles of side ``tile`` that overlap
by at least ``overlap`` pixels; the mask **logits** of the tiles are blended with a separable
window that is 1 inside a tile and ramps linearly, ``(j + 0.5) / ov`` for ``j = 0 .. ov-1``,
across each side that borders another tile (never at the image border). Neighbouring ramps
sum to exactly 1, so the blend is a convex combination of the tiles' logits.

Tile-border tolerance (what "equal up to tile borders" means): a model whose receptive field
reaches ``r`` pixels gives the whole-image answer at every pixel more than ``r`` pixels from a
tile cut, so outside the blended bands the tiled result equals whole-image inference up to float
rounding (we test 1e-5 on logits). Inside a band of width ``ov``, a pixel ``d`` pixels from the
cut of a tile gets weight ``(d + 0.5) / ov`` from that tile, so when ``r < ov / 2`` only one tile
is wrong there and the blended error is at most ``(r + 0.5) / ov`` times that tile's own border
error (test: tests/test_detect_tiling.py). Models with global context (an image-level head,
IID-Net's global attention) see only their tile and can differ more; that is the price of
bounded memory.

Image-level score of a tiled run: the **maximum over tiles** of the tile's image logit, i.e. the
image is called inpainted if any tile is. We do not rescale the whole image for the image head,
because resampling destroys the very traces detectors look for.

Tile origins are multiples of 8 (and of the model's ``size_multiple``) so every tile sees the
JPEG 8×8 block grid in the same phase as the whole image does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..contract import check_image
from ..errors import InpaintscopeError
from ..models.base import Detector
from ..models.inference import forward_padded

#: default tile side and overlap (pixels); a 1024² tile keeps activations of our models small
DEFAULT_TILE = 1024
DEFAULT_OVERLAP = 128
#: JPEG block size: tile origins stay on this grid
_GRID = 8


@dataclass(frozen=True)
class TiledPrediction:
    """Blended mask logits of a whole image (float32 H×W), the image logit (or None when the
    model has no image head) and how many tiles were run."""

    mask_logits: np.ndarray
    image_logit: float | None
    n_tiles: int


def tile_starts(length: int, tile: int, overlap: int, *, align: int = _GRID) -> tuple[list[int], int]:
    """Origins of the tiles along one axis and the actual overlap between neighbours.

    All origins are multiples of ``align``; every tile but the last has side ``tile``; the last
    one ends at ``length`` (it may be shorter). Neighbours overlap by ``tile - stride >= overlap``.
    """
    if length <= tile:
        return [0], 0
    stride = ((tile - overlap) // align) * align
    if stride < align:
        raise InpaintscopeError(f"tile {tile} with overlap {overlap} leaves no room to advance; "
                                f"use a tile at least overlap + {align}")
    starts = [0]
    while starts[-1] + tile < length:
        starts.append(starts[-1] + stride)
    return starts, tile - stride


def _ramp_window(n: int, ov: int, *, left: bool, right: bool) -> np.ndarray:
    w = np.ones(n, dtype=np.float64)
    if ov > 0:
        ramp = (np.arange(ov, dtype=np.float64) + 0.5) / ov
        if left:
            w[:ov] = ramp
        if right:
            w[n - ov:] = np.minimum(w[n - ov:], ramp[::-1])
    return w


def _axis_windows(starts: list[int], length: int, tile: int, overlap: int
                  ) -> tuple[list[tuple[int, int, np.ndarray]], np.ndarray]:
    """Per tile along one axis: (start, end, ramp weights); plus the summed weight per position."""
    norm = np.zeros(length, dtype=np.float64)
    windows = []
    for i, a in enumerate(starts):
        b = min(a + tile, length)
        wt = _ramp_window(b - a, overlap, left=i > 0, right=i < len(starts) - 1)
        norm[a:b] += wt
        windows.append((a, b, wt))
    return windows, norm


@torch.inference_mode()
def run_model(model: Detector, image: np.ndarray, *, device: torch.device | str = "cpu") -> tuple[np.ndarray, float | None]:
    """One forward pass on an RGB uint8 image of any size (:func:`forward_padded`: reflect-pad
    to ``size_multiple``, ``preprocess`` + ``forward``, crop). Returns float32 mask logits H×W and the image logit."""
    h, w = image.shape[:2]
    pixels = np.ascontiguousarray(image)
    if not pixels.flags.writeable:  # PIL-backed arrays are read-only; torch wants to own a copy
        pixels = pixels.copy()
    x = torch.from_numpy(pixels).to(device).permute(2, 0, 1).unsqueeze(0).to(torch.float32).div_(255.0)
    logits, image_logit_t = forward_padded(model, x)
    mask = logits[0, 0].to("cpu", torch.float32).numpy()
    image_logit = None if image_logit_t is None else float(image_logit_t.reshape(-1)[0])
    return np.ascontiguousarray(mask), image_logit


def predict_tiled(
    model: Detector,
    image: np.ndarray,
    *,
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    device: torch.device | str = "cpu",
) -> TiledPrediction:
    """Mask logits (float32 H×W) of ``image`` (RGB uint8 H×W×3), tile by tile (see module doc)."""
    check_image(image)
    multiple = int(getattr(model, "size_multiple", 1) or 1)
    if overlap < 0:
        raise InpaintscopeError(f"overlap must be >= 0, got {overlap}")
    tile = (tile // multiple) * multiple  # full tiles need no padding
    if tile < 32:
        raise InpaintscopeError(f"tile must be at least 32 pixels (and a multiple of the model's "
                                f"size_multiple {multiple}), got {tile}")
    h, w = image.shape[:2]
    if h <= tile and w <= tile:
        mask, image_logit = run_model(model, image, device=device)
        return TiledPrediction(mask, image_logit, 1)

    align = math.lcm(_GRID, multiple)
    ys, ov_y = tile_starts(h, tile, overlap, align=align)
    xs, ov_x = tile_starts(w, tile, overlap, align=align)
    if 2 * max(ov_y, ov_x) > tile:
        raise InpaintscopeError(f"overlap {overlap} is too large for tile {tile}: use at most "
                                f"{tile // 2 - align} (ramps from both sides of a tile must not meet)")
    acc = np.zeros((h, w), dtype=np.float32)
    # The grid is a product of 1-D tilings, so the sum of window weights is separable too.
    wins_y, norm_y = _axis_windows(ys, h, tile, ov_y)
    wins_x, norm_x = _axis_windows(xs, w, tile, ov_x)

    best: float | None = None
    for y0, y1, wy in wins_y:
        for x0, x1, wx in wins_x:
            logits, image_logit = run_model(model, image[y0:y1, x0:x1], device=device)
            acc[y0:y1, x0:x1] += (logits * np.outer(wy, wx)).astype(np.float32)
            if image_logit is not None:
                best = image_logit if best is None else max(best, image_logit)
    acc /= norm_y[:, None].astype(np.float32)
    acc /= norm_x[None, :].astype(np.float32)
    return TiledPrediction(acc, best, len(ys) * len(xs))
