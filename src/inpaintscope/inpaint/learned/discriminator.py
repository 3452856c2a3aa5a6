"""SN-PatchGAN critics: every output logit judges one receptive-field patch as real or generated.

Spectral normalisation (Miyato et al., ICLR 2018) on every convolution keeps the critic
1-Lipschitz-ish, which is what makes GAN training of inpainters stable enough for small
batches (Yu et al., ICCV 2019). Two layouts:

* ``patchgan70``: the EdgeConnect / SafePaint critic — 4×4 convolutions, strides 2, 2, 2, 1, 1,
  channels 64–128–256–512–1, LeakyReLU 0.2, no biases; on RGB only. At ``width=1`` it has
  2,763,776 parameters, SafePaint's published count.
* ``deepfill``: DeepFill v2's SN-PatchGAN — six 5×5 stride-2 convolutions (64–128–256–256–256–256)
  on [RGB, mask], LeakyReLU 0.2; every output feature is a logit (hinge loss).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

LAYOUTS = ("patchgan70", "deepfill")


class PatchDiscriminator(nn.Module):
    def __init__(self, *, layout: str = "patchgan70", width: float = 1.0) -> None:
        super().__init__()
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
        self.layout = layout
        self.with_mask = layout == "deepfill"

        def ch(n: int) -> int:
            return max(1, int(round(n * width)))

        layers: list[nn.Module] = []
        if layout == "patchgan70":
            chans = [3, ch(64), ch(128), ch(256), ch(512), 1]
            for i, stride in enumerate((2, 2, 2, 1, 1)):
                layers.append(spectral_norm(nn.Conv2d(chans[i], chans[i + 1], 4, stride=stride, padding=1, bias=False)))
                if i < 4:
                    layers.append(nn.LeakyReLU(0.2, inplace=True))
        else:
            chans = [4, ch(64), ch(128), ch(256), ch(256), ch(256), ch(256)]
            for i in range(6):
                layers.append(spectral_norm(nn.Conv2d(chans[i], chans[i + 1], 5, stride=2, padding=2)))
                if i < 5:
                    layers.append(nn.LeakyReLU(0.2, inplace=True))
        self.body = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
        """Patch logits for ``image`` in [0, 1] (``hole`` is an input of the DeepFill layout only)."""
        x = image * 2 - 1
        if self.with_mask:
            x = torch.cat([x, hole], dim=1)
        return self.body(x)
