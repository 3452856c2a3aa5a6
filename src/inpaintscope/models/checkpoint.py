"""Checkpoints: safetensors weights + a JSON description, so a file alone rebuilds a detector.

The description (model name, kwargs, preprocessing, ground-truth mode, package version,
metrics, step, ...) is stored twice: inside the safetensors header (``__metadata__`` key
``inpaintscope``), so the ``.safetensors`` file is self-contained, and as a sidecar
``<name>.json`` for people and tools. Both are written atomically.

**Reading untrusted files.** A checkpoint is input like any image: every way it can be bad
(not a checkpoint, truncated, a description that is not JSON or names no model, kwargs of the
wrong type, non-finite weights, a pickle that would run code) raises :class:`CheckpointError`,
one line naming the file and the problem. The format is told by content, never by suffix
(:func:`checkpoint_format`); the safetensors header is parsed and checked here
(:func:`read_safetensors_header`) so tensor shapes are known before anything is allocated, and
torch pickles are only ever read with ``weights_only=True``.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save as st_save

from .. import __version__
from ..errors import InpaintscopeError, MissingWeightsError, one_line
from ..io.atomic import atomic_write_bytes, atomic_write_text
from ..io.outputs import check_new_file

META_KEY = "inpaintscope"
FORMAT = "inpaintscope-checkpoint/1"

SAFETENSORS, TORCH_ZIP, TORCH_PICKLE = "safetensors", "torch-zip", "torch-pickle"
#: safetensors refuses headers above 100 MB; so do we, before reading one
MAX_HEADER_BYTES = 100_000_000

#: safetensors dtype names -> torch dtypes (the ones torch can hold)
_ST_DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
for _name, _attr in (
    ("F8_E4M3", "float8_e4m3fn"),
    ("F8_E5M2", "float8_e5m2"),
    ("U16", "uint16"),
    ("U32", "uint32"),
    ("U64", "uint64"),
):
    if hasattr(torch, _attr):
        _ST_DTYPES[_name] = getattr(torch, _attr)


class CheckpointError(InpaintscopeError):
    """A checkpoint (or its sidecar) that cannot be used; the message names the file and why."""


@dataclass(frozen=True)
class TensorSpec:
    """What a checkpoint says one tensor is, known before its data is read."""

    shape: tuple[int, ...]
    dtype: torch.dtype

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


def sidecar_path(path: str | os.PathLike) -> Path:
    return Path(path).with_suffix(".json")


def check_new_checkpoint(path: str | os.PathLike, *, option: str = "-o") -> Path:
    """Refuse ``path`` as the destination of a new checkpoint when it or its ``.json`` description
    already exists (a user's file, or the input itself) or its folder cannot be written. Called
    before any long computation, so a bad destination fails at once."""
    if Path(path).suffix.lower() == ".json":  # the description would be written over the weights (any case: macOS)
        raise CheckpointError(
            f"{option} {path}: a checkpoint's description is written beside it as .json, so the "
            f"checkpoint cannot end in .json; name it e.g. {Path(path).with_suffix('.safetensors')}"
        )
    return check_new_file(path, option=option, companions=[sidecar_path(path)])


def save_checkpoint(path: str | os.PathLike, state_dict: dict[str, torch.Tensor], info: dict[str, Any]) -> Path:
    """Write ``state_dict`` and ``info`` (must include ``model`` and ``kwargs``) atomically."""
    path = Path(path)
    if "model" not in info:
        raise ValueError("checkpoint info must name the model ('model')")
    if path.suffix.lower() == ".json":
        raise CheckpointError(f"{path}: a checkpoint cannot end in .json (its description goes there)")
    info = {"format": FORMAT, "version": __version__, "kwargs": {}, **info}
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
    text = json.dumps(info, sort_keys=True, default=str)
    atomic_write_bytes(path, st_save(tensors, metadata={META_KEY: text}))
    atomic_write_text(sidecar_path(path), json.dumps(info, indent=2, sort_keys=True, default=str) + "\n")
    return path


# --------------------------------------------------------------------------- format by content


def _existing_file(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.exists():
        raise MissingWeightsError(f"{path}: checkpoint not found")
    if not path.is_file():
        raise CheckpointError(
            f"{path}: is a directory, not a checkpoint file" if path.is_dir() else f"{path}: not a regular file"
        )
    return path


def checkpoint_format(path: str | os.PathLike) -> str:
    """``"safetensors"``, ``"torch-zip"`` (``torch.save``) or ``"torch-pickle"`` (legacy torch),
    told from the first bytes. Raises :class:`CheckpointError` for anything else (empty,
    truncated, another kind of file); a missing file is a :class:`MissingWeightsError`."""
    path = _existing_file(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror or e})") from None
    if size == 0:
        raise CheckpointError(f"{path}: empty file (0 bytes), not a checkpoint")
    if head[:4] == b"PK\x03\x04":
        return TORCH_ZIP
    if len(head) >= 9 and head[8:9] == b"{":
        n = int.from_bytes(head[:8], "little")
        if n > size - 8:
            raise CheckpointError(
                f"{path}: truncated safetensors file (the header alone claims {n:,} bytes, the file holds {size:,})"
            )
        return SAFETENSORS
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return TORCH_PICKLE
    raise CheckpointError(
        f"{path}: not a checkpoint: cannot load as a torch state dict or as safetensors "
        f"({size:,} bytes starting {head[:8]!r})"
    )


def read_safetensors_header(path: str | os.PathLike) -> tuple[dict[str, TensorSpec], dict[str, str]]:
    """Parse and check a safetensors header without reading any tensor data.

    Returns ``{name: TensorSpec}`` and the ``__metadata__`` strings. Every tensor's byte range
    must lie inside the file and match its dtype and shape, so the sizes can be trusted.
    """
    path = _existing_file(path)
    if checkpoint_format(path) != SAFETENSORS:
        raise CheckpointError(f"{path}: not a safetensors file")
    size = path.stat().st_size
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        if n > MAX_HEADER_BYTES:
            raise CheckpointError(f"{path}: safetensors header of {n:,} bytes is over the {MAX_HEADER_BYTES:,} limit")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"{path}: corrupt safetensors header (not JSON: {one_line(e)})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: corrupt safetensors header (a JSON {type(header).__name__}, not an object)")
    data_size = size - 8 - n
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise CheckpointError(f"{path}: corrupt safetensors header (__metadata__ must map strings to strings)")
    specs: dict[str, TensorSpec] = {}
    for name, entry in header.items():
        where = f"{path}: corrupt safetensors header (tensor {name!r}"
        if not isinstance(entry, dict):
            raise CheckpointError(f"{where} is described by a {type(entry).__name__}, not an object)")
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if dtype not in _ST_DTYPES:
            raise CheckpointError(f"{where} has dtype {dtype!r}, not one of {', '.join(_ST_DTYPES)})")
        if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)):
            raise CheckpointError(f"{where} has shape {shape!r}, not a list of non-negative integers)")
        if not (
            isinstance(offsets, list)
            and len(offsets) == 2
            and all(type(o) is int for o in offsets)
            and 0 <= offsets[0] <= offsets[1] <= data_size
        ):
            raise CheckpointError(
                f"{where} has byte range {offsets!r} outside the file's {data_size:,} data bytes;"
                " truncated or corrupt file)"
            )
        spec = TensorSpec(tuple(shape), _ST_DTYPES[dtype])
        if offsets[1] - offsets[0] != spec.numel * spec.dtype.itemsize:
            raise CheckpointError(
                f"{where}: shape {shape} of {dtype} needs {spec.numel * spec.dtype.itemsize:,} "
                f"bytes, its byte range holds {offsets[1] - offsets[0]:,})"
            )
        specs[name] = spec
    return specs, meta


# --------------------------------------------------------------------------- the description


def _parse_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as e:
        raise CheckpointError(f"{where} is not valid JSON ({one_line(e)})") from None


def read_checkpoint_info(path: str | os.PathLike) -> dict[str, Any]:
    """The description stored in a checkpoint (header first, sidecar as a fallback), checked
    with :func:`validate_checkpoint_info`."""
    path = _existing_file(path)
    try:
        fmt = checkpoint_format(path)
    except CheckpointError as e:
        reason = str(e).removeprefix(f"{path}: ")
        raise CheckpointError(f"{path}: not a safetensors checkpoint ({reason})") from None
    if fmt != SAFETENSORS:
        raise CheckpointError(
            f"{path}: not a safetensors checkpoint but a torch state dict, which holds no model "
            "description; load it with create_model(name, checkpoint=...)"
        )
    _, meta = read_safetensors_header(path)
    if META_KEY in meta:
        return validate_checkpoint_info(
            _parse_json(meta[META_KEY], f"{path}: the description in its header"), where=str(path)
        )
    side = sidecar_path(path)
    if side.is_file():
        try:
            text = side.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise CheckpointError(f"{side}: cannot read the description of {path.name} ({one_line(e)})") from None
        where = f"{side} (the description of {path.name})"
        return validate_checkpoint_info(_parse_json(text, where), where=where)
    raise CheckpointError(
        f"{path}: safetensors file without an inpaintscope description "
        f"(no header metadata and no {side.name}); use create_model(name, checkpoint=...)"
    )


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_preprocessing(pre: Any, where: str) -> None:
    bad = f"{where}: bad 'preprocessing'"
    if not isinstance(pre, dict):
        raise CheckpointError(f"{bad} (a {type(pre).__name__}, expected an object with channel_order, mean, std)")
    missing = [k for k in ("channel_order", "mean", "std") if k not in pre]
    if missing:
        raise CheckpointError(f"{bad} (missing {', '.join(missing)})")
    if pre["channel_order"] not in ("rgb", "bgr"):
        raise CheckpointError(f"{bad} (channel_order {pre['channel_order']!r}; expected 'rgb' or 'bgr')")
    for key in ("mean", "std"):
        v = pre[key]
        if not (isinstance(v, list) and len(v) == 3 and all(_is_number(x) for x in v)):
            raise CheckpointError(f"{bad} ({key} must be 3 finite numbers, got {_short(v)})")
    if not all(x > 0 for x in pre["std"]):
        raise CheckpointError(f"{bad} (std must be positive, got {pre['std']})")


def _short(v: Any, limit: int = 60) -> str:
    text = json.dumps(v, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validate_checkpoint_info(info: Any, *, where: str) -> dict[str, Any]:
    """Check a checkpoint description's structure; return it with ``kwargs`` defaulted to ``{}``.

    ``model`` must be a non-empty string, ``kwargs`` an object with string keys, ``preprocessing``
    (optional) channel order + 3 finite means + 3 positive stds, ``format`` (optional) one this
    version reads. Whether the model is registered and the kwargs build it is checked when the
    model is built (:func:`~inpaintscope.models.create_model`).
    """
    if not isinstance(info, dict):
        raise CheckpointError(f"{where}: the checkpoint description is a JSON {type(info).__name__}, not an object")
    fmt = info.get("format", FORMAT)
    if fmt != FORMAT:
        raise CheckpointError(f"{where}: unsupported checkpoint format {_short(fmt)} (this version reads {FORMAT})")
    model = info.get("model")
    if model is None:
        raise CheckpointError(f"{where}: the checkpoint description names no model (key 'model')")
    if not isinstance(model, str) or not model.strip():
        raise CheckpointError(f"{where}: 'model' must be a model name, got {_short(model)}")
    kwargs = info.get("kwargs", {})
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, dict):
        kind = {str: "a string", list: "a list"}.get(type(kwargs), f"a {type(kwargs).__name__}")
        raise CheckpointError(
            f"{where}: 'kwargs' must be an object of keyword arguments, got {kind} ({_short(kwargs)})"
        )
    bad_keys = [k for k in kwargs if not k.isidentifier()]
    if bad_keys:
        raise CheckpointError(f"{where}: 'kwargs' has key {bad_keys[0]!r}, not a keyword-argument name")
    if "preprocessing" in info:
        _check_preprocessing(info["preprocessing"], where)
    for key in ("config", "metrics"):
        if info.get(key) is not None and not isinstance(info[key], dict):
            raise CheckpointError(f"{where}: '{key}' must be an object, got {_short(info[key])}")
    for key in ("step", "epoch"):
        if info.get(key) is not None and not (type(info[key]) is int and info[key] >= 0):
            raise CheckpointError(f"{where}: '{key}' must be a non-negative integer, got {_short(info[key])}")
    return {**info, "kwargs": kwargs}


# --------------------------------------------------------------------------- the weights


def _load_torch(path: Path) -> Any:
    try:
        # an open file, not the path: torch.load picks a loader by suffix, and the content decided
        with open(path, "rb") as f:
            return torch.load(f, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"GLOBAL (\S+)", str(e))
        if found is None:  # the restricted unpickler met bytes it does not know: damage, not intent
            raise CheckpointError(f"{path}: cannot load as a torch state dict (corrupt pickle data)") from None
        # the file asks to build Python objects (possibly to run code); torch's advice to pass
        # weights_only=False is exactly what must not be done with an untrusted file
        raise CheckpointError(
            f"{path}: refusing to unpickle {found.group(1).rstrip('.,')} (not a plain state dict; "
            "only tensors are loaded from torch files)"
        ) from None
    except (
        RuntimeError,
        EOFError,
        ValueError,
        OSError,
        KeyError,
        IndexError,
        TypeError,
        AttributeError,
        zipfile.BadZipFile,
        UnicodeDecodeError,
        MemoryError,
    ) as e:
        raise CheckpointError(
            f"{path}: cannot load as a torch state dict ({type(e).__name__}: {one_line(e)})"
        ) from None


def _all_finite(t: torch.Tensor) -> bool:
    if not (t.is_floating_point() or t.is_complex()):
        return True
    if t.dtype in (torch.float32, torch.float64, torch.float16) and t.device.type == "cpu":
        # numpy, single-threaded: torch's per-call thread-pool overhead made this check cost
        # seconds for a few hundred small tensors on a busy machine
        return bool(np.isfinite(t.detach().numpy()).all())
    return bool(torch.isfinite(t).all())


def load_state_dict(path: str | os.PathLike, *, require_finite: bool = True) -> dict[str, torch.Tensor]:
    """Load weights from a safetensors file or (only with ``weights_only=True``) a torch pickle,
    told apart by content. A ``module.`` prefix left by DataParallel/DDP is stripped.

    ``require_finite``: refuse a file holding NaN or infinite weights (a diverged run, or a
    damaged file), which would otherwise give NaN maps with no error.
    """
    path = _existing_file(path)
    fmt = checkpoint_format(path)
    if fmt == SAFETENSORS:
        read_safetensors_header(path)  # checked byte ranges: the loader below cannot over-read
        from safetensors.torch import load_file

        try:
            sd: Any = load_file(str(path), device="cpu")
        except Exception as e:  # noqa: BLE001 - safetensors raises its own error types
            raise CheckpointError(f"{path}: corrupt safetensors file ({one_line(e)})") from None
    else:
        sd = _load_torch(path)
        if isinstance(sd, dict) and isinstance(sd.get("state_dict"), dict):
            sd = sd["state_dict"]
        if not isinstance(sd, dict):
            raise CheckpointError(f"{path}: expected a state dict (names -> tensors), found a {type(sd).__name__}")
        for k, v in sd.items():
            if not isinstance(k, str) or not isinstance(v, torch.Tensor):
                raise CheckpointError(
                    f"{path}: not a plain state dict (entry {k!r} holds a {type(v).__name__}, not a tensor)"
                )
    if require_finite:
        for k, v in sd.items():
            if not _all_finite(v):
                n_bad = int((~torch.isfinite(v)).sum())
                raise CheckpointError(
                    f"{path}: weight {k!r} holds {n_bad:,} non-finite value(s) (NaN or inf); "
                    "the checkpoint is damaged or from a diverged run"
                )
    return {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in sd.items()}
