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

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import InpaintscopeError

#: how the pixel logits are joined (see :class:`AutoencoderFusion`)
PIXEL_FORMS: tuple[str, ...] = ("max", "linear")
#: ``AE``: B×3×H×W RGB in [0, 1] → same, any H, W (pads internally)
AutoencoderFn = Callable[[torch.Tensor], torch.Tensor]


def _highpass_energy(x: torch.Tensor) -> torch.Tensor:
    hp = x - F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    return hp.pow(2).mean(dim=1, keepdim=True)


@torch.no_grad()
def reconstruction_ratio(
    image01: torch.Tensor, autoencoder: AutoencoderFn, *, window: int = 32, eps: float = 1e-7
) -> torch.Tensor:
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


@dataclass(frozen=True)
class AutoencoderFusion:
    """How the reconstruction-ratio map joins a detector's outputs (fitted on validation photos by
    :func:`inpaintscope.evaluate.fusion.fit_autoencoder_fusion`):

    * pixel logit, by ``pixel_form``: ``"max"`` (what is fitted now) ``max(mask_logit, b·ratio + c)``
      — a pixel is flagged when the detector or the cue flags it, so the cue never takes away a
      region the detector found (``a`` is unused); ``"linear"`` (the first fusions shipped)
      ``a·mask_logit + b·ratio + c``, one logistic boundary for both, which let the ratio outvote
      the detector on fills it had found (``pixel`` = (a, b, c));
    * image logit ``α·image_logit + β·q99(ratio) + δ·median(ratio) + γ`` (``image`` = (α, β, δ, γ));
      ``q99`` catches a pasted-back decoded region, the median a fully re-decoded frame;
    * ``regenerated``: ``median(ratio) >= regenerated_threshold``: the whole frame reads as
      decoder output (an SD pipeline's raw result), which a map cannot localise.
    """

    pixel: tuple[float, float, float]
    image: tuple[float, float, float, float]
    regenerated_threshold: float
    window: int = 32
    autoencoder: str = "taef2"
    pixel_form: str = "linear"

    def to_dict(self) -> dict[str, Any]:
        return {
            "pixel": list(self.pixel),
            "image": list(self.image),
            "regenerated_threshold": self.regenerated_threshold,
            "window": self.window,
            "autoencoder": self.autoencoder,
            "pixel_form": self.pixel_form,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AutoencoderFusion:
        try:
            pixel, image = tuple(float(v) for v in d["pixel"]), tuple(float(v) for v in d["image"])
            fusion = cls(
                pixel=pixel,
                image=image,
                regenerated_threshold=float(d["regenerated_threshold"]),  # type: ignore[arg-type]
                window=int(d.get("window", 32)),
                autoencoder=str(d.get("autoencoder", "taef2")),
                pixel_form=str(d.get("pixel_form", "linear")),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise InpaintscopeError(f"malformed autoencoder-cue fusion parameters ({e})") from None
        if (
            len(fusion.pixel) != 3
            or len(fusion.image) != 4
            or not all(math.isfinite(v) for v in (*fusion.pixel, *fusion.image, fusion.regenerated_threshold))
        ):
            raise InpaintscopeError("malformed autoencoder-cue fusion parameters (need 3 pixel and 4 image weights)")
        if fusion.pixel_form not in PIXEL_FORMS:
            raise InpaintscopeError(
                f"autoencoder-cue fusion: unknown pixel_form {fusion.pixel_form!r} (known: {', '.join(PIXEL_FORMS)}); "
                "the checkpoint may come from a newer inpaintscope"
            )
        return fusion

    def pixel_logits(self, mask_logits: np.ndarray, ratio: np.ndarray) -> np.ndarray:
        """The fused pixel logits (float32, the maps' shape), by :attr:`pixel_form`."""
        a, b, c = self.pixel
        if self.pixel_form == "max":
            return np.maximum(mask_logits, b * ratio + c).astype(np.float32)
        return (a * mask_logits + b * ratio + c).astype(np.float32)

    def fuse(
        self, mask_logits: np.ndarray, image_logit: float | None, ratio: np.ndarray
    ) -> tuple[np.ndarray, float, bool, float]:
        """Fused ``(mask_logits, image_logit, regenerated, median ratio)`` for one image."""
        fused = self.pixel_logits(mask_logits, ratio)
        q99, median = ratio_statistics(ratio)
        al, be, de, ga = self.image
        base = 0.0 if image_logit is None else float(image_logit)
        return fused, al * base + be * q99 + de * median + ga, bool(median >= self.regenerated_threshold), median


def ratio_statistics(ratio: np.ndarray) -> tuple[float, float]:
    """(99th percentile, median) of a ratio map: the image-level features of the fusion."""
    q99, median = np.percentile(ratio, [99.0, 50.0])
    return float(q99), float(median)


def ratio_map(rgb: np.ndarray, autoencoder: Any, *, window: int = 32) -> np.ndarray:
    """The reconstruction-ratio map (float32 H×W) of an RGB uint8 image through a
    :class:`~inpaintscope.inpaint.autoencoder.LatentAutoencoder` (tiled like its round trip)."""
    from ...inpaint.autoencoder import STRIDE
    from ...tiling import run_tiled

    x = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None].float() / 255.0

    def ae(t: torch.Tensor) -> torch.Tensor:
        return run_tiled(autoencoder._run, t, tile=autoencoder.tile, overlap=autoencoder.overlap, multiple=STRIDE)[0]

    with torch.no_grad():
        return reconstruction_ratio(x, ae, window=window)[0, 0].numpy()
