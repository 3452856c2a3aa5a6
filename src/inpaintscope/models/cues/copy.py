"""Copy cue: where does the image match *itself* elsewhere, at a coherent offset?

Exemplar inpainting (PatchMatch / content-aware fill, Criminisi) and the clone stamp fill a
region with texture copied from the same photo. Such a region has near-exact matches elsewhere
in the image, and neighbouring pixels find them at the same offset. Camera pixels seldom do,
except on flat or periodic texture. Dense-field copy-move detection (Cozzolino, Poggi,
Verdoliva, "Efficient Dense-Field Copy–Move Forgery Detection", IEEE TIFS 2015) computes a
nearest-neighbour field (NNF) of the image onto itself with PatchMatch (Barnes, Shechtman,
Finkelstein, Goldman, ACM TOG 2009) and keeps matches whose offsets agree with their
neighbours'. We compute its soft maps, not its binary mask (whose size rules drop inpainting
fills, which are tiled from many small chunks):

* **match strength** ``log((contrast + ε) / (distance + ε))``: the best match's descriptor
  distance relative to the patch's own contrast, so flat sky (which matches everything but has
  no contrast) scores low and copied texture scores high;
* **offset coherence**: the fraction of the 8 grid neighbours whose best offset is within one
  pixel of this pixel's.

Descriptors are the 8 lowest-frequency AC coefficients of the 2-D DCT of each pixel's 8×8 grey
patch (separable convolutions, computed at every pixel). Queries sit on a stride-2 grid, targets
anywhere, at least ``min_offset`` px away, so copies at odd offsets are found exactly. The
search is a vectorised PatchMatch: candidates from sorting the grid by random projections of the
descriptors (exact and near copies land side by side, the lexicographic-sorting idea of Fridrich,
Soukal, Lukáš, DFRWS 2003), a few uniform random targets, jump-flooding propagation of the
neighbours' offsets (distances 8, 4, 2, 1 grid steps) and a local random search. Every step is a
gather over all queries: time and memory are linear in pixel count. Random draws come from a
generator seeded with ``seed``, so the maps are a pure function of the image.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

#: channels returned by :func:`copy_cue`
COPY_CHANNELS = ("copy_strength", "copy_coherence")
PATCH = 8
_DIRECTIONS = ((0, 1), (1, 0), (0, -1), (-1, 0))


@functools.cache
def _dct_pairs(patch: int, keep: int) -> tuple[torch.Tensor, tuple[tuple[int, int], ...]]:
    """1-D DCT-II basis (patch×patch, unit norm rows) and the ``keep`` lowest AC frequency pairs."""
    k = torch.arange(patch, dtype=torch.float32)
    c = torch.cos(torch.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * patch))  # frequency × position
    c = c / c.norm(dim=1, keepdim=True)
    pairs = sorted(((u, v) for u in range(patch) for v in range(patch) if u + v > 0), key=lambda t: (t[0] + t[1], t))[
        :keep
    ]
    return c, tuple(pairs)


def _same_pad(x: torch.Tensor, patch: int) -> torch.Tensor:
    lo, hi = (patch - 1) // 2, patch // 2
    return F.pad(x, (lo, hi, lo, hi), mode="replicate")


def descriptors(gray: torch.Tensor, *, keep: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Per pixel of an H×W grey image (0–255): DCT descriptors (H·W×keep) and contrast (H·W).

    The 2-D DCT basis functions are outer products of 1-D ones, so each coefficient is a row
    convolution followed by a column convolution (16 taps instead of 64)."""
    basis, pairs = _dct_pairs(PATCH, keep)
    g = _same_pad(gray[None, None], PATCH)
    cols = sorted({v for _, v in pairs})
    rows = F.conv2d(g, basis[cols].view(len(cols), 1, 1, PATCH))  # 1×len(cols)×(H+7)×W
    coeffs = [F.conv2d(rows[:, cols.index(v) : cols.index(v) + 1], basis[u].view(1, 1, PATCH, 1)) for u, v in pairs]
    desc = torch.cat(coeffs, dim=1)[0] / PATCH  # squared distances on the scale of the contrast
    mean = F.avg_pool2d(g, PATCH, stride=1)
    contrast = (F.avg_pool2d(g * g, PATCH, stride=1) - mean * mean).clamp(min=0)[0, 0]
    return desc.flatten(1).t().contiguous(), contrast.reshape(-1)


class _Field:
    """Best target offset (dy, dx) and distance for every query pixel of a stride-``step`` grid."""

    def __init__(self, desc: torch.Tensor, h: int, w: int, *, step: int, min_offset: int, gen: torch.Generator) -> None:
        self.desc, self.h, self.w, self.min_offset, self.gen = desc, h, w, min_offset, gen
        # int32 indices: half the memory traffic of int64 in the ~50 gathers and selects per image
        gy, gx = torch.arange(0, h, step, dtype=torch.int32), torch.arange(0, w, step, dtype=torch.int32)
        self.gh, self.gw = len(gy), len(gx)
        self.ys = gy.view(-1, 1).expand(self.gh, self.gw).reshape(-1)
        self.xs = gx.view(1, -1).expand(self.gh, self.gw).reshape(-1)
        self.query = desc.index_select(0, self.ys * w + self.xs)
        self.n = self.ys.numel()
        inf = torch.full((self.n,), float("inf"))
        self.dy, self.dx = torch.zeros(self.n, dtype=torch.int32), torch.zeros(self.n, dtype=torch.int32)
        self.dist = inf

    def _try(self, dy: torch.Tensor, dx: torch.Tensor) -> None:
        ty, tx = self.ys + dy, self.xs + dx
        ok = (ty >= 0) & (ty < self.h) & (tx >= 0) & (tx < self.w)
        ok &= torch.maximum(dy.abs(), dx.abs()) >= self.min_offset
        idx = ty.clamp(0, self.h - 1) * self.w + tx.clamp(0, self.w - 1)
        d = (self.query - self.desc.index_select(0, idx)).square_().sum(dim=1)
        better = ok & (d < self.dist)
        self.dy = torch.where(better, dy, self.dy)
        self.dx = torch.where(better, dx, self.dx)
        self.dist = torch.where(better, d, self.dist)

    def sorted_search(self, projections: int, reach: int) -> None:
        for _ in range(projections):
            direction = torch.randn(self.query.shape[1], generator=self.gen)
            order = torch.argsort(self.query @ direction)
            for j in (*range(1, reach + 1), *range(-reach, 0)):
                partner = torch.empty_like(order)
                partner[order] = order.roll(-j)
                self._try(self.ys[partner] - self.ys, self.xs[partner] - self.xs)

    def global_search(self, samples: int) -> None:
        for _ in range(samples):
            ty = torch.randint(0, self.h, (self.n,), generator=self.gen, dtype=torch.int32)
            tx = torch.randint(0, self.w, (self.n,), generator=self.gen, dtype=torch.int32)
            self._try(ty - self.ys, tx - self.xs)

    def propagate(self, jump: int) -> None:
        grid_dy, grid_dx = self.dy.view(self.gh, self.gw), self.dx.view(self.gh, self.gw)
        for sy, sx in _DIRECTIONS:
            # every query tries the offset of the query `jump` grid steps away in this direction
            self._try(
                torch.roll(grid_dy, (sy * jump, sx * jump), (0, 1)).reshape(-1),
                torch.roll(grid_dx, (sy * jump, sx * jump), (0, 1)).reshape(-1),
            )

    def local_search(self, radius: int) -> None:
        while radius >= 1:
            self._try(
                self.dy + torch.randint(-radius, radius + 1, (self.n,), generator=self.gen, dtype=torch.int32),
                self.dx + torch.randint(-radius, radius + 1, (self.n,), generator=self.gen, dtype=torch.int32),
            )
            radius //= 2


def _coherence(dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """Fraction of the 8 neighbours whose offset is within one pixel (L∞) of this pixel's."""
    h, w = dy.shape
    pdy = F.pad(dy[None, None].float(), (1, 1, 1, 1), mode="replicate")[0, 0]
    pdx = F.pad(dx[None, None].float(), (1, 1, 1, 1), mode="replicate")[0, 0]
    agree = torch.zeros(h, w)
    for oy in (-1, 0, 1):
        for ox in (-1, 0, 1):
            if oy or ox:
                ny, nx = pdy[1 + oy : 1 + oy + h, 1 + ox : 1 + ox + w], pdx[1 + oy : 1 + oy + h, 1 + ox : 1 + ox + w]
                agree += (((ny - dy).abs() <= 1) & ((nx - dx).abs() <= 1)).float()
    return agree / 8.0


@torch.no_grad()
def copy_cue(
    image01: torch.Tensor,
    *,
    min_offset: int = 12,
    step: int = 2,
    projections: int = 2,
    reach: int = 3,
    rounds: int = 2,
    seed: int = 0,
) -> torch.Tensor:
    """Copy-cue maps of a B×3×H×W RGB batch in [0, 1]: B×2×H×W (strength, coherence).

    Strength is a log ratio clipped to [−4, 12]; coherence is in [0, 1]. Each image is searched
    on its own; images smaller than the minimum offset allows get zero maps.
    """
    b, _, h, w = image01.shape
    x = image01.detach().float().cpu()
    gray = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]) * 255.0
    maps = []
    for i in range(b):
        if min(h, w) <= 2 * min_offset or h * w < 1024:
            maps.append(torch.zeros(2, h, w))
            continue
        desc, contrast = descriptors(gray[i])
        field = _Field(desc, h, w, step=step, min_offset=min_offset, gen=torch.Generator().manual_seed(seed))
        field.sorted_search(projections, reach)
        for _ in range(rounds):
            field.global_search(1)
            for jump in (8, 4, 2, 1):
                field.propagate(jump)
            field.local_search(2 * step)
        c = contrast.index_select(0, field.ys * w + field.xs)
        dist = torch.where(torch.isfinite(field.dist), field.dist, c + 1e3) / 8.0  # per coefficient
        strength = torch.log((c + 4.0) / (dist + 4.0)).clamp(-4.0, 12.0).view(field.gh, field.gw)
        coherence = _coherence(field.dy.view(field.gh, field.gw), field.dx.view(field.gh, field.gw))
        grid = torch.stack([strength, coherence])[None]
        maps.append(F.interpolate(grid, size=(h, w), mode="bilinear", align_corners=False)[0])
    return torch.stack(maps).to(image01.device)
