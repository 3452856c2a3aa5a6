"""Inpainter weights: safetensors + a JSON description, so one file rebuilds the network.

The description (``network``, ``kwargs``, training step, config, version) is stored in the
safetensors header (``__metadata__["inpaintscope"]``) and as a ``.json`` sidecar. Loading
checks the description's types and the weight shapes against the network the kwargs would
build — on the ``meta`` device first, so a hostile file cannot make us allocate a huge model —
and refuses non-finite weights.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ... import __version__
from ...errors import InpaintscopeError, MissingWeightsError
from ...io.atomic import atomic_write_bytes, atomic_write_text

if TYPE_CHECKING:
    import torch

META_KEY = "inpaintscope"
FORMAT = "inpaintscope-inpainter/1"
SHIPPED_DIR = Path(__file__).resolve().parents[2] / "weights" / "inpainters"


def shipped_weights(name: str) -> Path:
    return SHIPPED_DIR / f"{name}.safetensors"


def save_inpainter(path: str | os.PathLike, state_dict: dict[str, torch.Tensor], info: dict[str, Any]) -> Path:
    import torch
    from safetensors.torch import save

    path = Path(path)
    info = {"format": FORMAT, "version": __version__, **info}
    limit = torch.finfo(torch.float16).max

    def stored(v: torch.Tensor) -> torch.Tensor:
        # float16 halves the file (the network still runs in float32: load_state_dict casts);
        # a tensor outside float16's range (or not finite) stays float32, so nothing overflows
        v = v.detach().to("cpu", torch.float32).contiguous()
        return v.half() if v.numel() and bool((v.abs() <= limit).all()) else v

    tensors = {k: stored(v) for k, v in state_dict.items()}
    atomic_write_bytes(path, save(tensors, metadata={META_KEY: json.dumps(info, sort_keys=True, default=str)}))
    atomic_write_text(path.with_suffix(".json"), json.dumps(info, indent=2, sort_keys=True, default=str) + "\n")
    return path


def read_inpainter_info(path: str | os.PathLike) -> dict[str, Any]:
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(f"inpainter weights not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118 - safe_open has keys(), not __iter__
    except Exception as e:  # noqa: BLE001 - safetensors raises its own types for bad files
        raise InpaintscopeError(f"{path}: not a safetensors file ({type(e).__name__})") from None
    try:
        info = json.loads(meta[META_KEY])
    except (KeyError, json.JSONDecodeError):
        raise InpaintscopeError(f"{path}: no inpaintscope inpainter description in the file header") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise InpaintscopeError(
            f"{path}: not an inpaintscope inpainter file (format {info.get('format')!r})"
            if isinstance(info, dict)
            else f"{path}: malformed description"
        )
    if not isinstance(info.get("network"), str) or not isinstance(info.get("kwargs", {}), dict):
        raise InpaintscopeError(f"{path}: the description needs 'network' (a name) and 'kwargs' (a mapping)")
    info["_shapes"] = shapes
    return info


def load_inpaint_net(path: str | os.PathLike) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the network a weights file describes, in eval mode on the CPU."""
    import torch
    from safetensors.torch import load_file

    from .networks import create_inpaint_net

    path = Path(path)
    info = read_inpainter_info(path)
    shapes = info.pop("_shapes")
    try:
        with torch.device("meta"):
            skeleton = create_inpaint_net(info["network"], **info.get("kwargs", {}))
    except InpaintscopeError:
        raise
    except (TypeError, ValueError) as e:
        raise InpaintscopeError(f"{path}: bad network kwargs {info.get('kwargs')} ({e})") from None
    expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    if expected != shapes:
        missing = sorted(set(expected) - set(shapes))[:3]
        wrong = sorted(k for k in set(expected) & set(shapes) if expected[k] != shapes[k])[:3]
        raise InpaintscopeError(
            f"{path}: weights do not match network {info['network']!r} "
            f"(missing {missing}, wrong shapes {wrong}, {len(set(shapes) - set(expected))} extra)"
        )
    net = create_inpaint_net(info["network"], **info.get("kwargs", {}))
    state = load_file(str(path))
    if not all(torch.isfinite(v).all() for v in state.values()):
        raise InpaintscopeError(f"{path}: the weights hold NaN or infinite values")
    net.load_state_dict(state, strict=True)
    return net.eval(), info
