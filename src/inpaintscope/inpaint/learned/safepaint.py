"""SafePaint: anti-forensic inpainting by region-wise domain adaptation.

Chen, Liao, Wu, Chen, "SafePaint: Anti-forensic Image Inpainting with Domain Adaptation",
ACM Multimedia 2024, pp. 7774–7782 (arXiv 2404.18136). Re-implemented from the paper and the
architecture of its official code as described in the project's notes (``docs/references.md``);
no code is copied.

* **Stage 1 (coarse)**: the EdgeConnect image network (:mod:`.edgeconnect`), input = image with
  the hole painted white + mask, output ``(tanh + 1) / 2``; ``merged₁ = out₁·m + image·(1 − m)``.
* **Domain-pattern extractor** (:class:`DomainEncoder`, the code's ``StyleEncoder``): partial
  convolutions (Liu et al., ECCV 2018: mask-renormalised, with mask update), 3×3, stride 2, no
  padding, 3→64→128→256→512→512, global average pool, 1×1 conv to a 16-d code. Applied with
  region masks: ``z_bg = E(image, 1 − m)``, ``z_gt = E(image, m)``, ``z_ref = E(merged₂, m)``.
* **Stage 2 (fine)**: input = [merged₁, m, z_bg broadcast] (20 channels; the original
  hard-codes a 256² broadcast, we broadcast to the input size so any size works); the same
  encoder and dilated residual blocks; a decoder with region-wise separated attention
  (:class:`RegionWiseAttention`, the code's ``RASC``) at 1/4, 1/2 and full resolution.
* The code's quirks we keep because they define the published function: the attention's mask
  resampling uses a 2×2 average-pool window even when its stride is 4; its Gaussian kernel is
  ``exp(−((x − μ)/(2σ))²)`` with σ = 1 (effective σ = √2); the "triplet" domain distance uses
  each anchor as its own negative, so it reduces to ``‖z_gt − z_ref‖ + ‖z_ref − z_bg‖ + 2·margin``
  (see :func:`domain_distance`).

``width`` scales every channel count (64·width base channels). At ``width=1`` the parameter
counts are the published ones: generator 28,840,298 (stage 1 10,774,595, extractor 3,919,376,
stage 2 14,146,327); discriminator 2,763,776 (:func:`safepaint_discriminator`). A narrower
width is what trains on a CPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .edgeconnect import DilatedResBlock, EdgeConnectNet, encoder, to_rgb, up

DOMAIN_DIM = 16


class PartialConv(nn.Module):
    """Partial convolution: convolve the valid pixels only, rescale by the valid fraction.

    ``forward(x, valid) -> (y, new_valid)`` with ``valid`` B×1×H×W in {0, 1}. Where a window
    holds no valid pixel the output is 0 and the window is marked invalid.
    """

    def __init__(self, cin: int, cout: int, *, stride: int = 2, bias: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride=stride, bias=bias)
        self.register_buffer("ones", torch.ones(1, 1, 3, 3), persistent=False)

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            count = F.conv2d(valid, self.ones, stride=self.conv.stride)
            new_valid = (count > 0).to(x.dtype)
            ratio = 9.0 / count.clamp(min=1.0) * new_valid
        raw = self.conv(x * valid)
        if self.conv.bias is None:
            return raw * ratio, new_valid
        b = self.conv.bias.view(1, -1, 1, 1)
        return ((raw - b) * ratio + b) * new_valid, new_valid


class DomainEncoder(nn.Module):
    """The domain-pattern extractor: a 16-d code of the pixels where ``region`` is 1."""

    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        ch = [_ch(64, width), _ch(128, width), _ch(256, width), _ch(512, width), _ch(512, width)]
        self.convs = nn.ModuleList(
            [PartialConv(3, ch[0], bias=True)] + [PartialConv(a, b, bias=False) for a, b in zip(ch[:-1], ch[1:])]
        )
        self.norms = nn.ModuleList([nn.Identity()] + [nn.BatchNorm2d(c) for c in ch[1:-1]] + [nn.Identity()])
        self.head = nn.Conv2d(ch[-1], DOMAIN_DIM, 1)

    #: five unpadded stride-2 3×3 convolutions need at least this many pixels per side
    MIN_SIDE = 63

    def forward(self, image: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
        x, valid = image, region
        ph, pw = max(0, self.MIN_SIDE - x.shape[-2]), max(0, self.MIN_SIDE - x.shape[-1])
        if ph or pw:  # pad with invalid pixels: partial convolutions ignore them by construction
            x, valid = F.pad(x, (0, pw, 0, ph)), F.pad(valid, (0, pw, 0, ph))
        last = len(self.convs) - 1
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            x, valid = conv(x, valid)
            if i < last:
                x = F.relu(norm(x))
        return self.head(F.adaptive_avg_pool2d(x, 1)).flatten(1)


def _ch(base: int, width: float) -> int:
    return max(1, int(round(base * width)))


def _gaussian5() -> torch.Tensor:
    x = torch.arange(5, dtype=torch.float32) - 2.0
    g = torch.exp(-((x / 2.0) ** 2))  # the code's exp(−((x − μ)/(2σ))²), σ = 1
    k = torch.outer(g, g)
    return (k / k.sum()).view(1, 1, 5, 5)


class ChannelAttention(nn.Module):
    """concat(global avg, global max) → Linear → ReLU → Linear → sigmoid → scale the channels."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = max(1, channels // 16)
        self.mlp = nn.Sequential(
            nn.Linear(2 * channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels), nn.Sigmoid()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)
        return x * self.mlp(pooled)[:, :, None, None]


class RegionWiseAttention(nn.Module):
    """Region-wise separated attention (RWSA; the code's ``RASC``, after S²AM).

    Background and hole are attended separately; the hole branch gets an extra learned transform
    (conv–BN–ELU ×2); the result is fused with the input by a 1×1 convolution.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        c = channels
        self.attend_background = ChannelAttention(c)
        self.attend_hole = ChannelAttention(c)
        self.attend_style = ChannelAttention(c)
        self.learn = nn.Sequential(
            nn.Conv2d(c, 2 * c, 3, padding=1, bias=False),
            nn.BatchNorm2d(2 * c),
            nn.ELU(inplace=True),
            nn.Conv2d(2 * c, c, 3, padding=1, bias=False),
            nn.BatchNorm2d(c),
            nn.ELU(inplace=True),
        )
        self.fuse = nn.Conv2d(2 * c, c, 1)
        self.register_buffer("gauss", _gaussian5(), persistent=False)

    def _smooth(self, m: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(m, (2, 2, 2, 2), mode="reflect"), self.gauss)

    def forward(self, x: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
        if hole.shape[-1] != x.shape[-1]:
            stride = hole.shape[-1] // x.shape[-1]
            hole = torch.round(F.avg_pool2d(hole, kernel_size=2, stride=stride))  # the code's 2×2 window
            hole = hole[..., : x.shape[-2], : x.shape[-1]]
        soft_hole, soft_bg = self._smooth(hole), self._smooth(1 - hole)
        mixed = (
            self.attend_background(x) * soft_bg + (self.learn(self.attend_style(x)) + self.attend_hole(x)) * soft_hole
        )
        return self.fuse(torch.cat([mixed, x], dim=1))


class FineStage(nn.Module):
    def __init__(self, width: int, blocks: int) -> None:
        super().__init__()
        w = width
        self.encoder = encoder(3 + 1 + DOMAIN_DIM, w)
        self.middle = nn.Sequential(*[DilatedResBlock(4 * w) for _ in range(blocks)])
        self.attention = nn.ModuleList([RegionWiseAttention(4 * w), RegionWiseAttention(2 * w), RegionWiseAttention(w)])
        self.up = nn.ModuleList([up(4 * w, 2 * w), up(2 * w, w)])
        self.out = to_rgb(w)

    def forward(self, merged: torch.Tensor, hole: torch.Tensor, z_bg: torch.Tensor) -> torch.Tensor:
        z = z_bg[:, :, None, None].expand(-1, -1, *merged.shape[-2:])
        x = self.middle(self.encoder(torch.cat([merged, hole, z], dim=1)))
        x = self.up[0](self.attention[0](x, hole))
        x = self.up[1](self.attention[1](x, hole))
        return (torch.tanh(self.out(self.attention[2](x, hole))) + 1) / 2


class SafePaintNet(nn.Module):
    """``forward(image, hole) -> (out₂, [out₁, out₂])``; image in [0, 1], hole 1 = fill, H, W multiples of 4."""

    size_multiple = 4

    def __init__(self, *, width: float = 0.25, blocks: int = 8) -> None:
        super().__init__()
        if not 0 < width <= 4:
            raise ValueError(f"width must be in (0, 4], got {width}")
        base = _ch(64, width)
        self.coarse = EdgeConnectNet(width=base, blocks=blocks)
        self.domain = DomainEncoder(width)
        self.fine = FineStage(base, blocks)

    def forward(self, image: torch.Tensor, hole: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        out1, _ = self.coarse(image, hole)
        merged1 = out1 * hole + image * (1 - hole)
        z_bg = self.domain(image, 1 - hole)
        out2 = self.fine(merged1, hole, z_bg)
        return out2, [out1, out2]


def domain_distance(
    net: SafePaintNet, image: torch.Tensor, result: torch.Tensor, hole: torch.Tensor, *, margin: float = 0.1
) -> torch.Tensor:
    """SafePaint's domain loss (before its 0.01 weight), as its code computes it.

    ``Triplet(z_gt, z_ref, z_gt) + Triplet(z_ref, z_bg, z_ref)``: each negative is its own
    anchor, so this equals ``‖z_gt − z_ref‖ + ‖z_ref − z_bg‖ + 2·margin`` (up to the triplet's
    eps) — it pulls the filled region's domain code toward the real hole's and the background's.
    ``result`` is the composite (merged₂).
    """
    z_bg = net.domain(image, 1 - hole)
    z_gt = net.domain(image, hole)
    z_ref = net.domain(result, hole)
    return F.triplet_margin_loss(z_gt, z_ref, z_gt, margin=margin) + F.triplet_margin_loss(
        z_ref, z_bg, z_ref, margin=margin
    )
