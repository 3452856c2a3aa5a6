"""SCOPE: inpaintscope's own fast inpainting detector family (``scope_tiny``, ``scope_small``).

Designed for a laptop CPU and for large photos: every operation is local (convolutions,
bilinear resampling, per-image pooling), so time and memory grow linearly with the number of
pixels, unlike IID-Net's N×N global attention (docs/references.md, §1 and §7).

Layout (all widths for ``scope_tiny``; ``scope_small`` uses 24-48-96-192):

1. **Noise front end at full resolution** (inpainting traces are pixel-level, so nothing is
   downsampled before it):

   * fixed high-pass kernels applied to each RGB channel separately: horizontal and vertical
     first differences (as IID-Net's PF filters) and the SRM KV and 3×3 second-order
     kernels (as NIX-Net's residual; Fridrich & Kodovský, "Rich Models for Steganalysis", TIFS 2012), in
     0–255 units and soft-clipped (``tanh(r / clip)``) so strong edges do not swamp weak noise;
   * a learned Bayar-constrained 5×5 conv (Bayar & Stamm, "Constrained Convolutional Neural
     Networks", TIFS 2018): centre −1, off-centre weights summing to +1, imposed by
     :func:`bayar_constrain` as a pure function of the stored weight on every forward (no
     in-place mutation, so one GPU, several or the CPU give the same result; cf. IID-Net's, docs/references.md §1);
   * the image itself (as ``tanh(x01 / 2)``), so colour/semantic cues are available too.

   A 1×1 conv mixes the 18 channels into 16 at full resolution.
2. **Encoder**: full resolution (16) → /2 (32) → /4 (64) → /8 (128), then a /16 context stage
   (128, dilated blocks). Blocks are depthwise-separable residual units.
3. **U-Net decoder** (FPN-style merges): 1×1 projection, bilinear ×2, add the encoder skip,
   one block; back to full resolution, then a 1×1 mask head giving logits at input size.
4. **Image head**: average- and max-pooled /4 decoder features, plus the mean of the top 1 %
   mask logits and the mean mask logit → MLP (32 hidden) → one image logit.

``scope_fast`` (the default model) changes one thing: after the front end, each 2×2 block of the
18 residual channels is folded into 72 channels at half resolution (pixel unshuffle, lossless),
so the U-Net runs at strides 2-4-8-16 with context at /32 (widths 32-64-128-192), and the mask
head emits 4 logits per half-resolution position that a pixel shuffle puts back on their own
pixels. The full-resolution feature maps, the most expensive part on CPU (memory-bound adds
and activations over 24+ channels), are gone; per-pixel masks are kept.

Any H, W: the input is reflect-padded to a multiple of ``16·stem_stride`` and the outputs cropped back; the
image head pools only over the unpadded area. BatchNorm uses running statistics in eval mode,
so inference never depends on the rest of the batch; there it is folded into the convolutions.
Input: RGB float in [0, 1].
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ShapeError
from ..tiling import pad_to_multiple
from .base import Detector, DetectorOutput, Preprocessing, register_model
from .cues.copy import copy_cue

#: cues a SCOPE model can take as extra input channels, and their channel counts
CUES = {"copy": 2}


def bayar_constrain(weight: torch.Tensor) -> torch.Tensor:
    """Return a copy of ``weight`` (O×I×k×k, k odd) with centre −1 and off-centre sum +1 per kernel.

    Bayar & Stamm divide the off-centre weights by their sum, which explodes when that sum is
    near 0 (the failure mode of IID-Net's port, docs/references.md §1). We instead project orthogonally onto
    the constraint plane: subtract the off-centre mean and add 1/(k²−1). It is linear, so
    gradients are well-conditioned, and a constrained weight is a fixed point.
    """
    k = weight.shape[-1]
    if weight.ndim != 4 or k != weight.shape[-2] or k % 2 == 0:
        raise ShapeError(f"Bayar weights must be O×I×k×k with odd k, got {tuple(weight.shape)}")
    off = torch.ones(k, k, dtype=weight.dtype, device=weight.device)
    off[k // 2, k // 2] = 0.0
    n = k * k - 1
    w = weight * off
    w = w - (w.sum(dim=(-2, -1), keepdim=True) / n) * off + off / n
    return w - (1.0 - off)  # centre = −1


def highpass_kernels() -> torch.Tensor:
    """Four fixed 5×5 high-pass kernels (4×5×5): ∂x, ∂y first differences, SRM KV/12, SRM 3×3/4."""
    k = torch.zeros(4, 5, 5, dtype=torch.float64)
    k[0, 2, 2], k[0, 2, 3] = -1.0, 1.0  # x(i, j+1) − x(i, j)
    k[1, 2, 2], k[1, 3, 2] = -1.0, 1.0  # x(i+1, j) − x(i, j)
    k[2] = (
        torch.tensor(
            [[-1, 2, -2, 2, -1], [2, -6, 8, -6, 2], [-2, 8, -12, 8, -2], [2, -6, 8, -6, 2], [-1, 2, -2, 2, -1]],
            dtype=torch.float64,
        )
        / 12.0
    )
    k[3, 1:4, 1:4] = torch.tensor([[-1, 2, -1], [2, -4, 2], [-1, 2, -1]], dtype=torch.float64) / 4.0
    return k.to(torch.float32)


class NoiseFrontEnd(nn.Module):
    """Image + fixed per-channel high-pass residuals + Bayar conv: 3 + 12 + B channels.

    Residuals are taken in 0–255 units and soft-clipped to ±1 by ``tanh(r / clip)``: sensor and
    generator noise are a few grey levels, edges hundreds, and the clip keeps edges from
    dominating while leaving the weak noise nearly linear. The Bayar output gets the same
    treatment, so every channel is O(1) and no input normalisation layer is needed.

    All three parts are one 5×5 convolution followed by one tanh (a single dense conv is ~2.5×
    faster on CPU than a depthwise and a dense conv plus a concatenation): the image passes
    through centre-tap kernels scaled so that its channels come out as ``tanh(x01 / 2)``, a
    nearly linear map of [0, 1].
    """

    def __init__(self, *, bayar_channels: int = 3, clip: float = 8.0) -> None:
        super().__init__()
        if clip <= 0:
            raise ShapeError(f"clip must be > 0 (grey levels), got {clip}")
        self.clip = float(clip)
        fixed = torch.zeros(15, 3, 5, 5)
        for c in range(3):
            fixed[c, c, 2, 2] = 0.5 * self.clip / 255.0  # identity: tanh(x01 / 2) after scaling
            fixed[3 + 4 * c : 7 + 4 * c, c] = highpass_kernels()  # colour c alone, 4 kernels
        self.register_buffer("fixed_weight", fixed)
        self.bayar_weight = nn.Parameter(torch.empty(bayar_channels, 3, 5, 5))
        nn.init.kaiming_uniform_(self.bayar_weight, a=math.sqrt(5))
        self.out_channels = 15 + bayar_channels

    def forward(self, x01: torch.Tensor) -> torch.Tensor:
        w = torch.cat([self.fixed_weight.to(x01.dtype), bayar_constrain(self.bayar_weight)])
        # the filters are linear, so scaling the 3 input channels by 255/clip equals dividing
        # the outputs (in grey levels) by clip
        return torch.tanh(F.conv2d(x01 * (255.0 / self.clip), w, padding=2))


class ConvBN(nn.Module):
    """Conv (no bias) → BatchNorm → optional ReLU. In eval mode the BN is folded into the conv
    weights on the fly (same result up to rounding), which saves a full pass over the feature
    map: at full resolution these memory-bound passes dominate CPU time."""

    def __init__(
        self, cin: int, cout: int, *, k: int = 3, stride: int = 1, dilation: int = 1, groups: int = 1, relu: bool = True
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, dilation * (k // 2), dilation=dilation, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            y = self.bn(self.conv(x))
        else:
            bn = self.bn
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            w = self.conv.weight * scale.view(-1, 1, 1, 1)
            b = bn.bias - bn.running_mean * scale
            c = self.conv
            y = F.conv2d(x, w, b, c.stride, c.padding, c.dilation, c.groups)
        return F.relu(y, inplace=True) if self.relu else y


class SepBlock(nn.Module):
    """Residual depthwise-separable unit: dw 3×3 (dilation d) → BN → ReLU → pw 1×1 → BN, + x, ReLU."""

    def __init__(self, c: int, *, dilation: int = 1) -> None:
        super().__init__()
        self.dw = ConvBN(c, c, dilation=dilation, groups=c)
        self.pw = ConvBN(c, c, k=1, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.pw(self.dw(x)), inplace=True)


class UpBlock(nn.Module):
    """FPN-style merge: 1×1 projection at the coarse level (cheap), bilinear up to the skip's
    size, add the skip, one SepBlock. Adding instead of concatenating avoids a wide full-size
    tensor and a wide 1×1 conv at the finest levels."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.proj = ConvBN(cin, cout, k=1, relu=False)
        self.block = SepBlock(cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(self.proj(x), size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.block(x + skip)


def _int_sequence(name: str, value: object, length: int, *, minimum: int) -> tuple[int, ...]:
    """``value`` as a tuple of ``length`` integers >= ``minimum``, or a ShapeError saying so."""
    ok = (
        isinstance(value, (list, tuple))
        and len(value) == length
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in value)
    )
    if not ok:
        what = f"{length} integers >= {minimum}" if length > 1 else f"an integer >= {minimum}"
        shown = value if length > 1 or not isinstance(value, (list, tuple)) else value[0]
        raise ShapeError(f"{name} must be {what}, got {shown!r}")
    return tuple(int(v) for v in value)  # type: ignore[union-attr]


class Scope(Detector):
    """The SCOPE detector; see the module docstring. ``widths`` = channels at strides 1, 2, 4, 8
    times ``stem_stride`` (the context stage below them reuses the last width). ``depths`` =
    SepBlocks per encoder stage. ``stride`` (set per instance) is the padding multiple."""

    preprocessing = Preprocessing()  # RGB in [0, 1]
    size_multiple = 1  # any size: padded internally to a multiple of `stride`
    topk_fraction = 0.01

    def __init__(
        self,
        *,
        widths: tuple[int, int, int, int] = (16, 32, 64, 128),
        depths: tuple[int, ...] = (1, 1, 2, 2, 2),
        bayar_channels: int = 3,
        clip: float = 8.0,
        head_hidden: int = 32,
        stem_stride: int = 1,
        cues: tuple[str, ...] = (),
        cue_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        # kwargs also come from checkpoint files: check types and signs before building anything
        widths, depths = _int_sequence("widths", widths, 4, minimum=1), _int_sequence("depths", depths, 5, minimum=0)
        bayar_channels = _int_sequence("bayar_channels", [bayar_channels], 1, minimum=0)[0]
        head_hidden = _int_sequence("head_hidden", [head_hidden], 1, minimum=1)[0]
        if not (isinstance(clip, (int, float)) and not isinstance(clip, bool) and math.isfinite(clip)):
            raise ShapeError(f"clip must be a finite number (grey levels), got {clip!r}")
        if stem_stride not in (1, 2) or isinstance(stem_stride, bool):
            raise ShapeError(f"stem_stride must be 1 or 2, got {stem_stride!r}")
        if isinstance(cues, str) or not all(isinstance(c, str) for c in cues):
            raise ShapeError(f"cues must be a list of cue names, got {cues!r}")
        unknown = sorted(set(cues) - set(CUES))
        if unknown:
            raise ShapeError(f"unknown cue(s) {unknown}; available: {', '.join(CUES)}")
        if not (isinstance(cue_dropout, (int, float)) and 0.0 <= cue_dropout < 1.0):
            raise ShapeError(f"cue_dropout must be in [0, 1), got {cue_dropout!r}")
        self.cues = tuple(cues)
        self.cue_dropout = float(cue_dropout)
        self.cue_channels = sum(CUES[c] for c in self.cues)
        self.front = NoiseFrontEnd(bayar_channels=bayar_channels, clip=clip)
        self.stem_stride = int(stem_stride)
        self.stride = 16 * self.stem_stride
        c0, c1, c2, c3 = widths
        chans = (c0, c1, c2, c3, c3)
        # 1×1: the front end's 5×5 filters already give the spatial support, and a 3×3 here
        # would be the single most expensive op of the network (full resolution, 18 inputs).
        # stem_stride 2 folds each 2×2 block of residuals into channels (pixel unshuffle: no
        # information lost) so the network proper starts at half resolution.
        s2 = self.stem_stride**2
        self.stem = ConvBN(self.front.out_channels * s2 + self.cue_channels, c0, k=1)
        self.downs = nn.ModuleList([ConvBN(chans[i], chans[i + 1], stride=2) for i in range(4)])
        # dilations at /16 widen the receptive field (context for large holes) at no extra cost
        self.stages = nn.ModuleList(
            [
                nn.Sequential(*[SepBlock(chans[i], dilation=(1 + j if i == 4 else 1)) for j in range(depths[i])])
                for i in range(5)
            ]
        )
        self.ups = nn.ModuleList([UpBlock(chans[i + 1], chans[i]) for i in reversed(range(4))])
        # stem_stride 2: one logit per pixel of each 2×2 block, shuffled back to full resolution
        self.mask_head = nn.Conv2d(c0, s2, 1)
        self.image_head = nn.Sequential(
            nn.Linear(2 * c2 + 2, head_hidden), nn.ReLU(inplace=True), nn.Linear(head_hidden, 1)
        )

    def forward(self, x: torch.Tensor, cue_maps: torch.Tensor | None = None) -> DetectorOutput:
        """``cue_maps`` (B×C×H×W, see :meth:`compute_cues`) may be passed by a trainer that
        cached them; otherwise they are computed here, so the model stays a function of ``x``."""
        self.check_input(x)
        h, w = x.shape[-2:]
        if self.cues and cue_maps is None:
            cue_maps = self.compute_cues(x)
        # padded here, not by predict: the image head must pool over the unpadded area only
        x = pad_to_multiple(x, self.stride)
        # NHWC is what oneDNN's depthwise and 1×1 kernels are fast on (about 1.3× on CPU here)
        x = x.contiguous(memory_format=torch.channels_last)
        r = self.front(x)
        if self.stem_stride > 1:
            r = F.pixel_unshuffle(r, self.stem_stride).contiguous(memory_format=torch.channels_last)
        if self.cues:
            r = torch.cat([r, self._cue_input(cue_maps, r.shape[-2:])], dim=1)
        y = self.stages[0](self.stem(r))
        skips = [y]
        for down, stage in zip(self.downs, self.stages[1:]):
            y = stage(down(y))
            skips.append(y)
        y = skips.pop()
        pooled = None
        for i, up in enumerate(self.ups):
            y = up(y, skips.pop())
            if i == 1:  # the decoder level at 4× the stem stride feeds the image head
                pooled = self._pool(y, h, w, 4 * self.stem_stride)
        logits = self.mask_head(y)
        if self.stem_stride > 1:
            logits = F.pixel_shuffle(logits, self.stem_stride)
        logits = logits[..., :h, :w].contiguous()
        flat = logits.flatten(1)
        k = max(1, int(round(self.topk_fraction * flat.shape[1])))
        stats = torch.stack([flat.topk(k, dim=1).values.mean(dim=1), flat.mean(dim=1)], dim=1)
        image_logit = self.image_head(torch.cat([pooled, stats], dim=1))
        return DetectorOutput(mask_logits=logits, image_logit=image_logit)

    def compute_cues(self, x01: torch.Tensor) -> torch.Tensor:
        """The cue maps of an RGB [0, 1] batch at input size: the copy cue's strength (scaled to
        about [−1, 3]) and coherence ([0, 1])."""
        maps = []
        if "copy" in self.cues:
            copy = copy_cue(x01)
            maps.append(torch.cat([copy[:, :1] / 4.0, copy[:, 1:]], dim=1))
        return torch.cat(maps, dim=1).to(x01.dtype)

    def _cue_input(self, cue_maps: torch.Tensor, size: torch.Size) -> torch.Tensor:
        """Cue maps padded like the image and brought to the stem's resolution; during training
        each image's cues are dropped (zeroed: "no evidence") with probability ``cue_dropout``,
        so the network also works where a cue says nothing."""
        if cue_maps.shape[1] != self.cue_channels:
            raise ShapeError(f"expected {self.cue_channels} cue channels, got {cue_maps.shape[1]}")
        maps = pad_to_multiple(cue_maps, self.stride)
        if self.stem_stride > 1:
            maps = F.avg_pool2d(maps, self.stem_stride)
        maps = maps[..., : size[0], : size[1]]
        if self.training and self.cue_dropout:
            keep = (torch.rand(maps.shape[0], 1, 1, 1, device=maps.device) >= self.cue_dropout).to(maps.dtype)
            maps = maps * keep
        return maps.contiguous(memory_format=torch.channels_last)

    @staticmethod
    def _pool(feat: torch.Tensor, h: int, w: int, scale: int) -> torch.Tensor:
        """Average + max over the part of a /``scale`` map that covers the unpadded image."""
        f = feat[..., : -(-h // scale), : -(-w // scale)]
        return torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)


@register_model("scope_tiny")
def scope_tiny(
    *, depths: tuple[int, ...] = (1, 1, 2, 2, 2), bayar_channels: int = 3, clip: float = 8.0, head_hidden: int = 32
) -> Scope:
    """SCOPE with widths 16-32-64-128: the fastest CPU detector of the zoo."""
    return Scope(
        widths=(16, 32, 64, 128), depths=depths, bayar_channels=bayar_channels, clip=clip, head_hidden=head_hidden
    )


@register_model("scope_small")
def scope_small(
    *, depths: tuple[int, ...] = (1, 1, 2, 2, 2), bayar_channels: int = 3, clip: float = 8.0, head_hidden: int = 32
) -> Scope:
    """SCOPE with widths 24-48-96-192."""
    return Scope(
        widths=(24, 48, 96, 192), depths=depths, bayar_channels=bayar_channels, clip=clip, head_hidden=head_hidden
    )


@register_model("scope_fast")
def scope_fast(
    *, depths: tuple[int, ...] = (1, 1, 2, 2, 2), bayar_channels: int = 3, clip: float = 8.0, head_hidden: int = 32
) -> Scope:
    """SCOPE with a stride-2 stem (residuals pixel-unshuffled to half resolution) and widths
    32-64-128-192 at strides 2-4-8-16 (context at /32): about 1.8× faster than ``scope_small``
    on CPU, with a larger receptive field. The default detector's architecture."""
    return Scope(
        widths=(32, 64, 128, 192),
        depths=depths,
        bayar_channels=bayar_channels,
        clip=clip,
        head_hidden=head_hidden,
        stem_stride=2,
    )


@register_model("scope_cue")
def scope_cue(
    *,
    depths: tuple[int, ...] = (1, 1, 2, 2, 2),
    bayar_channels: int = 3,
    clip: float = 8.0,
    head_hidden: int = 32,
    cues: tuple[str, ...] = ("copy",),
    cue_dropout: float = 0.0,
) -> Scope:
    """``scope_fast`` with cue maps as extra input channels at the stem (early fusion): by default
    the copy cue (:mod:`.cues.copy`), which finds regions copied from elsewhere in the same photo
    (exemplar fills, clone stamp). Trained with ``cue_dropout`` so a silent cue does no harm."""
    return Scope(
        widths=(32, 64, 128, 192),
        depths=depths,
        bayar_channels=bayar_channels,
        clip=clip,
        head_hidden=head_hidden,
        stem_stride=2,
        cues=cues,
        cue_dropout=cue_dropout,
    )
