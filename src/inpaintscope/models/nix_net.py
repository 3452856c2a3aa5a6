"""NIX-Net as re-implemented in the Bochum report "Inpainting Detection" (``nix_net_40|60|85``).

NIX-Net (Li et al., "Noise Doesn't Lie: Towards Universal Detection of Deep Inpainting",
IJCAI 2021, arXiv 2106.01532) runs two streams, one on the RGB image and one on its SRM noise
residual, exchanges information across scales HRNet-style and predicts a mask. The paper gives
no channel widths; we follow the three re-implementations of the Bochum report (Adler et al.
2023, a student project report of Ruhr-Universität Bochum; docs/references.md, §2) exactly
(parameter counts 39,442,053 / 60,046,853 / 85,226,501), with two changes that keep the function:

* the SRM residual is computed **inside** the model from the [0, 1] RGB input with a fixed
  (non-trainable) filter bank stored as a buffer, so it runs on the model's device and a
  checkpoint is self-contained (the Bochum report computed it in the Dataset on CPU);
* upsample targets are taken from the actual feature sizes at forward time, so any H, W
  divisible by 8 works; at 512² this is identical to the Bochum report's hard-coded sizes;
* the head's final BN(1) + ReLU before the 1×1 output conv is kept for fidelity, which makes
  the pre-affine map non-negative: the logits are ``a·z + b`` with ``z ≥ 0``.

Input: RGB float in [0, 1], no mean/std normalisation. Output: mask logits only (the Bochum report's
NIX has no image-level head).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InpaintscopeError
from .base import Detector, DetectorOutput, Preprocessing, register_model

ResidualMode = Literal["report", "rgbn"]
RESIDUAL_MODES: tuple[str, ...] = ("report", "rgbn")


def srm_kernels(*, vertical_s3: bool = True) -> torch.Tensor:
    """The three 5×5 SRM kernels of the Bochum report's residual as a 3×3×5×5 weight (out, in, kH, kW).

    Each output channel applies one filter to R, G and B with identical weights and sums them,
    as the Bochum report's code does. ``vertical_s3`` selects the Bochum report's S3 (centre *column*
    [1, −2, 1] / 2); ``False`` gives RGB-N's horizontal second difference (centre row).
    """
    s1 = (
        torch.tensor(
            [[-1, 2, -2, 2, -1], [2, -6, 8, -6, 2], [-2, 8, -12, 8, -2], [2, -6, 8, -6, 2], [-1, 2, -2, 2, -1]],
            dtype=torch.float64,
        )
        / 12.0
    )
    s2 = torch.zeros(5, 5, dtype=torch.float64)
    s2[1:4, 1:4] = torch.tensor([[-1, 2, -1], [2, -4, 2], [-1, 2, -1]], dtype=torch.float64)
    s2 /= 4.0
    s3 = torch.zeros(5, 5, dtype=torch.float64)
    line = torch.tensor([1.0, -2.0, 1.0], dtype=torch.float64) / 2.0
    if vertical_s3:
        s3[1:4, 2] = line
    else:
        s3[2, 1:4] = line
    bank = torch.stack([s1, s2, s3])  # 3×5×5
    return bank[:, None].expand(3, 3, 5, 5).to(torch.float32).contiguous()


class SRMResidual(nn.Module):
    """Fixed SRM noise residual of a [0, 1] RGB batch (no parameters; the kernel is a buffer).

    ``mode="report"`` (default, the Bochum report's residual): ``r = clip(x01 − SRM(255·x01), −1, 1)``, then min–max
    normalised **per image** (over channels and pixels) to [0, 1]; a flat image (max == min)
    maps to 0 instead of dividing by zero. The subtraction of a 0–255-scale response from a
    [0, 1] image saturates heavily; that is what the Bochum report trained on, so we keep it.

    ``mode="rgbn"``: the plain RGB-N residual (Zhou et al. 2018) ``SRM(x01)`` with a horizontal S3, no
    subtraction, clipping or normalisation, for readers who take the paper's Eq. 3 literally.
    """

    eps: float = 1e-8

    def __init__(self, mode: ResidualMode = "report") -> None:
        super().__init__()
        if mode not in RESIDUAL_MODES:
            raise InpaintscopeError(f"unknown residual mode {mode!r}; choose one of {RESIDUAL_MODES}")
        self.mode = mode
        self.register_buffer("weight", srm_kernels(vertical_s3=(mode == "report")))

    def forward(self, x01: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(dtype=x01.dtype)
        if self.mode == "rgbn":
            return F.conv2d(x01, w, padding=2)
        r = (x01 - F.conv2d(x01 * 255.0, w, padding=2)).clamp(-1.0, 1.0)
        lo = r.amin(dim=(1, 2, 3), keepdim=True)
        hi = r.amax(dim=(1, 2, 3), keepdim=True)
        return (r - lo) / (hi - lo).clamp_min(self.eps)


class ResidualBlock(nn.Module):
    """Residual down block: 3×3 (s1) → BN → ReLU → 3×3 (s2) → BN, plus a 1×1 stride-2
    projection; add, ReLU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, 2, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class Up(nn.Module):
    """The Bochum report's up arrow ``U``: bilinear resize (align_corners=False) to a size given at call
    time, then 1×1 conv."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if tuple(x.shape[-2:]) != tuple(size):
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return self.conv(x)


def _down(cin: int, cout: int) -> nn.Conv2d:
    """The Bochum report's down arrow ``S``: 3×3 stride-2 conv with bias."""
    return nn.Conv2d(cin, cout, 3, 2, 1)


class ConvBlock(nn.Sequential):
    """Conv 3×3 ci→ci → BN → ReLU → Conv 3×3 ci→co → BN → ReLU (both convs with bias)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(
            nn.Conv2d(cin, cin, 3, 1, 1),
            nn.BatchNorm2d(cin),
            nn.ReLU(inplace=True),
            nn.Conv2d(cin, cout, 3, 1, 1),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )


class Fusion(nn.Module):
    """The Bochum report's multi-scale exchange on (f1, f2, f3) at strides (2, 4, 8): pure sums, no norm.

    Every arrow has its own weights (eight modules); the Bochum report's parameter counts only match
    with no sharing, which we verified against all three variants.
    """

    def __init__(self, c1: int, c2: int, c3: int) -> None:
        super().__init__()
        self.u21 = Up(c2, c1)  # f2 → scale 1
        self.u32_to1 = Up(c3, c2)  # f3 → scale 2, first hop of f3 → scale 1
        self.u21_from3 = Up(c2, c1)  # second hop of f3 → scale 1
        self.u32 = Up(c3, c2)  # f3 → scale 2
        self.s12 = _down(c1, c2)  # f1 → scale 2
        self.s12_to3 = _down(c1, c2)  # first hop of f1 → scale 3
        self.s23_from1 = _down(c2, c3)  # second hop of f1 → scale 3
        self.s23 = _down(c2, c3)  # f2 → scale 3

    def forward(
        self, f1: torch.Tensor, f2: torch.Tensor, f3: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        s1, s2 = f1.shape[-2:], f2.shape[-2:]
        o1 = f1 + self.u21(f2, s1) + self.u21_from3(self.u32_to1(f3, s2), s1)
        o2 = self.s12(f1) + f2 + self.u32(f3, s2)
        o3 = self.s23_from1(self.s12_to3(f1)) + self.s23(f2) + f3
        return o1, o2, o3


class NIXNet(Detector):
    """The Bochum report's NIX-Net: image + SRM-residual streams, cross-fusion, mask head.

    ``cross``: out channels of the three cross-fusion ConvBlocks (inputs are twice the stream
    widths 128/256/512); ``head_up``: the head's upsampler widths ``(f2→, f3→, f3 second hop→)``.
    Input H and W must be multiples of 8 (three stride-2 stages).
    """

    preprocessing = Preprocessing()  # RGB in [0, 1], as in the Bochum report
    size_multiple = 8
    stream_channels = (128, 256, 512)

    def __init__(
        self, *, cross: tuple[int, int, int], head_up: tuple[int, int, int], residual: ResidualMode = "report"
    ) -> None:
        super().__init__()
        c = self.stream_channels
        self.srm = SRMResidual(residual)
        self.rgb_stream = nn.ModuleList([ResidualBlock(3, c[0]), ResidualBlock(c[0], c[1]), ResidualBlock(c[1], c[2])])
        self.noise_stream = nn.ModuleList(
            [ResidualBlock(3, c[0]), ResidualBlock(c[0], c[1]), ResidualBlock(c[1], c[2])]
        )
        self.fusion_1 = Fusion(*c)
        self.fusion_2 = Fusion(*c)
        self.cross = nn.ModuleList([ConvBlock(2 * ci, co) for ci, co in zip(c, cross)])
        self.fusion_3 = Fusion(*cross)
        self.head_up2 = Up(cross[1], head_up[0])
        self.head_up3a = Up(cross[2], head_up[1])
        self.head_up3b = Up(head_up[1], head_up[2])
        self.head = ConvBlock(cross[0] + head_up[0] + head_up[2], 1)
        self.out = Up(1, 1)

    @staticmethod
    def _run(stream: nn.ModuleList, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for block in stream:
            x = block(x)
            feats.append(x)
        return feats

    def forward(self, x: torch.Tensor) -> DetectorOutput:
        self.check_input(x)  # H and W multiples of 8: three stride-2 stages
        h, w = x.shape[-2:]
        r = self.srm(x)
        fi = self.fusion_1(*self._run(self.rgb_stream, x))
        fn = self.fusion_2(*self._run(self.noise_stream, r))
        g = [blk(torch.cat([a, b], dim=1)) for blk, a, b in zip(self.cross, fi, fn)]
        g1, g2, g3 = self.fusion_3(*g)
        s1, s2 = g1.shape[-2:], g2.shape[-2:]
        z = torch.cat([g1, self.head_up2(g2, s1), self.head_up3b(self.head_up3a(g3, s2), s1)], dim=1)
        logits = self.out(self.head(z), (h, w))
        return DetectorOutput(mask_logits=logits, image_logit=None)


@register_model("nix_net_40")
def nix_net_40(*, residual: ResidualMode = "report") -> NIXNet:
    """Report ``nix_40``: cross-fusion 256→128, 512→256, 1024→512; head 384→1. 39,442,053 params."""
    return NIXNet(cross=(128, 256, 512), head_up=(128, 256, 128), residual=residual)


@register_model("nix_net_60")
def nix_net_60(*, residual: ResidualMode = "report") -> NIXNet:
    """Report ``nix_60`` (its best variant): cross-fusion widths kept (256/512/1024); head 768→1.
    60,046,853 params."""
    return NIXNet(cross=(256, 512, 1024), head_up=(256, 512, 256), residual=residual)


@register_model("nix_net_85")
def nix_net_85(*, residual: ResidualMode = "report") -> NIXNet:
    """Report ``nix_85``: as nix_60 but the head keeps full widths, 256+512+1024 = 1792→1.
    85,226,501 params."""
    return NIXNet(cross=(256, 512, 1024), head_up=(512, 1024, 1024), residual=residual)
