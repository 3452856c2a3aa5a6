"""Padding and tiling: run a network on an image of any size, in bounded memory.

One implementation for every network of the package (detectors in ``evaluate`` and ``detect``,
the TAEF2 autoencoder, training crops).

**Padding** (:func:`pad_to_size`, :func:`pad_to_multiple`): bottom/right only, so cropping back is
``[..., :h, :w]``; by reflection (``d c b | a b c d``, the edge pixel is not repeated), which keeps
the local noise statistics a detector looks at, adds no flat or interpolated pixels and no
duplicated row whose differences would be zero. A pad longer than the image reflects again
(numpy's ``reflect``); only a 1-pixel side, which has nothing to reflect, is repeated.

**Tiling** (:func:`run_tiled`): an input that fits in one tile (both sides ``<= tile``) is run
whole, so the result is exactly whole-image inference. A larger one is cut into a grid of tiles
of side ``tile`` that overlap by at least ``overlap`` pixels; the tiles' outputs are blended
with a separable window that is 1 inside a tile and ramps linearly, ``(j + 0.5) / ov`` for
``j = 0 .. ov-1``, across each side that borders another tile (never at the image border).
Neighbouring ramps sum to exactly 1, so the blend is a convex combination of the tiles' outputs.

Tile-border tolerance: a network whose receptive field reaches ``r`` pixels gives the
whole-image answer at every pixel more than ``r`` pixels from a tile cut, so outside the
blended bands the tiled result equals whole-image inference up to float rounding. Inside a
band of width ``ov``, a pixel ``d`` pixels from the cut of a tile gets weight ``(d + 0.5) / ov``
from that tile, so when ``r < ov / 2`` only one tile is wrong there and the blended error is
at most ``(r + 0.5) / ov`` times that tile's own border error (tests/test_detect_tiling.py).
Networks with global context (an image-level head, IID-Net's global attention, GroupNorm) see
only their tile and can differ more; that is the price of bounded memory.

Tile origins are multiples of 8 (and of the network's size multiple) so every tile sees the
JPEG 8×8 block grid in the same phase as the whole image does.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .errors import InpaintscopeError

#: JPEG block size: tile origins stay on this grid
JPEG_GRID = 8
#: smallest tile side accepted
MIN_TILE = 32


def pad_to_size(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pad the last two dimensions of ``x`` (``…×H×W``) at the bottom/right up to at least
    ``height × width`` by reflection (see the module doc); returns ``x`` itself when no pad is needed."""
    h, w = x.shape[-2:]
    if h < 1 or w < 1:
        raise InpaintscopeError(f"cannot pad an empty {h}×{w} image")
    if h >= height and w >= width:
        return x
    lead = x.shape[:-2]
    y = x.reshape(1, -1, h, w)  # F.pad reflects the last two dimensions of a 3-D or 4-D tensor
    while y.shape[-2] < height or y.shape[-1] < width:
        ch, cw = y.shape[-2:]
        need_h, need_w = max(0, height - ch), max(0, width - cw)
        if (need_h and ch == 1) or (need_w and cw == 1):  # nothing to reflect: repeat the pixel
            y = F.pad(y, (0, need_w if cw == 1 else 0, 0, need_h if ch == 1 else 0), mode="replicate")
        else:  # one reflection adds at most side − 1 pixels
            y = F.pad(y, (0, min(need_w, cw - 1), 0, min(need_h, ch - 1)), mode="reflect")
    return y.reshape(*lead, *y.shape[-2:])


def pad_to_multiple(x: torch.Tensor, multiple: int, *, min_size: int = 1) -> torch.Tensor:
    """:func:`pad_to_size` up to the next multiples of ``multiple`` (and at least ``min_size``)."""
    h, w = x.shape[-2:]
    m = max(1, int(multiple))
    return pad_to_size(x, m * math.ceil(max(h, min_size) / m), m * math.ceil(max(w, min_size) / m))


def tile_starts(length: int, tile: int, overlap: int, *, align: int = JPEG_GRID) -> tuple[list[int], int]:
    """Origins of the tiles along one axis and the actual overlap between neighbours.

    All origins are multiples of ``align``; every tile but the last has side ``tile``; the last
    one ends at ``length`` (it may be shorter). Neighbours overlap by ``tile - stride >= overlap``.
    """
    if length <= tile:
        return [0], 0
    stride = tile_stride(tile, overlap, align=align)
    if stride < align:
        raise InpaintscopeError(
            f"tile {tile} with overlap {overlap} leaves no room to advance; use a tile at least overlap + {align}"
        )
    starts = [0]
    while starts[-1] + tile < length:
        starts.append(starts[-1] + stride)
    return starts, tile - stride


def tile_stride(tile: int, overlap: int, *, align: int = JPEG_GRID) -> int:
    """How far :func:`tile_starts` advances from one tile to the next along an axis longer than
    ``tile``: the largest multiple of ``align`` that keeps ``overlap`` pixels shared (below
    ``align`` when the tiles cannot advance)."""
    return ((tile - overlap) // align) * align


def _ramp_window(n: int, ov: int, *, left: bool, right: bool) -> np.ndarray:
    w = np.ones(n, dtype=np.float64)
    if ov > 0:
        ramp = (np.arange(ov, dtype=np.float64) + 0.5) / ov
        if left:
            w[:ov] = ramp
        if right:
            w[n - ov :] = np.minimum(w[n - ov :], ramp[::-1])
    return w


def _axis_windows(
    starts: list[int], length: int, tile: int, overlap: int
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


def check_tiling(tile: int, overlap: int, *, multiple: int = 1) -> int:
    """Validate ``tile``/``overlap`` and return the tile side rounded down to ``multiple``
    (full tiles then need no padding)."""
    m = max(1, int(multiple))
    if overlap < 0:
        raise InpaintscopeError(f"overlap must be >= 0, got {overlap}")
    tile = (int(tile) // m) * m
    if tile < MIN_TILE:
        raise InpaintscopeError(
            f"tile must be at least {MIN_TILE} pixels (and a multiple of the network's size multiple {m}), got {tile}"
        )
    return tile


def check_tile_overlap(
    tile: int, overlap: int, *, multiple: int = 1, names: tuple[str, str] = ("tile", "overlap")
) -> None:
    """Refuse a ``tile``/``overlap`` pair that :func:`run_tiled` would refuse for every image larger
    than one tile (tiles that cannot advance, or ramps that meet); ``names`` are the option names
    for the message. For callers that take both from a user, before any image is read."""
    m = max(1, int(multiple))
    used = check_tiling(tile, overlap, multiple=m)  # rounded down to the network's multiple
    align = math.lcm(JPEG_GRID, m)
    stride = tile_stride(used, overlap, align=align)
    if stride >= align and 2 * (used - stride) <= used:
        return
    # sufficient bounds (tile - overlap >= tile / 2 + align), simple enough to state
    min_tile = -(-2 * (overlap + align) // m) * m
    hint = f"use {names[0]} {min_tile} or more"
    if used // 2 - align >= 0:
        hint += f", or {names[1]} {used // 2 - align} or less"
    raise InpaintscopeError(f"{names[0]} {tile} is too small for {names[1]} {overlap}: {hint}")


def run_tiled(
    run: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, *, tile: int, overlap: int, multiple: int = 1
) -> tuple[torch.Tensor, int]:
    """Apply ``run`` to ``x`` (``B×C×H×W``) tile by tile and blend (see the module doc).

    ``run`` maps a ``B×C×h×w`` slice of ``x`` to ``B×K×h×w`` outputs at the same size (it pads
    and moves to its device itself; a slice may have any size up to ``tile``). ``multiple`` is
    the size multiple of the network: tiles are rounded down to it and origins aligned to it.
    Returns the float32 ``B×K×H×W`` result on the CPU and the number of tiles run.
    """
    tile = check_tiling(tile, overlap, multiple=multiple)
    h, w = x.shape[-2:]
    if h <= tile and w <= tile:
        return run(x).float().cpu(), 1

    align = math.lcm(JPEG_GRID, max(1, int(multiple)))
    ys, ov_y = tile_starts(h, tile, overlap, align=align)
    xs, ov_x = tile_starts(w, tile, overlap, align=align)
    if 2 * max(ov_y, ov_x) > tile:
        raise InpaintscopeError(
            f"overlap {overlap} is too large for tile {tile}: use at most "
            f"{tile // 2 - align} (ramps from both sides of a tile must not meet)"
        )
    # The grid is a product of 1-D tilings, so the sum of window weights is separable too.
    wins_y, norm_y = _axis_windows(ys, h, tile, ov_y)
    wins_x, norm_x = _axis_windows(xs, w, tile, ov_x)
    acc: torch.Tensor | None = None
    for y0, y1, wy in wins_y:
        for x0, x1, wx in wins_x:
            out = run(x[..., y0:y1, x0:x1]).cpu()
            if acc is None:
                acc = torch.zeros((*out.shape[:-2], h, w), dtype=torch.float32)
            # weights in float64, the sum in float32: a 24 MP result stays one float32 buffer
            acc[..., y0:y1, x0:x1] += (out.double() * torch.from_numpy(np.outer(wy, wx))).float()
    assert acc is not None
    acc /= torch.from_numpy(norm_y.astype(np.float32))[:, None]
    acc /= torch.from_numpy(norm_x.astype(np.float32))[None, :]
    return acc, len(ys) * len(xs)
