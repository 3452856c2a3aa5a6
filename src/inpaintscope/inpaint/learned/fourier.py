"""Fast-Fourier-convolution residual network with pixel-shuffle upsampling (the LaMa family).

Suvorov, Logacheva, Mashikhin, Remizova, Ashukha, Silvestrov, Kong, Goka, Park, Lempitsky,
"Resolution-robust Large Mask Inpainting with Fourier Convolutions", WACV 2022 (LaMa), with the
fast Fourier convolution of Chi, Jiang, Mu, "Fast Fourier Convolution", NeurIPS 2020.

Every FFC layer splits its channels into a local part (3×3 convolutions) and a global part
(75 % of the channels, as in LaMa) whose global→global path is a spectral transform: 1×1
conv → real FFT over the whole feature map → 1×1 conv on the stacked real and imaginary parts
→ inverse FFT. So each layer sees the whole image, which is what lets LaMa fill large holes.

Differences from LaMa, and why: width and depth are parameters (LaMa-big has 18 blocks at
512 channels; CPU training here uses far fewer); LaMa's local Fourier unit is left out; and the
decoder upsamples with a 3×3 conv + pixel shuffle instead of transposed convolutions, so this
family's upsampling trace differs from the EdgeConnect family's (transposed convolutions) and
the DeepFill family's (nearest + conv): a detector that only learned one upsampler's fingerprint
will not find all three. The input is the masked image (hole = 0) and the mask; the output is a
sigmoid in [0, 1]. BatchNorm uses running statistics at inference (independent of the batch).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _conv_bn_relu(cin: int, cout: int, kernel: int, *, stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    ]


class FourierUnit(nn.Module):
    """1×1 convolution in the frequency domain (real and imaginary parts as channels)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*_conv_bn_relu(2 * channels, 2 * channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        spec = torch.fft.rfft2(x.float(), norm="ortho")
        y = self.body(torch.cat([spec.real, spec.imag], dim=1).to(x.dtype)).float()
        re, im = y.chunk(2, dim=1)
        return torch.fft.irfft2(torch.complex(re, im), s=(h, w), norm="ortho").to(x.dtype)


class SpectralTransform(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        half = max(1, channels // 2)
        self.reduce = nn.Sequential(*_conv_bn_relu(channels, half, 1))
        self.fourier = FourierUnit(half)
        self.expand = nn.Conv2d(half, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.reduce(x)
        return self.expand(x + self.fourier(x))


class FFC(nn.Module):
    """One fast Fourier convolution (3×3 local paths + spectral global path), BN + ReLU on each part."""

    def __init__(self, channels: int, *, global_ratio: float = 0.75) -> None:
        super().__init__()
        self.global_channels = int(round(channels * global_ratio))
        self.local_channels = channels - self.global_channels
        cl, cg = self.local_channels, self.global_channels
        self.l2l = nn.Conv2d(cl, cl, 3, padding=1, padding_mode="reflect", bias=False)
        self.l2g = nn.Conv2d(cl, cg, 3, padding=1, padding_mode="reflect", bias=False)
        self.g2l = nn.Conv2d(cg, cl, 3, padding=1, padding_mode="reflect", bias=False)
        self.g2g = SpectralTransform(cg)
        self.act_l = nn.Sequential(nn.BatchNorm2d(cl), nn.ReLU(inplace=True))
        self.act_g = nn.Sequential(nn.BatchNorm2d(cg), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xl, xg = x.split([self.local_channels, self.global_channels], dim=1)
        yl = self.act_l(self.l2l(xl) + self.g2l(xg))
        yg = self.act_g(self.l2g(xl) + self.g2g(xg))
        return torch.cat([yl, yg], dim=1)


class FFCResBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(FFC(channels), FFC(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class PixelShuffleUp(nn.Module):
    """3×3 conv to ``4·cout`` channels → pixel shuffle ×2 → BN → ReLU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, 4 * cout, 3, padding=1, bias=False)
        self.act = nn.Sequential(nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(F.pixel_shuffle(self.conv(x), 2))


class FourierInpaintNet(nn.Module):
    """``forward(image, hole) -> (output, [output])``; image in [0, 1], hole 1 = fill, H, W multiples of 4."""

    size_multiple = 4

    def __init__(self, *, width: int = 32, blocks: int = 6) -> None:
        super().__init__()
        if width < 4 or blocks < 1:
            raise ValueError(f"width must be >= 4 and blocks >= 1, got width={width}, blocks={blocks}")
        c = width
        self.stem = nn.Sequential(
            nn.ReflectionPad2d(3),
            nn.Conv2d(4, c, 7, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(inplace=True),
            *_conv_bn_relu(c, 2 * c, 3, stride=2),
            *_conv_bn_relu(2 * c, 4 * c, 3, stride=2),
        )
        self.middle = nn.Sequential(*[FFCResBlock(4 * c) for _ in range(blocks)])
        self.decoder = nn.Sequential(
            PixelShuffleUp(4 * c, 2 * c), PixelShuffleUp(2 * c, c), nn.ReflectionPad2d(3), nn.Conv2d(c, 3, 7)
        )

    def forward(self, image: torch.Tensor, hole: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = torch.cat([image * (1 - hole), hole], dim=1)
        out = torch.sigmoid(self.decoder(self.middle(self.stem(x))))
        return out, [out]
