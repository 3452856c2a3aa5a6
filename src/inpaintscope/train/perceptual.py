"""Perceptual and style losses on VGG19 features — only when the user gives VGG19 weights.

Johnson, Alahi, Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and Super-Resolution",
ECCV 2016 (feature L1), and Gatys, Ecker, Bethge, CVPR 2016 (Gram-matrix style loss), with the
layers and weights SafePaint's code uses: perceptual L1 at relu1_1, relu2_1, relu3_1, relu4_1,
relu5_1 (each weight 1); style L1 between Gram matrices normalised by C·H·W at relu2_2, relu3_4,
relu4_4, relu5_2, on hole-only images. No input normalisation (as that code does).

No VGG19 weights ship with inpaintscope and none are downloaded: pass a file holding the
ImageNet VGG19 ``features.*`` weights in torchvision's key layout (``features.0.weight`` ...), as
``.safetensors`` or a plain torch state dict (loaded with ``weights_only=True``).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InpaintscopeError, MissingWeightsError

#: VGG19 "features": conv channel counts, "M" = 2×2 max pool
_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512)
#: index (in ``features``) of the ReLU after each named conv
RELU_INDEX = {
    "relu1_1": 1,
    "relu1_2": 3,
    "relu2_1": 6,
    "relu2_2": 8,
    "relu3_1": 11,
    "relu3_4": 17,
    "relu4_1": 20,
    "relu4_4": 26,
    "relu5_1": 29,
    "relu5_2": 31,
}
PERCEPTUAL_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
STYLE_LAYERS = ("relu2_2", "relu3_4", "relu4_4", "relu5_2")


def vgg19_features() -> nn.Sequential:
    layers: list[nn.Module] = []
    cin = 3
    for v in _LAYOUT:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(cin, int(v), 3, padding=1), nn.ReLU(inplace=False)]
            cin = int(v)
    return nn.Sequential(*layers)


class VGGLosses(nn.Module):
    """``forward(output, target, hole) -> (perceptual, style)``, both summed over their layers."""

    def __init__(self, weights: str | os.PathLike) -> None:
        super().__init__()
        self.features = vgg19_features()
        self.features.load_state_dict(_load_vgg_state(Path(weights)), strict=True)
        self.features.requires_grad_(False).eval()
        self.last = max(RELU_INDEX[n] for n in PERCEPTUAL_LAYERS + STYLE_LAYERS)

    def _taps(self, x: torch.Tensor, names: tuple[str, ...]) -> list[torch.Tensor]:
        wanted = {RELU_INDEX[n] for n in names}
        taps = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in wanted:
                taps.append(x)
            if i >= max(wanted):
                break
        return taps

    def forward(
        self, output: torch.Tensor, target: torch.Tensor, hole: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        perceptual = sum(
            F.l1_loss(a, b)
            for a, b in zip(self._taps(output, PERCEPTUAL_LAYERS), self._taps(target, PERCEPTUAL_LAYERS))
        )
        style = sum(
            F.l1_loss(gram(a), gram(b))
            for a, b in zip(self._taps(output * hole, STYLE_LAYERS), self._taps(target * hole, STYLE_LAYERS))
        )
        return perceptual, style


def gram(x: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    f = x.reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def _load_vgg_state(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise MissingWeightsError(f"VGG19 weights not found: {path} (inpaintscope never downloads weights)")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure is a bad file for the user
        raise InpaintscopeError(f"{path}: not a loadable VGG19 state dict ({type(e).__name__})") from None
    if not isinstance(state, dict):
        raise InpaintscopeError(f"{path}: expected a state dict, found {type(state).__name__}")
    state = {k[len("features.") :]: v.float() for k, v in state.items() if k.startswith("features.")}
    if not state:
        raise InpaintscopeError(f"{path}: no 'features.*' keys; expected torchvision's VGG19 layout")
    return state
