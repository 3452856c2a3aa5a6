"""IID-Net: image inpainting detection network, re-implemented in plain torch.

Wu, H. & Zhou, J., "IID-Net: Image Inpainting Detection Network via Neural Architecture
Search and Attention", IEEE Transactions on Circuits and Systems for Video Technology 32(3),
2022 (arXiv title "GIID-Net"). The layout follows the official release
(``HighwayWu/InpaintingForensics``, ``main.py`` of 2021-02), so official ``IID_weights.pth``
files load strictly; module names reproduce the official state-dict keys exactly (checked by
``tests/test_iid_net.py`` against a list of those keys when it is available). What we kept and
changed, and why: docs/references.md, §1.

Pipeline (input B×3×H×W, **BGR**, ``(x − 0.5) / 0.5``):

1. Enhancement block: normal 5×5 conv, Bayar-constrained 5×5 conv and nine trainable
   first-difference (PF) 3×3 filters, concatenated (3 + 3 + 9 = 15 channels), then
   conv 3×3/2 → BN → ReLU → conv 3×3 → BN → ReLU (64 ch at ⌈H/2⌉).
2. Extraction block: ten Xception-style cells whose three operations were found by NAS
   (the cells of the official code); output stride 8, 256 channels.
3. Decision block: global attention (cosine top-T neighbour averaging, no parameters) and
   local attention (fixed 5×5 depthwise kernel) concatenated with the features (768 ch),
   then three bilinear ×2 stages (align_corners=True) with 3×3 convs, as in the code (the
   paper's figure draws transposed convs instead).
4. Head: unpadded 3×3 median, nearest resize to exactly H×W. ``forward`` returns the
   *logits* at that point; the official sigmoid is the caller's (median and sigmoid commute
   because sigmoid is monotone).

Deliberate fixes (docs/references.md, §1), none of which changes the function at batch size 1:

* The Bayar constraint is a pure function of the stored weight, applied on every forward
  with a straight-through gradient. The official code rewrites the weight in place, which
  only behaves on ≥2 GPUs (DataParallel replicas) and diverges to inf/NaN on one device.
  ``bayar_mode="official"`` reproduces the multi-GPU effective kernel bit for bit (needed
  for official weights); ``bayar_mode="bayar"`` (default for new training) applies the
  intended Bayar & Stamm constraint to all nine kernels.
* The neighbour count T of the global attention is computed per sample
  (``t_mode="sample"``) so outputs do not depend on the rest of the batch; ``t_mode="batch"``
  keeps the official batch-mean rule.
* The cosine denominator gets ε = 1e-8 (a zero feature vector gave NaN), the neighbour
  average is an index gather instead of N×N one-hot matmuls, and the N×N cosine top-k is
  computed in row chunks, so memory is O(N·T·C) plus one bounded chunk.

Official weights need ``bayar_mode="official"``: use :func:`load_official` or
``create_model("iid_net", checkpoint=path, **IIDNet.checkpoint_kwargs)``.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ShapeError, UnknownNameError
from .base import Detector, DetectorOutput, Preprocessing, register_model

__all__ = [
    "BAYAR_MODES",
    "IIDNet",
    "LOCAL_ATTENTION_KERNEL",
    "SMOOTHING_MODES",
    "T_MODES",
    "bayar_constrain",
    "cosine_topk",
    "global_attention",
    "iid_net",
    "load_official",
    "median3x3",
    "neighbour_count",
]

BAYAR_MODES: tuple[str, ...] = ("official", "bayar")
T_MODES: tuple[str, ...] = ("sample", "batch")
SMOOTHING_MODES: tuple[str, ...] = ("median", "box")

#: Fixed kernel of the decision block's local attention; sums to 0.99999 with a centre peak.
LOCAL_ATTENTION_KERNEL: tuple[tuple[float, ...], ...] = (
    (0.03598, 0.03735, 0.03997, 0.03713, 0.03579),
    (0.03682, 0.03954, 0.04446, 0.03933, 0.03673),
    (0.03864, 0.04242, 0.07146, 0.04239, 0.03859),
    (0.03679, 0.03936, 0.04443, 0.03950, 0.03679),
    (0.03590, 0.03720, 0.04003, 0.03738, 0.03601),
)
#: GIID-Net's 5×5 box filter (all 0.04). IID-Net keeps it as the unused ``median.weight``.
BOX_KERNEL_VALUE = 0.04

# The enhancement block's first-difference (PF) filters: (row, col) of the +1 entry; the −1 is at the centre.
_PF_PLUS_ONE: tuple[tuple[int, int], ...] = ((2, 1), (1, 2), (2, 2))

#: The ten cells of the official code: (in, out, stride, dilation, genotype). Codes: 00 SeparableConv 3×3,
#: 01 SepConv 3×3, 02 SepConv 5×5, 03 identity.
CELLS: tuple[tuple[int, int, int, int, tuple[str, str, str]], ...] = (
    (64, 128, 2, 1, ("01", "03", "00")),
    (128, 256, 2, 1, ("02", "00", "00")),
    (256, 256, 1, 1, ("03", "02", "00")),
    (256, 256, 1, 2, ("01", "00", "01")),
    (256, 256, 1, 2, ("00", "02", "00")),
    (256, 256, 1, 2, ("00", "01", "00")),
    (256, 256, 1, 2, ("02", "03", "02")),
    (256, 256, 1, 2, ("03", "03", "00")),
    (256, 256, 1, 2, ("02", "02", "00")),
    (256, 256, 1, 2, ("00", "01", "03")),
)

TOP_K = 15  # the official maximum neighbour count
MIN_SIZE = 16


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UnknownNameError(f"unknown {name} {value!r}; choose one of: {', '.join(choices)}")


# --------------------------------------------------------------------------- Bayar constraint


def _bayar_target(weight: torch.Tensor, mode: str, eps: float) -> torch.Tensor:
    """The Bayar constraint f(W) (official or intended, see :func:`bayar_constrain`) on a detached
    copy; ``weight`` is out×in×k×k with odd k."""
    w = weight.detach().clone()
    c = w.shape[-1] // 2
    if mode == "official":
        # Official order of operations: ×1e4, zero every centre, then normalise only output
        # channel 0 (the Keras-port indexing bug) by its signed sum; the ×1e4 cancels there
        # but stays on output channels 1-2. No epsilon: this must equal the official kernel.
        w = w * 1e4
        w[:, :, c, c] = 0
        k0 = w[0] / w[0].sum(dim=(-2, -1), keepdim=True)
        k0[:, c, c] = -1
        w[0] = k0
        return w
    # Bayar & Stamm: every kernel's off-centre weights sum to +1, centre −1. The sum is
    # signed, so the epsilon keeps the sign of the divisor instead of crossing zero.
    w[:, :, c, c] = 0
    s = w.sum(dim=(-2, -1), keepdim=True)
    w = w / (s + torch.copysign(torch.full_like(s, eps), s))
    w[:, :, c, c] = -1
    return w


def bayar_constrain(weight: torch.Tensor, *, mode: str = "bayar", eps: float = 1e-8) -> torch.Tensor:
    """The effective Bayar kernel ``W + (f(W) − W).detach()``; ``weight`` is never modified.

    The value is the constrained kernel f(W); the gradient reaches ``W`` unchanged
    (straight-through), which is what the official code does on ≥2 GPUs where the in-place
    rewrite only hits DataParallel replicas (docs/references.md, §1, the Bayar row).

    * ``mode="official"``: output channel 0 normalised per input channel by its signed
      off-centre sum (centre −1); output channels 1-2 are 1e4·W with a zero centre.
    * ``mode="bayar"``: all kernels normalised (sum of off-centre weights +1, divisor kept
      ``eps`` away from zero), centre −1.
    """
    _check_choice("bayar_mode", mode, BAYAR_MODES)
    if weight.ndim != 4 or weight.shape[-1] != weight.shape[-2] or weight.shape[-1] % 2 == 0:
        raise ShapeError(f"Bayar weight must be out×in×k×k with odd k, got {tuple(weight.shape)}")
    target = _bayar_target(weight, mode, eps)
    # Same as W + (f(W) − W).detach(), but the value is exactly f(W) (no rounding of W − W).
    return target + (weight - weight.detach())


# --------------------------------------------------------------------------- global attention


def cosine_topk(
    features: torch.Tensor, *, k: int = TOP_K, eps: float = 1e-8, chunk_bytes: int = 64 * 2**20
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` cosine similarities of every row of ``features`` (B×N×C) against all rows.

    S[b,i,j] = ⟨f_i, f_j⟩ / (‖f_i‖·‖f_j‖ + eps), sorted descending, as values and indices
    (B×N×k each). The N×N matrix is never held whole: rows are processed in chunks of at most
    ``chunk_bytes`` per similarity block. No gradient flows (the official code only used the
    indices and a Python-level T).
    """
    if features.ndim != 3:
        raise ShapeError(f"features must be B×N×C, got {tuple(features.shape)}")
    b, n, _ = features.shape
    k = min(k, n)
    with torch.no_grad():
        f = features.detach().float()  # fp16 cosines would reorder near-ties
        norms = f.norm(dim=2)  # B×N
        rows = max(1, int(chunk_bytes) // (n * f.element_size()))
        values = f.new_empty(b, n, k)
        indices = torch.empty(b, n, k, dtype=torch.long, device=f.device)
        for bi in range(b):
            fb, nb = f[bi], norms[bi]
            for r0 in range(0, n, rows):
                r1 = min(n, r0 + rows)
                sim = fb[r0:r1] @ fb.T
                sim /= nb[r0:r1, None] * nb[None, :] + eps
                v, i = torch.topk(sim, k, dim=1)
                values[bi, r0:r1] = v
                indices[bi, r0:r1] = i
    return values, indices


def neighbour_count(top_values: torch.Tensor, *, t_mode: str = "sample", threshold: float = 0.5) -> torch.Tensor:
    """The global attention's dynamic neighbour count T from sorted top-k similarities (B×N×k); returns B longs.

    T = the largest t with mean(V[..., t]) ≥ ``threshold`` (k if none), then at least 2 and
    at most k. The mean runs over each sample's N rows (``"sample"``) or, as in the official
    code, over the whole batch (``"batch"``, every sample gets the same T).
    """
    _check_choice("t_mode", t_mode, T_MODES)
    if top_values.ndim != 3:
        raise ShapeError(f"top_values must be B×N×k, got {tuple(top_values.shape)}")
    b, _, k = top_values.shape
    means = top_values.mean(dim=1)  # B×k
    if t_mode == "batch":
        means = means.mean(dim=0, keepdim=True).expand(b, k)
    t = torch.arange(k, device=top_values.device).expand(b, k)
    largest = torch.where(means >= threshold, t, torch.full_like(t, -1)).amax(dim=1)
    big_t = torch.where(largest >= 0, largest, torch.full_like(largest, k))
    # k < 2 only when the map has a single position: then self is the only neighbour.
    return big_t.clamp(min=2).clamp(max=k)


def global_attention(
    x: torch.Tensor, *, k: int = TOP_K, t_mode: str = "sample", eps: float = 1e-8, chunk_bytes: int = 64 * 2**20
) -> torch.Tensor:
    """The global attention F_global: each position averaged with its T−1 most cosine-similar positions.

    G_i = (f_i + Σ_{t=1}^{T−1} f_{I[i,t]}) / T, where rank 0 is assumed to be the position
    itself (as in the official code) and added explicitly. Implemented as an index gather,
    identical to the official one-hot matmul; gradients flow through the gathered features.
    """
    if x.ndim != 4:
        raise ShapeError(f"global attention expects B×C×h×w, got {tuple(x.shape)}")
    b, c, h, w = x.shape
    feats = x.permute(0, 2, 3, 1).reshape(b, h * w, c)  # row-major positions, as the official code
    values, indices = cosine_topk(feats, k=k, eps=eps, chunk_bytes=chunk_bytes)
    big_t = neighbour_count(values, t_mode=t_mode)  # B
    out = feats
    for t in range(1, int(big_t.max())):
        gathered = torch.gather(feats, 1, indices[:, :, t : t + 1].expand(b, h * w, c))
        keep = (big_t > t).to(feats.dtype).view(b, 1, 1)  # samples with a smaller T stop here
        out = out + gathered * keep
    out = out / big_t.to(feats.dtype).view(b, 1, 1)
    return out.reshape(b, h, w, c).permute(0, 3, 1, 2)


def median3x3(x: torch.Tensor) -> torch.Tensor:
    """Unpadded 3×3 median of a B×1×h×w map, giving B×1×(h−2)×(w−2) (5th of 9 values)."""
    if x.ndim != 4 or x.shape[1] != 1 or x.shape[2] < 3 or x.shape[3] < 3:
        raise ShapeError(f"median3x3 expects B×1×h×w with h, w ≥ 3, got {tuple(x.shape)}")
    b, _, h, w = x.shape
    patches = F.unfold(x, kernel_size=3)  # B×9×L
    return patches.median(dim=1).values.view(b, 1, h - 2, w - 2)


# --------------------------------------------------------------------------- building blocks


class SeparableConv2d(nn.Module):
    """Op ``00`` and each cell's leading conv: "fixed" padding (k_eff − 1 split begin/end),
    depthwise k×k (stride, dilation) → BN(in) → pointwise 1×1 in→out, no biases."""

    def __init__(self, c_in: int, c_out: int, *, kernel_size: int = 3, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_in, kernel_size, stride, 0, dilation, groups=c_in, bias=False)
        self.bn = nn.BatchNorm2d(c_in)
        self.pointwise = nn.Conv2d(c_in, c_out, 1, bias=False)
        k_eff = kernel_size + (kernel_size - 1) * (dilation - 1)
        self._pad = ((k_eff - 1) // 2, (k_eff - 1) - (k_eff - 1) // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lo, hi = self._pad
        return self.pointwise(self.bn(self.conv1(F.pad(x, (lo, hi, lo, hi)))))


class SepConv(nn.Module):
    """Ops ``01``/``02``: ReLU → depthwise k×k (stride, pad k//2; dilation ignored as in the
    code) → pointwise 1×1 → BN without affine."""

    def __init__(self, channels: int, *, kernel_size: int, stride: int = 1) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(channels, channels, kernel_size, stride, kernel_size // 2, groups=channels, bias=False),
            nn.Conv2d(channels, channels, 1, bias=False),
            nn.BatchNorm2d(channels, affine=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


def _operation(code: str, channels: int, *, stride: int, dilation: int) -> nn.Module:
    if code == "00":
        return SeparableConv2d(channels, channels, stride=stride, dilation=dilation)
    if code == "01":
        return SepConv(channels, kernel_size=3, stride=stride)
    if code == "02":
        return SepConv(channels, kernel_size=5, stride=stride)
    if code == "03":
        return nn.Identity()  # ignores the stride, as in the code; never used where stride is 2
    raise ValueError(f"unknown NAS operation code {code!r}")


class Cell(nn.Module):
    """Xception-style block with three NAS-chosen operations.

    main = [ReLU] → SeparableConv in→out (dilation d) → BN → 3 × (ReLU → op → BN), the last op
    with the cell stride and dilation 1; output = main + skip (1×1 conv + BN when the shape
    changes). The ReLUs are not in place, so the skip path sees the un-rectified input.
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        *,
        stride: int,
        dilation: int,
        genotype: tuple[str, str, str],
        start_with_relu: bool = True,
    ) -> None:
        super().__init__()
        if c_in != c_out or stride != 1:
            self.skip = nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)
            self.skipbn = nn.BatchNorm2d(c_out)
        else:
            self.skip = None
        layers: list[nn.Module] = [nn.ReLU(), SeparableConv2d(c_in, c_out, dilation=dilation), nn.BatchNorm2d(c_out)]
        for i, code in enumerate(genotype):
            last = i == len(genotype) - 1
            layers += [
                nn.ReLU(),
                _operation(code, c_out, stride=stride if last else 1, dilation=1 if last else dilation),
                nn.BatchNorm2d(c_out),
            ]
        if not start_with_relu:
            layers = layers[1:]  # keeps the official Sequential indices (cell1.rep.0 = SeparableConv)
        self.rep = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.skip is None else self.skipbn(self.skip(x))
        return self.rep(x) + skip


class _Upsample2x(nn.Module):
    """``nn.UpsamplingBilinear2d(scale_factor=2)`` (align_corners=True) without its deprecation warning."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=True)


def _frozen_depthwise(channels: int, value: torch.Tensor) -> nn.Conv2d:
    conv = nn.Conv2d(channels, channels, 5, padding=2, groups=channels, bias=False)
    conv.weight.requires_grad_(False)
    with torch.no_grad():
        conv.weight.copy_(value.expand_as(conv.weight))
    return conv


class GlobalLocalAttention(nn.Module):
    """Decision-block attention (global and local): returns [X, F_global, F_local] (3C channels)."""

    def __init__(self, channels: int = 256, *, t_mode: str = "sample", chunk_bytes: int = 64 * 2**20) -> None:
        super().__init__()
        _check_choice("t_mode", t_mode, T_MODES)
        self.t_mode = t_mode
        self.chunk_bytes = chunk_bytes
        # Frozen parameter (not a buffer) so the key and the "all parameters" count match the official net.
        self.local_att = _frozen_depthwise(channels, torch.tensor(LOCAL_ATTENTION_KERNEL))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f_global = global_attention(x, t_mode=self.t_mode, chunk_bytes=self.chunk_bytes)
        return torch.cat([x, f_global, self.local_att(x)], dim=1)


# --------------------------------------------------------------------------- the detector


class IIDNet(Detector):
    """IID-Net (Wu & Zhou, IEEE TCSVT 2022), official code layout; see the module docstring.

    Args:
        bayar_mode: ``"bayar"`` (default, for new training) or ``"official"`` (needed for
            official weights; reproduces the official effective kernel).
        t_mode: ``"sample"`` (default; no batch leakage) or ``"batch"`` (official rule).
        freeze_pf: keep the nine first-difference filters at their initial values.
        smoothing: ``"median"`` (IID-Net: unpadded 3×3 median) or ``"box"`` (GIID-Net: the
            fixed 5×5 box filter, padding 2, applied to the logits before the resize).
        attention_chunk_mb: size bound of one block of the N×N cosine matrix.

    ``forward`` takes BGR input in [−1, 1] (see :attr:`preprocessing`) of any H, W ≥ 16 and
    returns :class:`DetectorOutput` with ``mask_logits`` B×1×H×W; IID-Net has no image-level
    head, so ``image_logit`` is ``None``.
    """

    preprocessing: ClassVar[Preprocessing] = Preprocessing("bgr", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    size_multiple: ClassVar[int] = 1
    #: output stride 8 and the 3×3 median need at least a 2×2 feature map
    min_size: ClassVar[int] = MIN_SIZE
    #: kwargs that official (third-party) checkpoints need with ``create_model(..., checkpoint=...)``.
    checkpoint_kwargs: ClassVar[dict[str, Any]] = {"bayar_mode": "official"}

    def __init__(
        self,
        *,
        bayar_mode: str = "bayar",
        t_mode: str = "sample",
        freeze_pf: bool = False,
        smoothing: str = "median",
        attention_chunk_mb: float = 64.0,
    ) -> None:
        super().__init__()
        _check_choice("bayar_mode", bayar_mode, BAYAR_MODES)
        _check_choice("t_mode", t_mode, T_MODES)
        _check_choice("smoothing", smoothing, SMOOTHING_MODES)
        if attention_chunk_mb <= 0:
            raise ValueError(f"attention_chunk_mb must be positive, got {attention_chunk_mb}")
        self.bayar_mode = bayar_mode
        self.smoothing = smoothing

        # Enhancement block; attribute order = official key order.
        self.normal_conv = nn.Conv2d(3, 3, 5, padding=2, bias=False)
        self.pf_conv = nn.Conv2d(3, 9, 3, padding=1, bias=False)
        self.bayar_conv = nn.Conv2d(3, 3, 5, padding=2, bias=False)
        self.conv1 = nn.Conv2d(15, 32, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.reset_pf()
        self.pf_conv.weight.requires_grad_(not freeze_pf)

        # Extraction block: cell1 … cell10.
        for i, (c_in, c_out, stride, dilation, genotype) in enumerate(CELLS, start=1):
            # cell1 drops its leading ReLU: the enhancement block already ends in one.
            setattr(
                self,
                f"cell{i}",
                Cell(c_in, c_out, stride=stride, dilation=dilation, genotype=genotype, start_with_relu=i != 1),
            )

        # Decision block, Sequential indices as in the official code.
        self.att = GlobalLocalAttention(256, t_mode=t_mode, chunk_bytes=int(attention_chunk_mb * 2**20))
        self.decision = nn.Sequential(
            _Upsample2x(),
            nn.Conv2d(768, 256, 3, padding=1),
            nn.BatchNorm2d(256),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1),
            nn.BatchNorm2d(256),
            nn.ReLU(inplace=True),
            _Upsample2x(),
            nn.Conv2d(256, 256, 3, padding=1),
            nn.BatchNorm2d(256),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1),
            nn.BatchNorm2d(256),
            nn.ReLU(inplace=True),
            _Upsample2x(),
            nn.Conv2d(256, 1, 3, padding=1),
        )
        # The official net keeps GIID's box filter as an unused frozen parameter named "median".
        self.median = nn.Conv2d(1, 1, 5, padding=2, bias=False)
        self.median.weight.requires_grad_(False)
        with torch.no_grad():
            self.median.weight.fill_(BOX_KERNEL_VALUE)

    @property
    def t_mode(self) -> str:
        return self.att.t_mode

    def reset_pf(self) -> None:
        """Set the PF kernels to PF1, PF2, PF3 ×3, identical on all input channels."""
        with torch.no_grad():
            self.pf_conv.weight.zero_()
            for idx in range(9):
                r, c = _PF_PLUS_ONE[idx % 3]
                self.pf_conv.weight[idx, :, 1, 1] = -1.0
                self.pf_conv.weight[idx, :, r, c] = 1.0

    def effective_bayar_weight(self) -> torch.Tensor:
        """The Bayar kernel the forward pass uses (straight-through; the parameter is untouched)."""
        return bayar_constrain(self.bayar_conv.weight, mode=self.bayar_mode)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Enhancement + extraction: B×256×⌈H/8⌉×⌈W/8⌉ (⌈n/2⌉ per stride-2 stage)."""
        bayar_x = F.conv2d(x, self.effective_bayar_weight(), padding=2)
        x = torch.cat([self.normal_conv(x), bayar_x, self.pf_conv(x)], dim=1)
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        for i in range(1, len(CELLS) + 1):
            x = getattr(self, f"cell{i}")(x)
        return x

    def forward(self, x: torch.Tensor) -> DetectorOutput:
        self.check_input(x)  # BGR, (x − 0.5)/0.5 (model.preprocess); H, W ≥ 16
        h, w = x.shape[-2:]
        logits = self.decision(self.att(self.features(x)))  # B×1×8⌈H/8⌉×8⌈W/8⌉
        if self.smoothing == "median":
            logits = median3x3(logits)
        else:
            logits = self.median(logits)
        # Default "nearest" (not nearest-exact), as the official F.interpolate(x, (H, W)).
        logits = F.interpolate(logits, size=(h, w), mode="nearest")
        return DetectorOutput(mask_logits=logits)

    def adapt_state_dict(self, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Accept official GIID/IID checkpoints (identical key names) and partial saves.

        Strips any remaining ``module.`` prefixes (nested DataParallel) and fills in the two
        frozen constants (``att.local_att.weight``, ``median.weight``) when a checkpoint
        saved only trainable tensors; everything else must match strictly.
        """
        sd = dict(state_dict)
        while any(k.startswith("module.") for k in sd):
            sd = {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in sd.items()}
        for key in ("att.local_att.weight", "median.weight"):
            if key not in sd:
                sd[key] = self.state_dict()[key].detach().clone()
        return sd


@register_model("iid_net")
def iid_net(**kwargs: Any) -> IIDNet:
    """IID-Net (Wu & Zhou, TCSVT 2022). kwargs: ``bayar_mode`` ("bayar" default; official
    weights need "official"), ``t_mode``, ``freeze_pf``, ``smoothing``, ``attention_chunk_mb``."""
    return IIDNet(**kwargs)


# create_model applies these when loading third-party (.pth) weights, so
# create_model("iid_net", checkpoint="IID_weights.pth") reproduces the official function.
iid_net.checkpoint_kwargs = IIDNet.checkpoint_kwargs  # type: ignore[attr-defined]


def load_official(path: str | os.PathLike, **kwargs: Any) -> IIDNet:
    """Build IID-Net with ``bayar_mode="official"`` and strictly load an official checkpoint
    (``IID_weights.pth`` or GIID's, ``module.`` prefixes allowed); returns it in eval mode.
    Remember the official output is ``sigmoid(mask_logits)`` on BGR input in [−1, 1]."""
    from .factory import create_model

    model = create_model("iid_net", checkpoint=path, **{**IIDNet.checkpoint_kwargs, **kwargs})
    assert isinstance(model, IIDNet)
    return model
