"""Autoencoder-trace cue: pixels that a latent autoencoder reproduces too well were decoded by it.

Latent-diffusion inpainting (Stable Diffusion, FLUX) decodes the filled region — or the whole
frame — through the model's autoencoder. A camera pixel loses detail on one round trip through
that autoencoder; a pixel that already *is* decoder output barely changes. AEROBLADE (Ricker,
Lukovnikov, Fischer, "AEROBLADE: Training-Free Detection of Latent Diffusion Images Using
Autoencoder Reconstruction Error", CVPR 2024) uses the single reconstruction error for
whole-image detection; dividing it by the error of a *second* round trip cancels how hard the
content is to reconstruct (the ratio of consecutive reconstruction errors of AEDR, Wang, Yang,
Wang, Zhang, Chen, AAAI 2026). So, per pixel:

    e1 = |HP(x − AE(x))|²,  e2 = |HP(AE(x) − AE(AE(x)))|²,   map = log(box_k(e2) / box_k(e1))

with ``HP`` a 3×3 high-pass (the image minus its 3×3 mean) and ``box_k`` a k×k mean (k = 32).
On authentic photos the map sits around −0.5 (the second trip changes less than the first);
on decoder output near −0.1. Measured with TAEF2 (BSDS500 test photos): pixel AUC 0.99 on
pasted-back reconstructions ("fakefake"), 0.89 after JPEG 90; image AUC 1.0 for whole frames
re-decoded (the map's median). A frame that was fully regenerated cannot be localised this
way — every pixel is decoder output — so the image-level ``regenerated`` flag reports it.

Cost: four autoencoder passes (about a minute per megapixel on two CPU threads with TAEF2), so
the cue is opt-in (``detect --cues autoencoder``).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

#: ``AE``: B×3×H×W RGB in [0, 1] → same, any H, W (pads internally)
AutoencoderFn = Callable[[torch.Tensor], torch.Tensor]


def _highpass_energy(x: torch.Tensor) -> torch.Tensor:
    hp = x - F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    return hp.pow(2).mean(dim=1, keepdim=True)


@torch.no_grad()
def reconstruction_ratio(image01: torch.Tensor, autoencoder: AutoencoderFn, *, window: int = 32,
                         eps: float = 1e-7) -> torch.Tensor:
    """The log ratio map (B×1×H×W) of two consecutive round trips; higher = more decoder-like."""
    x = image01.float()
    y1 = autoencoder(x).clamp(0, 1)
    y2 = autoencoder(y1).clamp(0, 1)
    e1 = _highpass_energy(x - y1)
    e2 = _highpass_energy(y1 - y2)
    pad = (window // 2, window - 1 - window // 2) * 2
    box1 = F.avg_pool2d(F.pad(e1, pad, mode="replicate"), window, stride=1)
    box2 = F.avg_pool2d(F.pad(e2, pad, mode="replicate"), window, stride=1)
    return torch.log((box2 + eps) / (box1 + eps))
