"""``create_model`` and ``load_detector``: the two ways to get a detector."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..errors import InpaintscopeError
from .base import MODELS, Detector, Preprocessing
from .checkpoint import load_state_dict, read_checkpoint_info


def create_model(name: str, *, checkpoint: str | os.PathLike | None = None, **kwargs: Any) -> Detector:
    """Build registered model ``name`` with ``kwargs``; load ``checkpoint`` weights strictly if given.

    ``checkpoint`` may be one of our ``.safetensors`` files or a third-party torch state dict
    (``.pth``/``.pt``, read with ``weights_only=True``; a ``module.`` prefix is stripped).
    A model may define ``adapt_state_dict(sd)`` (e.g. key renames) and ``checkpoint_kwargs``.
    """
    factory = MODELS.get(name)
    if checkpoint is not None and Path(checkpoint).suffix != ".safetensors":
        # Third-party weights (e.g. the official IID-Net .pth) may need non-default settings
        # to reproduce the function they were trained with; explicit kwargs still win.
        kwargs = {**getattr(factory, "checkpoint_kwargs", {}), **kwargs}
    model = factory(**kwargs)
    if checkpoint is not None:
        sd = load_state_dict(checkpoint)
        adapt = getattr(model, "adapt_state_dict", None)
        if adapt is not None:
            sd = adapt(sd)
        try:
            model.load_state_dict(sd, strict=True)
        except RuntimeError as e:
            first = str(e).splitlines()[0:3]
            raise InpaintscopeError(f"{checkpoint}: weights do not match model {name!r}: {' '.join(first)}") from None
    model.eval()
    return model


def load_detector(path: str | os.PathLike, *, map_location: str | torch.device = "cpu") -> Detector:
    """Rebuild a detector from one of our checkpoints alone (name and kwargs are inside it)."""
    path = Path(path)
    info = read_checkpoint_info(path)
    model = create_model(info["model"], checkpoint=path, **info.get("kwargs", {}))
    model.checkpoint_info = info  # type: ignore[attr-defined]
    if "preprocessing" in info:
        pre = Preprocessing.from_dict(info["preprocessing"])
        if pre != model.preprocessing:
            raise InpaintscopeError(f"{path}: stored preprocessing {pre} differs from model's {model.preprocessing}")
    return model.to(map_location)
