"""Running a detector: device choice and the tiled inference path shared by evaluate and detect.

One implementation, so the numbers ``evaluate`` reports are computed exactly the way
``detect`` computes what users see (the outputs are read by :mod:`inpaintscope.scoring`).
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import torch

from ..errors import InpaintscopeError
from ..tiling import run_tiled
from .base import Detector, check_rgb_batch

#: default tile side and overlap (pixels); a 1024² tile keeps activations of our models small
DEFAULT_TILE = 1024
DEFAULT_OVERLAP = 128


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
            raise InpaintscopeError(
                f"device {device!r} requested but CUDA is not available "
                "(this torch build or machine has no GPU); use --device cpu or auto"
            )
        try:
            dev = torch.device(name)
        except RuntimeError:
            raise InpaintscopeError(f"bad device {device!r}; use auto, cpu, cuda or cuda:N") from None
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InpaintscopeError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) visible")
        return dev
    raise InpaintscopeError(f"unknown device {device!r}; use auto, cpu or cuda")


def forward_padded(model: torch.nn.Module, x01: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:meth:`Detector.predict` as a tuple ``(mask_logits B×1×H×W, image_logit B×1 or None)``,
    on ``x01``'s device and with gradients as the caller has them (training's validation)."""
    out = _detector(model).predict(x01)
    return out.mask_logits, out.image_logit


class Prediction(NamedTuple):
    """:func:`run_detector`'s result: float32 ``mask_logits`` B×1×H×W and ``image_logit`` B×1
    (or None) on the CPU, and how many tiles were run per image."""

    mask_logits: torch.Tensor
    image_logit: torch.Tensor | None
    n_tiles: int


def run_detector(
    model: torch.nn.Module,
    x: torch.Tensor,
    *,
    tile: int | None = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    device: str | torch.device | None = None,
) -> Prediction:
    """The one inference path of ``evaluate`` and ``detect``: ``model`` (a :class:`Detector` in
    eval mode) on a batch ``x`` of same-size RGB images ``B×3×H×W`` (float in [0, 1], or uint8
    0–255, converted tile by tile to keep a large photo's float copy off the memory bill).

    Images larger than ``tile`` on a side are cut into overlapping tiles and blended
    (:func:`inpaintscope.tiling.run_tiled`); each tile is padded to the model's size multiple by
    :meth:`Detector.predict`. The image logit of a tiled image is the **maximum over its tiles**
    (the image is called inpainted if any tile is): resampling the whole image for the image
    head would destroy the very traces detectors look for. ``tile=None`` runs images whole.
    Tiles go to ``device`` (default: where the model's weights are) one at a time.
    """
    detector = _detector(model)
    if device is None:
        device = next(itertools.chain(detector.parameters(), detector.buffers()), x).device
    image_logits: list[torch.Tensor] = []

    def run(part: torch.Tensor) -> torch.Tensor:
        part = part.to(device)
        if part.dtype == torch.uint8:
            part = part.to(torch.float32).div_(255.0)
        out = detector.predict(part)
        if out.image_logit is not None:
            image_logits.append(out.image_logit.float().cpu())
        return out.mask_logits

    check_rgb_batch(x, what="run_detector")
    with torch.inference_mode():
        if tile is None:
            logits, n_tiles = run(x).float().cpu(), 1
        else:
            logits, n_tiles = run_tiled(run, x, tile=tile, overlap=overlap, multiple=int(detector.size_multiple))
    image_logit = torch.stack(image_logits).amax(dim=0) if image_logits else None
    return Prediction(logits, image_logit, n_tiles)


def _detector(model: torch.nn.Module) -> Detector:
    if not isinstance(model, Detector):
        raise InpaintscopeError(
            f"{type(model).__name__} is not an inpaintscope Detector; subclass inpaintscope.models.Detector"
        )
    return model
