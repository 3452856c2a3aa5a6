"""Running a detector: device choice and one padded forward pass, shared by evaluate, train and detect.

One implementation, so the numbers ``evaluate`` reports are computed exactly the way
``detect`` computes what users see.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import InpaintscopeError, ShapeError


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cpu``; ``cuda`` / ``cuda:N`` (must exist)."""
    if isinstance(device, torch.device):
        return device
    name = str(device).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InpaintscopeError(f"device {device!r} requested but CUDA is not available "
                                    "(this torch build or machine has no GPU); use --device cpu or auto")
        try:
            dev = torch.device(name)
        except RuntimeError:
            raise InpaintscopeError(f"bad device {device!r}; use auto, cpu, cuda or cuda:N") from None
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InpaintscopeError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) visible")
        return dev
    raise InpaintscopeError(f"unknown device {device!r}; use auto, cpu or cuda")


def forward_padded(model: torch.nn.Module, x01: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Pad ``x01`` (B×3×H×W RGB in [0, 1]) right/bottom to the model's ``size_multiple``,
    preprocess, forward and crop: returns ``(mask_logits B×1×H×W, image_logit B×1 or None)``.

    Reflect padding keeps the local statistics a detector looks at; it needs pad < side, so
    tiny slivers fall back to repeating the edge.
    """
    h, w = x01.shape[-2:]
    m = int(getattr(model, "size_multiple", 1) or 1)
    ph, pw = (-h) % m, (-w) % m
    if ph or pw:
        x01 = F.pad(x01, (0, pw, 0, ph), mode="reflect" if (ph < h and pw < w) else "replicate")
    out = model(model.preprocess(x01) if hasattr(model, "preprocess") else x01)
    logits = out.mask_logits
    if logits.ndim != 4 or logits.shape[1] != 1 or tuple(logits.shape[2:]) != tuple(x01.shape[2:]):
        raise ShapeError(f"model returned mask logits of shape {tuple(logits.shape)} for an input of "
                         f"{x01.shape[2]}×{x01.shape[3]}; detectors must return B×1×H×W at input size")
    return logits[..., :h, :w], out.image_logit
