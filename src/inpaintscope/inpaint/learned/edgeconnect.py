"""Encoder – dilated residual blocks – transposed-convolution decoder (the EdgeConnect family).

Nazeri, Ng, Joseph, Qureshi, Ebrahimi, "EdgeConnect: Structure Guided Image Inpainting using
Edge Prediction", ICCV Workshops 2019 — its image-completion network, which is also stage 1
of SafePaint (Chen et al., ACM MM 2024). Layout (at width 64, the published one): reflect-pad 3
→ 7×7 conv → InstanceNorm → ReLU; two 4×4 stride-2 convs (×2 channels each); residual blocks
with a dilation-2 3×3 conv and a plain 3×3 conv (InstanceNorm, no ReLU after the sum); two 4×4
stride-2 transposed convs; reflect-pad 3 → 7×7 conv → ``(tanh + 1) / 2``. The input is the
image with its hole painted white plus the mask. InstanceNorm has no affine parameters and no
running statistics, as in the original, so the output never depends on the batch.

We drop EdgeConnect's separate edge generator (its input edges come from a Canny detector and a
second network); what a detector should learn is the image network's trace, and SafePaint's
stage 1 is exactly this network without edges.
"""

from __future__ import annotations

import torch
from torch import nn


def _norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


class DilatedResBlock(nn.Module):
    def __init__(self, channels: int, *, dilation: int = 2) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(dilation),
            nn.Conv2d(channels, channels, 3, dilation=dilation),
            _norm(channels),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            _norm(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def encoder(in_channels: int, width: int) -> nn.Sequential:
    """7×7 stem and two stride-2 downsamplings: ``in_channels`` → ``4·width`` at 1/4 resolution."""
    return nn.Sequential(
        nn.ReflectionPad2d(3),
        nn.Conv2d(in_channels, width, 7),
        _norm(width),
        nn.ReLU(inplace=True),
        nn.Conv2d(width, 2 * width, 4, stride=2, padding=1),
        _norm(2 * width),
        nn.ReLU(inplace=True),
        nn.Conv2d(2 * width, 4 * width, 4, stride=2, padding=1),
        _norm(4 * width),
        nn.ReLU(inplace=True),
    )


def up(cin: int, cout: int) -> nn.Sequential:
    """4×4 stride-2 transposed convolution → InstanceNorm → ReLU."""
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1), _norm(cout), nn.ReLU(inplace=True))


def to_rgb(width: int) -> nn.Sequential:
    return nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(width, 3, 7))


def white_fill_inputs(image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """EdgeConnect's input: the image with the hole painted white, and the mask."""
    return torch.cat([image * (1 - hole) + hole, hole], dim=1)


class EdgeConnectNet(nn.Module):
    """``forward(image, hole) -> (output, [output])``; image in [0, 1], hole 1 = fill, H, W multiples of 4."""

    size_multiple = 4

    def __init__(self, *, width: int = 32, blocks: int = 8, in_channels: int = 4) -> None:
        super().__init__()
        if width < 4 or blocks < 1:
            raise ValueError(f"width must be >= 4 and blocks >= 1, got width={width}, blocks={blocks}")
        self.encoder = encoder(in_channels, width)
        self.middle = nn.Sequential(*[DilatedResBlock(4 * width) for _ in range(blocks)])
        self.decoder = nn.Sequential(up(4 * width, 2 * width), up(2 * width, width), to_rgb(width))

    def generate(self, inputs: torch.Tensor) -> torch.Tensor:
        return (torch.tanh(self.decoder(self.middle(self.encoder(inputs)))) + 1) / 2

    def forward(self, image: torch.Tensor, hole: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        out = self.generate(white_fill_inputs(image, hole))
        return out, [out]
