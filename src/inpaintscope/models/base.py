"""The detector contract and the model registry.

Every detector is an ``nn.Module`` subclass of :class:`Detector`:

* ``forward(x)`` takes a float tensor ``B×3×H×W`` **already normalised** by the model's own
  :class:`Preprocessing` and returns a :class:`DetectorOutput` with ``mask_logits``
  ``B×1×H×W`` at input size and, where the model has one, ``image_logit`` ``B×1``.
* ``preprocess(x01)`` maps the contract's float RGB in [0, 1] to what ``forward`` expects
  (channel order, mean/std). Trainers, evaluators and ``detect`` call it; models stay pure
  functions of the image: no losses, thresholds or sigmoids inside.
* Inference must not depend on the batch (no batch statistics in eval mode), so CPU, one GPU
  or several give the same output.
* The base class owns the input rules: ``forward`` starts with :meth:`Detector.check_input`
  (``B×3×H×W``, H and W at least ``min_size`` and multiples of ``size_multiple``), and
  :meth:`Detector.predict` runs any image size by padding to those (reflection, see
  :mod:`inpaintscope.tiling`) and cropping the outputs back.

``@register_model(name)`` registers a factory ``fn(**kwargs) -> Detector``;
:func:`create_model` builds one (optionally loading a checkpoint), :func:`list_models` lists them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, NamedTuple

import torch
from torch import nn

from .._registry import Registry
from ..errors import ShapeError
from ..tiling import pad_to_multiple

MODELS: Registry[Callable[..., Detector]] = Registry("model")


def check_rgb_batch(x: torch.Tensor, *, what: str) -> None:
    """Raise :class:`ShapeError` unless ``x`` is a ``B×3×H×W`` tensor."""
    if x.ndim != 4 or x.shape[1] != 3:
        raise ShapeError(f"{what} expects a B×3×H×W tensor, got {tuple(x.shape)}")


@dataclass(frozen=True)
class Preprocessing:
    """How a model wants its input: from RGB float [0, 1] to ``(x[order] - mean) / std``."""

    channel_order: str = "rgb"  # "rgb" or "bgr"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def apply(self, x01: torch.Tensor) -> torch.Tensor:
        check_rgb_batch(x01, what="preprocessing")
        x = x01.flip(1) if self.channel_order == "bgr" else x01
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessing:
        return cls(channel_order=d["channel_order"], mean=tuple(d["mean"]), std=tuple(d["std"]))


class DetectorOutput(NamedTuple):
    mask_logits: torch.Tensor  # B×1×H×W
    image_logit: torch.Tensor | None = None  # B×1, when the model has an image-level head


class Detector(nn.Module):
    """Base class: subclasses set ``preprocessing`` and implement ``forward``."""

    preprocessing: ClassVar[Preprocessing] = Preprocessing()
    #: input H and W must be multiples of this (1 = any size)
    size_multiple: ClassVar[int] = 1
    #: input H and W must be at least this
    min_size: ClassVar[int] = 1

    def preprocess(self, x01: torch.Tensor) -> torch.Tensor:
        return self.preprocessing.apply(x01)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise :class:`ShapeError` unless ``x`` is what ``forward`` accepts (see the module doc)."""
        name = type(self).__name__
        check_rgb_batch(x, what=f"{name} (after model.preprocess)")
        h, w = x.shape[-2:]
        if h < self.min_size or w < self.min_size:
            raise ShapeError(
                f"{name} needs H, W ≥ {self.min_size}, got {h}×{w}; "
                "use model.predict(x01), which pads, or upscale the image first"
            )
        m = int(self.size_multiple)
        if h % m or w % m:
            raise ShapeError(
                f"{name} needs H and W divisible by {m}, got {h}×{w}; "
                "use model.predict(x01), which pads, or resize the image first"
            )

    def predict(self, x01: torch.Tensor) -> DetectorOutput:
        """Whole-image inference on RGB in [0, 1] (``B×3×H×W``, any H, W): pad bottom/right to
        ``size_multiple`` and ``min_size``, ``preprocess``, ``forward``, crop back to H×W."""
        h, w = x01.shape[-2:]
        padded = pad_to_multiple(x01, int(self.size_multiple), min_size=int(self.min_size))
        out = self(self.preprocess(padded))
        logits = out.mask_logits
        if logits.ndim != 4 or logits.shape[1] != 1 or tuple(logits.shape[2:]) != tuple(padded.shape[2:]):
            raise ShapeError(
                f"{type(self).__name__} returned mask logits of shape {tuple(logits.shape)} for an "
                f"input of {padded.shape[2]}×{padded.shape[3]}; detectors must return B×1×H×W at "
                "input size"
            )
        return DetectorOutput(logits[..., :h, :w], out.image_logit)

    def forward(self, x: torch.Tensor) -> DetectorOutput:  # pragma: no cover - abstract
        raise NotImplementedError


def register_model(name: str) -> Callable[[Callable[..., Detector]], Callable[..., Detector]]:
    """Register a factory ``fn(**kwargs) -> Detector`` under ``name``."""
    return MODELS.register(name)


def list_models() -> list[str]:
    return MODELS.names()


def count_parameters(model: nn.Module, *, trainable_only: bool = True) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
