"""Checkpoints: safetensors weights + a JSON description, so a file alone rebuilds a detector.

The description (model name, kwargs, preprocessing, ground-truth mode, package version,
metrics, step, ...) is stored twice: inside the safetensors header (``__metadata__`` key
``inpaintscope``), so the ``.safetensors`` file is self-contained, and as a sidecar
``<name>.json`` for people and tools. Both are written atomically.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save as st_save

from .. import __version__
from ..errors import InpaintscopeError, MissingWeightsError
from ..io.atomic import atomic_write_bytes, atomic_write_text

META_KEY = "inpaintscope"


def sidecar_path(path: str | os.PathLike) -> Path:
    return Path(path).with_suffix(".json")


def save_checkpoint(path: str | os.PathLike, state_dict: dict[str, torch.Tensor], info: dict[str, Any]) -> Path:
    """Write ``state_dict`` and ``info`` (must include ``model`` and ``kwargs``) atomically."""
    path = Path(path)
    if "model" not in info:
        raise ValueError("checkpoint info must name the model ('model')")
    info = {"format": "inpaintscope-checkpoint/1", "version": __version__, "kwargs": {}, **info}
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
    text = json.dumps(info, sort_keys=True, default=str)
    atomic_write_bytes(path, st_save(tensors, metadata={META_KEY: text}))
    atomic_write_text(sidecar_path(path), json.dumps(info, indent=2, sort_keys=True, default=str) + "\n")
    return path


def read_checkpoint_info(path: str | os.PathLike) -> dict[str, Any]:
    """The description stored in a checkpoint (header first, sidecar as a fallback)."""
    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(f"{path}: checkpoint not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as e:  # safetensors raises its own error types for bad headers
        raise InpaintscopeError(f"{path}: not a safetensors checkpoint ({e})") from None
    if META_KEY in meta:
        return json.loads(meta[META_KEY])
    side = sidecar_path(path)
    if side.is_file():
        return json.loads(side.read_text())
    raise InpaintscopeError(f"{path}: safetensors file without an inpaintscope description "
                            f"(no header metadata and no {side.name}); use create_model(name, checkpoint=...)")


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load weights from ``.safetensors`` or (only with weights_only=True) a torch pickle.

    A ``module.`` prefix left by DataParallel/DDP is stripped.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(f"{path}: weights file not found")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        sd = load_file(str(path), device="cpu")
    else:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise InpaintscopeError(f"{path}: cannot load as a torch state dict ({type(e).__name__}: {e})") from None
        if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
            obj = obj["state_dict"]
        if not isinstance(obj, dict):
            raise InpaintscopeError(f"{path}: expected a state dict, found {type(obj).__name__}")
        sd = obj
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in sd.items()}
