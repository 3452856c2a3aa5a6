"""Gated-convolution coarse-to-fine inpainting network with contextual attention (DeepFill v2 family).

Yu, Lin, Yang, Shen, Lu, Huang, "Free-Form Image Inpainting with Gated Convolution", ICCV 2019
(DeepFill v2), building on Yu et al., "Generative Image Inpainting with Contextual Attention",
CVPR 2018 (DeepFill v1). What we keep: gated convolutions everywhere (a learned soft mask per
feature, ``ELU(features) * sigmoid(gate)``), a coarse network with dilated gated convolutions,
a refinement network with a dilated branch and a contextual-attention branch whose outputs are
merged, nearest-neighbour ×2 upsampling followed by a gated convolution, tanh outputs in
[-1, 1] and an SN-PatchGAN critic with the hinge loss (the trainer's part).

What we changed, and why:
* width is a parameter (DeepFill v2 uses 48 base channels; CPU training here uses fewer);
* contextual attention matches 3×3 patches of stride-8 features by cosine similarity
  (softmax scale 10 as in the paper) but *reconstructs* with the stride-4 features of each
  matched block (pixel-unshuffled 2×2 blocks), which is the paper's "deconvolution with
  background patches" without overlapping transposed-convolution sums; the paper's attention
  propagation ("fuse") step is left out. Queries are processed in chunks so memory stays
  linear in the number of query rows per chunk, which lets the network run at any size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GatedConv(nn.Module):
    """``ELU(f) * sigmoid(g)`` where ``f, g`` are the two halves of one convolution's output."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, *, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            cin, 2 * cout, kernel, stride=stride, padding=dilation * (kernel - 1) // 2, dilation=dilation
        )
        # He initialisation, doubled on the feature half because the gate starts at sigmoid(0) = 0.5:
        # with PyTorch's default init the signal halves at every layer and a 17-layer gated stack
        # receives ~1e-11 gradients at its input (measured), so it never trains
        nn.init.kaiming_normal_(self.conv.weight, nonlinearity="relu")
        with torch.no_grad():
            self.conv.weight[:cout] *= 2.0
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f, g = self.conv(x).chunk(2, dim=1)
        return F.elu(f) * torch.sigmoid(g)


class GatedUp(nn.Module):
    """Nearest ×2 upsampling, then a gated convolution (DeepFill v2's ``gen_deconv``)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = GatedConv(cin, cout, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def contextual_attention(
    features: torch.Tensor, hole: torch.Tensor, *, rate: int = 2, softmax_scale: float = 10.0, chunk: int = 4096
) -> torch.Tensor:
    """Replace hole features by attention-weighted copies of features from outside the hole.

    ``features`` B×C×h×w, ``hole`` B×1×h×w (1 = hole) at the same resolution; ``h`` and ``w``
    must be multiples of ``rate``. Matching uses L2-normalised 3×3 patches of the ``rate``-times
    downsampled features; each match contributes the full-resolution ``rate×rate`` block it
    covers. Keys are the positions whose whole 3×3 patch lies outside the hole; with none (a hole
    covering everything) the features are returned unchanged.
    """
    b, c, h, w = features.shape
    small = F.avg_pool2d(features, rate)
    small_hole = F.max_pool2d(hole, rate)
    patches = F.normalize(F.unfold(small, 3, padding=1), dim=1, eps=1e-4)  # B×(9C)×N
    usable = (F.max_pool2d(small_hole, 3, stride=1, padding=1) == 0).flatten(1)  # B×N
    values = F.pixel_unshuffle(features, rate).flatten(2)  # B×(C·rate²)×N
    out = []
    for i in range(b):
        keys = patches[i][:, usable[i]]
        if keys.shape[1] == 0:
            out.append(values[i])
            continue
        queries = patches[i].t()
        vals = values[i][:, usable[i]].t()
        rows = [
            torch.softmax(softmax_scale * (queries[s : s + chunk] @ keys), dim=1) @ vals
            for s in range(0, queries.shape[0], chunk)
        ]
        out.append(torch.cat(rows).t())
    attended = F.pixel_shuffle(torch.stack(out).view(b, c * rate * rate, h // rate, w // rate), rate)
    return features * (1 - hole) + attended * hole


class GatedInpaintNet(nn.Module):
    """Coarse gated network → refinement (dilated branch ‖ contextual-attention branch).

    ``forward(image, hole)``: image B×3×H×W in [0, 1], hole B×1×H×W (1 = to fill); H and W
    multiples of :attr:`size_multiple`. Returns ``(output, stages)`` with output in [0, 1] and
    ``stages = [coarse, output]`` (both trained with the reconstruction loss).
    """

    size_multiple = 8

    def __init__(self, *, width: int = 24) -> None:
        super().__init__()
        if width < 4 or width % 2:
            raise ValueError(f"width must be an even number >= 4, got {width}")
        c = width
        dil = [GatedConv(4 * c, 4 * c, 3, dilation=d) for d in (2, 4, 8, 16)]
        self.coarse = nn.Sequential(
            GatedConv(5, c, 5),
            GatedConv(c, 2 * c, 3, stride=2),
            GatedConv(2 * c, 2 * c, 3),
            GatedConv(2 * c, 4 * c, 3, stride=2),
            GatedConv(4 * c, 4 * c, 3),
            GatedConv(4 * c, 4 * c, 3),
            *dil,
            GatedConv(4 * c, 4 * c, 3),
            GatedConv(4 * c, 4 * c, 3),
            GatedUp(4 * c, 2 * c),
            GatedConv(2 * c, 2 * c, 3),
            GatedUp(2 * c, c),
            GatedConv(c, c // 2, 3),
            nn.Conv2d(c // 2, 3, 3, padding=1),
        )
        self.refine_dilated = nn.Sequential(
            GatedConv(5, c, 5),
            GatedConv(c, c, 3, stride=2),
            GatedConv(c, 2 * c, 3),
            GatedConv(2 * c, 2 * c, 3, stride=2),
            GatedConv(2 * c, 4 * c, 3),
            GatedConv(4 * c, 4 * c, 3),
            *[GatedConv(4 * c, 4 * c, 3, dilation=d) for d in (2, 4, 8, 16)],
        )
        self.refine_attention_in = nn.Sequential(
            GatedConv(5, c, 5),
            GatedConv(c, c, 3, stride=2),
            GatedConv(c, 2 * c, 3),
            GatedConv(2 * c, 4 * c, 3, stride=2),
            GatedConv(4 * c, 4 * c, 3),
            GatedConv(4 * c, 4 * c, 3),
        )
        self.refine_attention_out = nn.Sequential(GatedConv(4 * c, 4 * c, 3), GatedConv(4 * c, 4 * c, 3))
        self.refine_out = nn.Sequential(
            GatedConv(8 * c, 4 * c, 3),
            GatedConv(4 * c, 4 * c, 3),
            GatedUp(4 * c, 2 * c),
            GatedConv(2 * c, 2 * c, 3),
            GatedUp(2 * c, c),
            GatedConv(c, c // 2, 3),
            nn.Conv2d(c // 2, 3, 3, padding=1),
        )

    @staticmethod
    def _inputs(x: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
        # DeepFill's input: the masked image in [-1, 1] (hole = 0), a constant plane and the mask
        return torch.cat([x * (1 - hole), torch.ones_like(hole), hole], dim=1)

    def forward(self, image: torch.Tensor, hole: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = image * 2 - 1
        coarse = torch.tanh(self.coarse(self._inputs(x, hole)))
        merged = coarse * hole + x * (1 - hole)
        inputs = self._inputs(merged, hole)
        dilated = self.refine_dilated(inputs)
        feats = self.refine_attention_in(inputs)
        hole4 = F.max_pool2d(hole, 4)
        attended = self.refine_attention_out(contextual_attention(feats, hole4))
        fine = torch.tanh(self.refine_out(torch.cat([dilated, attended], dim=1)))
        stages = [(coarse + 1) / 2, (fine + 1) / 2]
        return stages[-1], stages
