"""Which detector ``detect`` runs, loaded once per process.

``model`` may be

* ``None``: the shipped default model, :data:`DEFAULT_MODEL`;
* a **name** (``"default"``, ``"scope_tiny"``...): the weights of that name shipped inside the
  package (``inpaintscope/weights/<name>.safetensors``). A registered architecture without
  shipped weights is refused: a randomly initialised detector would answer noise;
* a **path** to one of our ``.safetensors`` checkpoints (rebuilt with :func:`load_detector`), or to
  an official IID-Net ``.pth`` state dict (``create_model("iid_net", checkpoint=...,
  bayar_mode="official")``), recognised by not being safetensors;
* a :class:`~inpaintscope.models.Detector` instance, used as is (switched to eval mode).

Loaded detectors are cached by (resolved file, size, mtime, device), so a folder run, or a
notebook calling ``detect`` in a loop, loads the weights once.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import InpaintscopeError, MissingWeightsError
from ..models.inference import resolve_device
from .outputs import file_sha256

#: where shipped weights live inside the package
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
#: the default detector: inpaintscope/weights/default.safetensors (+ default.json sidecar)
DEFAULT_MODEL = WEIGHTS_DIR / "default.safetensors"


@dataclass(frozen=True)
class LoadedModel:
    """A detector ready to run, with the label written into results (``model`` field)."""

    detector: torch.nn.Module
    label: str
    device: torch.device


_CACHE: dict[tuple, LoadedModel] = {}
_LOCK = threading.Lock()


def clear_model_cache() -> None:
    """Forget every loaded detector (frees their memory once no one else holds them)."""
    with _LOCK:
        _CACHE.clear()


def shipped_weights(name: str) -> Path:
    """Path of the weights shipped under ``name`` (``default`` → :data:`DEFAULT_MODEL`)."""
    return DEFAULT_MODEL if name == "default" else WEIGHTS_DIR / f"{name}.safetensors"


def is_safetensors(path: str | os.PathLike) -> bool:
    """True when ``path`` starts like a safetensors file (8-byte header size, then ``{``)."""
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError:
        return False
    if len(head) < 9:
        return False
    return int.from_bytes(head[:8], "little") < 100_000_000 and head[8:9] == b"{"


def _load_file(path: Path, device: torch.device) -> LoadedModel:
    from ..models import MODELS, create_model, load_detector

    digest = file_sha256(path)
    if digest is None:
        raise InpaintscopeError(f"{path}: cannot read the model file")
    sha = digest[:10]
    if is_safetensors(path):
        detector = load_detector(path, map_location=device)
        name = getattr(detector, "checkpoint_info", {}).get("model", type(detector).__name__)
    else:
        # Not ours: the only third-party format we read is the official IID-Net state dict.
        if "iid_net" not in MODELS:
            raise InpaintscopeError(
                f"{path}: not a safetensors checkpoint, and the iid_net model that "
                "reads official IID-Net .pth files is not available in this build"
            )
        detector = create_model("iid_net", checkpoint=path, bayar_mode="official").to(device)
        name = "iid_net"
    detector.eval()
    return LoadedModel(detector, f"{name}:{path.name}@{sha}", device)


def resolve_model_path(model: str | os.PathLike | None = None) -> Path:
    """The weights file ``model`` names: an existing file as given, else the weights shipped under
    that name (``None`` and ``"default"``: :data:`DEFAULT_MODEL`).

    The one rule by which ``detect``, ``serve``, ``evaluate`` and ``calibrate`` read a model
    argument. Raises :class:`MissingWeightsError` for a path that does not exist (a text with a
    path separator or a weights suffix) or a name without shipped weights, and
    :class:`InpaintscopeError` for a name that is neither.
    """
    from ..models import MODELS

    text = "default" if model is None else os.fspath(model)
    candidate = Path(text).expanduser()
    if candidate.is_file():
        return candidate
    if os.sep in text or text.endswith((".safetensors", ".pth", ".pt")):
        raise MissingWeightsError(f"{text}: checkpoint not found")
    path = shipped_weights(text)
    if path.is_file():
        return path
    if text == "default":
        raise MissingWeightsError(
            f"the default model is not installed ({path} is missing); this build ships no "
            "trained weights yet: pass a checkpoint with --model PATH (or model=PATH)"
        )
    if text in MODELS:
        raise MissingWeightsError(
            f"{text!r} is a known architecture but no trained weights of that name ship with "
            "inpaintscope (a randomly initialised model would answer noise); pass a "
            "checkpoint file instead"
        )
    shipped = shipped_detector_names()
    raise InpaintscopeError(
        f"{text!r} is neither a checkpoint file nor a shipped model (shipped: {', '.join(shipped) or 'none'})"
    )


def shipped_detector_names() -> list[str]:
    """Names of the detector weights that ship in the package (``default``, ...), sorted."""
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.safetensors")) if WEIGHTS_DIR.is_dir() else []


def load_model(model: object = None, *, device: str | torch.device = "auto") -> LoadedModel:
    """Resolve ``model`` (see module doc) to a detector on ``device``, loading files once."""
    from ..models import Detector

    if isinstance(model, LoadedModel):
        return model
    dev = resolve_device(device)
    if isinstance(model, Detector):
        if str(device) != "auto":
            model = model.to(dev)
        else:
            param = next(model.parameters(), None)
            dev = param.device if param is not None else torch.device("cpu")
        model.eval()  # batch statistics or dropout in train mode would make detection random
        return LoadedModel(model, getattr(model, "name", type(model).__name__), dev)
    if isinstance(model, torch.nn.Module):
        raise InpaintscopeError(
            f"{type(model).__name__} is not an inpaintscope Detector; wrap it in a "
            "Detector subclass (preprocess + forward returning DetectorOutput)"
        )

    if model is not None and not isinstance(model, (str, os.PathLike)):
        raise InpaintscopeError(
            f"model must be None, a name, a checkpoint path or a Detector, got {type(model).__name__}"
        )
    path = resolve_model_path(model).resolve()
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns, str(dev))
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is None:
            hit = _CACHE[key] = _load_file(path, dev)
    return hit
