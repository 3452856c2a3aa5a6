"""Exemplar-based inpainting with PatchMatch, vectorised in numpy/OpenCV.

Method: Wexler, Shechtman & Irani, "Space-time completion of video", IEEE TPAMI 29(3), 2007 —
coarse-to-fine EM: every patch that overlaps the hole is matched to its nearest fully-known
patch (E-step), then each hole pixel becomes the weighted average of the colours the matched
patches put on it (M-step, "voting"). The nearest-neighbour field (NNF) is found with PatchMatch
(Barnes, Shechtman, Finkelstein & Goldman, "PatchMatch: a randomized correspondence algorithm for
structural image editing", ACM TOG / SIGGRAPH 2009): random init, propagation of good offsets from
neighbours, and random search around the current match at exponentially shrinking radii.

Differences from the papers, made for speed on one CPU core and documented here:

* Barnes' propagation is a sequential raster scan. We propagate with whole-array shifts instead,
  jump-flooding style: each pass tries the neighbours at distance 16, 8, 4, 2, 1 in all four
  directions, so a good offset travels up to 31 px per pass and everything stays vectorised.
* Patch distances are SSDs in a PCA projection of the 7×7×3 patch vectors (24 dimensions by
  default, computed per pyramid level from the known patches); on the shared photos this keeps
  94–99.8 % of the patch variance and makes each candidate evaluation 147/24 ≈ 6× cheaper.
* Only the hole's bounding box plus a margin of known pixels is processed; source patches must
  lie entirely in known pixels of that window (so nothing of the hole's original content is ever
  read).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import InpaintscopeError
from .base import Inpainter, register_inpainter
from .classical import hole_bbox, require_known, telea_fill

_JUMPS = (16, 8, 4, 2, 1)
_DIRS = ((0, 1), (1, 0), (0, -1), (-1, 0))


@dataclass
class _Level:
    img: np.ndarray  # float32 h×w×3, current estimate inside the hole
    hole: np.ndarray  # bool h×w, pixels to fill
    avail: np.ndarray  # bool h×w, real known pixels (not hole, not padding from odd sizes)


def _downsample(level: _Level) -> _Level:
    """2×2 block average; a coarse pixel is hole if any child is, known only if all children are."""
    img, hole, avail = level.img, level.hole, level.avail
    h, w = hole.shape
    ph, pw = h % 2, w % 2
    if ph or pw:
        img = np.pad(img, ((0, ph), (0, pw), (0, 0)), mode="edge")
        hole = np.pad(hole, ((0, ph), (0, pw)))
        avail = np.pad(avail, ((0, ph), (0, pw)))
    h2, w2 = hole.shape[0] // 2, hole.shape[1] // 2
    return _Level(
        img.reshape(h2, 2, w2, 2, 3).mean(axis=(1, 3), dtype=np.float32),
        hole.reshape(h2, 2, w2, 2).any(axis=(1, 3)),
        avail.reshape(h2, 2, w2, 2).all(axis=(1, 3)),
    )


def _valid_centres(avail: np.ndarray, p: int) -> np.ndarray:
    """Centres whose whole p×p patch is known (pixels outside the array count as unknown)."""
    return cv2.erode(
        avail.astype(np.uint8), np.ones((p, p), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0
    ).astype(bool)


class _Solver:
    """PatchMatch + EM voting on one pyramid level.

    Coordinates live in the r-padded frame and are stored as *linear* indices ``y·Wp + x`` so
    every gather is a 1-D ``take`` (about twice as fast as 2-D fancy indexing). A candidate whose
    x-offset wraps into the next row is still a real, valid source patch, just not the intended
    one, so wrapping never produces a wrong result, only a wasted candidate.
    """

    def __init__(self, level: _Level, *, patch_size: int, pca_dims: int, rng: np.random.Generator) -> None:
        self.p = p = patch_size
        self.r = r = p // 2
        self.rng = rng
        h, w = level.hole.shape
        self.shape = (h, w)
        # Reflect padding only gives target patches at the border something to compare; padded
        # pixels are never sources (avail is False there) and never filled.
        P = np.pad(level.img, ((r, r), (r, r), (0, 0)), mode="reflect").astype(np.float32)
        self.hp, self.wp = P.shape[:2]
        self.Pf = P.reshape(-1, 3)
        hole = np.pad(level.hole, r)
        avail = np.pad(level.avail, r)
        self.valid = _valid_centres(avail, p).ravel()
        self.vlin = np.flatnonzero(self.valid).astype(np.int64)
        if self.vlin.size == 0:
            raise _NoSource()
        inner = np.zeros_like(hole)
        inner[r : r + h, r : r + w] = True
        is_target = cv2.dilate(hole.astype(np.uint8), np.ones((p, p), np.uint8)).astype(bool) & inner
        self.is_target = is_target.ravel()
        self.tlin = np.flatnonzero(self.is_target).astype(np.int64)
        self.hlin = np.flatnonzero(hole).astype(np.int64)
        oy, ox = np.mgrid[-r : r + 1, -r : r + 1]
        self.off_y, self.off_x = oy.ravel(), ox.ravel()
        self.off = (oy * self.wp + ox).ravel().astype(np.int64)
        self._build_source_features(pca_dims)
        self.N = np.zeros(self.hp * self.wp, np.int64)  # NNF: target linear index -> source linear index
        self.dist = np.full(self.tlin.size, np.inf, np.float32)

    # -- features ---------------------------------------------------------------------------
    def _patches(self, lin: np.ndarray) -> np.ndarray:
        """Raw patch vectors (N, p²·3), pixel-major then channel, for centres ``lin``."""
        return self.Pf.take(lin[:, None] + self.off, axis=0).reshape(lin.size, -1)

    def _build_source_features(self, pca_dims: int) -> None:
        n_sample = min(self.vlin.size, 3000)
        pick = self.vlin if n_sample == self.vlin.size else self.rng.choice(self.vlin, n_sample, replace=False)
        sample = self._patches(pick)
        self.mu = sample.mean(axis=0)
        # PCA via the (p²·3)² covariance: much cheaper than an SVD of the sample itself.
        centred = (sample - self.mu).astype(np.float64)
        _, vecs = np.linalg.eigh(centred.T @ centred)
        k = min(pca_dims, sample.shape[1])
        self.basis = np.ascontiguousarray(vecs[:, ::-1][:, :k], dtype=np.float32)
        # Project every position at once with one correlation per (component, channel): ~4× faster
        # than gathering all source patches (im2col) when the window is large. Values at invalid
        # centres are computed too but never used.
        kernels = self.basis.T.reshape(k, self.p, self.p, 3)
        P = self.Pf.reshape(self.hp, self.wp, 3)
        chans = [np.ascontiguousarray(P[..., c]) for c in range(3)]
        self.FS = np.empty((self.hp, self.wp, k), np.float32)
        for j in range(k):
            acc = cv2.filter2D(chans[0], -1, np.ascontiguousarray(kernels[j, :, :, 0]), borderType=cv2.BORDER_REFLECT)
            for c in (1, 2):
                acc += cv2.filter2D(
                    chans[c], -1, np.ascontiguousarray(kernels[j, :, :, c]), borderType=cv2.BORDER_REFLECT
                )
            self.FS[..., j] = acc
        self.FS = self.FS.reshape(-1, k)
        self.FS -= self.mu @ self.basis

    def _target_features(self) -> None:
        self.FT = (self._patches(self.tlin) - self.mu) @ self.basis

    # -- nearest-neighbour field ---------------------------------------------------------------
    def random_init(self, which: np.ndarray | None = None) -> None:
        idx = self.tlin if which is None else self.tlin[which]
        self.N[idx] = self.vlin[self.rng.integers(0, self.vlin.size, idx.size)]

    def upsample_from(self, coarse: _Solver) -> None:
        """NNF from the coarser level: a match at s maps to 2·s + (parity of the fine pixel)."""
        r, rc = self.r, coarse.r
        uy, ux = np.divmod(self.tlin, self.wp)
        uy, ux = uy - r, ux - r
        clin = (uy // 2 + rc) * coarse.wp + (ux // 2 + rc)
        ok = coarse.is_target[clin]
        cy, cx = np.divmod(coarse.N[clin], coarse.wp)
        sy = 2 * (cy - rc) + (uy & 1) + r
        sx = 2 * (cx - rc) + (ux & 1) + r
        ok &= (sy >= 0) & (sy < self.hp) & (sx >= 0) & (sx < self.wp)
        slin = np.where(ok, sy * self.wp + sx, 0)
        ok &= self.valid[slin]
        self.N[self.tlin[ok]] = slin[ok]
        self.random_init(~ok)

    def _distance(self, slin: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        d = self.FS.take(slin, axis=0)
        d -= self.FT if rows is None else self.FT.take(rows, axis=0)
        return np.einsum("ij,ij->i", d, d)

    def _try(self, cand: np.ndarray, usable: np.ndarray | None) -> None:
        """Adopt candidate sources where they are valid and closer than the current match."""
        ok = (cand >= 0) & (cand < self.valid.size)
        if usable is not None:
            ok &= usable
        cand = np.where(ok, cand, 0)
        # Once the field is coherent most candidates equal the current match; skip those.
        ok &= self.valid[cand] & (cand != self.N.take(self.tlin))
        rows = np.flatnonzero(ok)
        if rows.size == 0:
            return
        cand = cand[rows]
        d = self._distance(cand, rows)
        better = d < self.dist[rows]
        rows = rows[better]
        self.dist[rows] = d[better]
        self.N[self.tlin[rows]] = cand[better]

    def refresh(self) -> None:
        """Recompute target features and current distances after the hole's colours changed."""
        self._target_features()
        self.dist = self._distance(self.N[self.tlin])

    def patchmatch(self, iterations: int) -> None:
        n = self.tlin.size
        size = self.valid.size
        for it in range(iterations):
            dirs = _DIRS if it % 2 == 0 else _DIRS[::-1]  # alternate order, as Barnes alternates scans
            for step in _JUMPS:
                for dy, dx in dirs:
                    shift = step * (dy * self.wp + dx)
                    nb = self.tlin - shift
                    nb_ok = (nb >= 0) & (nb < size)
                    nb = np.where(nb_ok, nb, 0)
                    usable = nb_ok & self.is_target[nb]
                    self._try(self.N[nb] + shift, usable)
            radius = max(self.hp, self.wp)
            while radius >= 1:
                jy = self.rng.integers(-radius, radius + 1, n)
                jx = self.rng.integers(-radius, radius + 1, n)
                self._try(self.N[self.tlin] + jy * self.wp + jx, None)
                radius //= 2

    def vote(self) -> None:
        """M-step: each hole pixel = weighted mean of the colours its covering matches propose."""
        # Weights exp(-d / 2σ²) with σ² from the 75th percentile of the distances (Wexler et al.)
        # favour good matches without letting a single one dominate.
        sigma2 = float(np.percentile(self.dist, 75)) + 1e-6
        weight = np.zeros(self.valid.size, np.float32)
        weight[self.tlin] = np.exp(-self.dist / (2.0 * sigma2)) + 1e-8
        acc = np.zeros((self.hlin.size, 3), np.float32)
        wsum = np.zeros(self.hlin.size, np.float32)
        for d in self.off:
            # The patch centred at t = q - d covers q at offset d; its match puts P[N(t) + d] there.
            t = self.hlin - d
            wt = weight.take(t)  # 0 where t is not a target (inside the padding)
            acc += wt[:, None] * self.Pf.take(self.N.take(t) + d, axis=0, mode="clip")
            wsum += wt
        self.Pf[self.hlin] = acc / np.maximum(wsum, 1e-12)[:, None]

    def copy_centres(self) -> None:
        """Each hole pixel takes the centre colour of its own patch's match: coherent runs of the
        field become pixel-exact copies of the source (sharp, like a content-aware fill whose
        field has converged), instead of the blend of ``p²`` votes."""
        self.Pf[self.hlin] = self.Pf.take(self.N.take(self.hlin), axis=0)

    def set_hole(self, values: np.ndarray) -> None:
        """Set the hole's colours from an unpadded h×w×3 array."""
        hy, hx = np.divmod(self.hlin, self.wp)
        self.Pf[self.hlin] = values[hy - self.r, hx - self.r]

    def result(self) -> np.ndarray:
        r = self.r
        h, w = self.shape
        return self.Pf.reshape(self.hp, self.wp, 3)[r : r + h, r : r + w]


class _NoSource(Exception):
    """No fully-known patch exists at this level."""


def patchmatch_fill(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    rng: np.random.Generator,
    patch_size: int = 7,
    em_iters: int = 4,
    final_em_iters: int = 2,
    pm_iters: int = 2,
    margin: float = 0.5,
    pca_dims: int = 24,
    max_levels: int = 6,
    voting: str = "mean",
) -> np.ndarray:
    """Fill ``mask`` (bool H×W) in an RGB uint8 image by coarse-to-fine PatchMatch + EM voting.

    ``margin``: known context around the hole's bounding box, as a fraction of its longer side
    (at least 4 patches). ``voting``: ``mean`` (Wexler's weighted vote at every step) or
    ``centre`` (the last step copies each pixel from its own match, see
    :meth:`_Solver.copy_centres`). Returns the whole image with only hole pixels changed. Falls
    back to Telea when no fully-known patch exists (the hole covers almost everything).
    """
    if voting not in ("mean", "centre"):
        raise InpaintscopeError(f"patchmatch voting must be 'mean' or 'centre', got {voting!r}")
    require_known(mask)
    p = int(patch_size)
    ys, xs = np.nonzero(mask)
    extent = max(int(ys.max() - ys.min()), int(xs.max() - xs.min())) + 1
    y0, y1, x0, x1 = hole_bbox(mask, margin=max(4 * p, int(round(margin * extent))))
    crop_hole = mask[y0:y1, x0:x1]
    img0 = image[y0:y1, x0:x1].astype(np.float32)
    img0[crop_hole] = 0.0  # never read the original content of the hole
    levels = [_Level(img0, crop_hole.copy(), ~crop_hole)]
    if not _valid_centres(levels[0].avail, p).any():
        return telea_fill(image, mask)

    # Go coarser while the hole is thicker than a patch (so the coarsest fill is well constrained)
    # and the coarser level still has room for known patches.
    depth = float(cv2.distanceTransform(crop_hole.astype(np.uint8), cv2.DIST_L2, 3).max())
    while len(levels) < max_levels and depth > p:
        nxt = _downsample(levels[-1])
        if min(nxt.hole.shape) < 3 * p or _valid_centres(nxt.avail, p).sum() < 4 * p * p:
            break
        levels.append(nxt)
        depth /= 2

    coarse = levels[-1]
    init = telea_fill(np.clip(np.round(coarse.img), 0, 255).astype(np.uint8), coarse.hole, radius=3)
    coarse.img = init.astype(np.float32)

    prev: _Solver | None = None
    for li in range(len(levels) - 1, -1, -1):
        lev = levels[li]
        try:
            solver = _Solver(lev, patch_size=p, pca_dims=pca_dims, rng=rng)
        except _NoSource:
            return telea_fill(image, mask)
        if prev is None:
            solver.set_hole(lev.img)
            solver.random_init()
        else:
            h, w = lev.hole.shape
            up = cv2.resize(prev.result(), (2 * prev.shape[1], 2 * prev.shape[0]), interpolation=cv2.INTER_LINEAR)
            solver.set_hole(up[:h, :w])
            solver.upsample_from(prev)
            solver.refresh()
            solver.vote()  # Wexler: the first fine estimate comes from the up-sampled NNF
        n_em = final_em_iters if li == 0 else em_iters
        for it in range(n_em):
            solver.refresh()
            solver.patchmatch(pm_iters)
            if li == 0 and it == n_em - 1 and voting == "centre":
                solver.copy_centres()
            else:
                solver.vote()
        prev = solver

    assert prev is not None
    filled = np.clip(np.round(prev.result()), 0, 255).astype(np.uint8)
    out = image.copy()
    region = out[y0:y1, x0:x1]
    region[crop_hole] = filled[crop_hole]
    return out


@register_inpainter("patchmatch")
class PatchMatchInpainter(Inpainter):
    """Exemplar-based inpainting: PatchMatch (Barnes et al. 2009) inside coarse-to-fine EM
    completion (Wexler et al. 2007). Texture is copied from the known surroundings, so periodic
    patterns continue through the hole (diffusion methods like Telea blur them away).

    Options: ``patch_size`` (odd, default 7), ``em_iters`` per coarse level (4),
    ``final_em_iters`` at full resolution (2), ``pm_iters`` PatchMatch passes per EM step (2),
    ``margin`` context around the hole as a fraction of its extent (0.5), ``pca_dims`` (24),
    ``voting`` (``mean``; ``centre`` for sharp, copy-like fills). Deterministic for a given
    ``rng`` state.
    """

    voting = "mean"

    def __init__(
        self,
        *,
        patch_size: int = 7,
        em_iters: int = 4,
        final_em_iters: int = 2,
        pm_iters: int = 2,
        margin: float = 0.5,
        pca_dims: int = 24,
        voting: str | None = None,
    ) -> None:
        if int(patch_size) != patch_size or patch_size < 3 or patch_size % 2 == 0 or patch_size > 31:
            raise InpaintscopeError(f"patchmatch patch_size must be an odd integer in 3..31, got {patch_size!r}")
        for name, v in (("em_iters", em_iters), ("final_em_iters", final_em_iters), ("pm_iters", pm_iters)):
            if int(v) != v or not 1 <= v <= 50:
                raise InpaintscopeError(f"patchmatch {name} must be an integer in 1..50, got {v!r}")
        if not 0 <= float(margin) <= 4:
            raise InpaintscopeError(f"patchmatch margin must be a fraction in [0, 4], got {margin!r}")
        if int(pca_dims) != pca_dims or pca_dims < 1:
            raise InpaintscopeError(f"patchmatch pca_dims must be a positive integer, got {pca_dims!r}")
        voting = self.voting if voting is None else voting
        if voting not in ("mean", "centre"):
            raise InpaintscopeError(f"patchmatch voting must be 'mean' or 'centre', got {voting!r}")
        super().__init__(
            patch_size=int(patch_size),
            em_iters=int(em_iters),
            final_em_iters=int(final_em_iters),
            pm_iters=int(pm_iters),
            margin=float(margin),
            pca_dims=int(pca_dims),
            voting=voting,
        )

    def _fill(self, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return patchmatch_fill(image, mask, rng=rng, **self.options)


@register_inpainter("patchmatch_sharp")
class SharpPatchMatchInpainter(PatchMatchInpainter):
    """PatchMatch completion whose last step copies pixels instead of averaging votes: sharp fills
    made of pixel-exact chunks of the surroundings, like a converged content-aware fill."""

    voting = "centre"
