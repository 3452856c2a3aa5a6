"""``create_model`` and ``load_detector``: the two ways to get a detector.

Loading a checkpoint never trusts the file to describe a reasonable model. The model is built
under a budget set by what the file holds (torch's parameter/buffer registration hooks stop
the construction as soon as it registers more tensors or values than the file's weights
allow, before a too-large layer is initialised), then its state-dict shapes are compared
with the file's (read from the safetensors header) before any weight is read. A 2 KB file
whose kwargs ask for a 3 TB network is refused in milliseconds with one line.

Why not build on the ``meta`` device first: meta-tensor initialisation imports
``torch._dynamo`` (2-3 s in every process, 14 s for ``fcn_resnet50``), which every ``detect``
call would pay; ``torch.empty`` does not touch the pages it reserves, so a refused layer
costs no resident memory either.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import InpaintscopeError, UnknownNameError, one_line
from .base import MODELS, Detector, Preprocessing
from .checkpoint import (
    SAFETENSORS,
    CheckpointError,
    TensorSpec,
    checkpoint_format,
    load_state_dict,
    read_checkpoint_info,
    read_safetensors_header,
)

#: A model may hold tensors its checkpoints leave out (frozen constants an ``adapt_state_dict``
#: fills in, non-persistent buffers): this many elements and tensors beyond the file's.
EXTRA_ELEMENTS = 1 << 22
EXTRA_TENSORS = 64


def create_model(name: str, *, checkpoint: str | os.PathLike | None = None, **kwargs: Any) -> Detector:
    """Build registered model ``name`` with ``kwargs``; load ``checkpoint`` weights strictly if given.

    ``checkpoint`` may be one of our safetensors files or a third-party torch state dict
    (read with ``weights_only=True``; a ``module.`` prefix is stripped), told apart by content.
    A model may define ``adapt_state_dict(sd)`` (e.g. key renames) and ``checkpoint_kwargs``
    (applied to third-party torch files; explicit kwargs still win). With a checkpoint, every
    problem (unknown name, kwargs that do not build the model or do not fit the weights,
    non-finite weights) is a one-line :class:`CheckpointError` naming the file, and a model
    larger than the file's weights is never allocated.
    """
    if checkpoint is None:
        model = MODELS.create(name, **kwargs)
        model.eval()
        return model
    return _from_checkpoint(name, Path(checkpoint), kwargs)


def load_detector(path: str | os.PathLike, *, map_location: str | torch.device = "cpu") -> Detector:
    """Rebuild a detector from one of our checkpoints alone (name and kwargs are inside it)."""
    path = Path(path)
    info = read_checkpoint_info(path)
    model = _from_checkpoint(info["model"], path, info["kwargs"])
    model.checkpoint_info = info  # type: ignore[attr-defined]
    if "preprocessing" in info:
        pre = Preprocessing.from_dict(info["preprocessing"])
        if pre != model.preprocessing:
            raise CheckpointError(f"{path}: stored preprocessing {pre} differs from model's {model.preprocessing}")
    return model.to(map_location)


def _from_checkpoint(name: str, path: Path, kwargs: dict[str, Any]) -> Detector:
    try:
        factory = MODELS.get(name)
    except UnknownNameError as e:
        raise CheckpointError(f"{path}: {e}") from None
    fmt = checkpoint_format(path)
    state: dict[str, torch.Tensor] | None = None
    if fmt == SAFETENSORS:
        specs = read_safetensors_header(path)[0]
    else:
        # Third-party weights (e.g. the official IID-Net .pth) may need non-default settings
        # to reproduce the function they were trained with; explicit kwargs still win.
        kwargs = {**getattr(factory, "checkpoint_kwargs", {}), **kwargs}
        state = load_state_dict(path)  # a torch file has no header: its shapes are known once loaded
        specs = {k: TensorSpec(tuple(v.shape), v.dtype) for k, v in state.items()}
    model = _build_within(factory, name, kwargs, specs, path)
    _check_shapes(model, name, kwargs, specs, path)
    sd = state if state is not None else load_state_dict(path)
    adapt = getattr(model, "adapt_state_dict", None)
    if adapt is not None:
        sd = adapt(sd)
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not match model {name!r}: {one_line(e)}") from None
    model.eval()
    return model


# --------------------------------------------------------------------------- validation before allocation


class _OverBudget(Exception):
    pass


_BUDGET = threading.local()


def _count_tensor(module: nn.Module, name: str, tensor: torch.Tensor | None) -> None:
    budget = getattr(_BUDGET, "active", None)
    if budget is None or tensor is None:
        return
    budget["tensors"] += 1
    budget["elements"] += tensor.numel()
    if budget["tensors"] > budget["max_tensors"] or budget["elements"] > budget["max_elements"]:
        raise _OverBudget


_HOOKS_LOCK = threading.Lock()
_hooks_installed = False


@contextmanager
def _tensor_budget(max_tensors: int, max_elements: int) -> Iterator[dict[str, int]]:
    """Abort (with :class:`_OverBudget`) a model construction in this thread as soon as it
    registers more tensors or elements than allowed. torch's registration hooks are global:
    they are installed once and count only in a thread that holds a budget (a no-op elsewhere)."""
    global _hooks_installed
    with _HOOKS_LOCK:
        if not _hooks_installed:
            from torch.nn.modules import module as module_mod

            module_mod.register_module_parameter_registration_hook(_count_tensor)
            module_mod.register_module_buffer_registration_hook(_count_tensor)
            _hooks_installed = True
    budget = {"tensors": 0, "elements": 0, "max_tensors": max_tensors, "max_elements": max_elements}
    outer = getattr(_BUDGET, "active", None)  # a factory may itself load a checkpoint
    _BUDGET.active = budget
    try:
        yield budget
    finally:
        _BUDGET.active = outer


def _describe(kwargs: dict[str, Any]) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) or "no kwargs"
    return text if len(text) <= 80 else text[:77] + "..."


def _build_within(
    factory: Callable[..., Detector], name: str, kwargs: dict[str, Any], specs: dict[str, TensorSpec], path: Path
) -> Detector:
    """Build the model, stopping as soon as it outgrows the weights the file holds."""
    file_elements = sum(s.numel for s in specs.values())
    refused = CheckpointError(
        f"{path}: model {name!r} with {_describe(kwargs)} would be far larger than the weights the file holds "
        f"({len(specs)} tensors, {file_elements:,} values); refusing to build it"
    )
    try:
        with _tensor_budget(2 * len(specs) + EXTRA_TENSORS, 2 * file_elements + EXTRA_ELEMENTS):
            return factory(**kwargs)
    except (_OverBudget, MemoryError):
        raise refused from None
    except (
        InpaintscopeError,
        TypeError,
        ValueError,
        RuntimeError,
        OverflowError,
        KeyError,
        IndexError,
        AttributeError,
    ) as e:
        if isinstance(e, RuntimeError) and "allocate" in str(e):
            raise refused from None  # one layer too large for this machine: torch.empty failed first
        raise CheckpointError(
            f"{path}: model {name!r} cannot be built with {_describe(kwargs)} ({one_line(e)})"
        ) from None


def _check_shapes(model: Detector, name: str, kwargs: dict[str, Any], specs: dict[str, TensorSpec], path: Path) -> None:
    """The model's state-dict keys and shapes must equal the file's (after ``adapt_state_dict``),
    checked on the header's shapes before any weight is read."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    given: dict[str, torch.Tensor] = {}
    for k, s in specs.items():
        given[k[len("module.") :] if k.startswith("module.") else k] = torch.empty(
            s.shape, dtype=s.dtype, device="meta"
        )
    adapt = getattr(model, "adapt_state_dict", None)
    if adapt is not None:
        try:
            given = adapt(given)
        except (InpaintscopeError, KeyError, ValueError, RuntimeError, TypeError) as e:
            raise CheckpointError(f"{path}: weights do not match model {name!r} ({one_line(e)})") from None
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    wrong = [
        f"{k} is {list(given[k].shape)} in the file, {list(expected[k])} in the model"
        for k in expected
        if k in given and tuple(given[k].shape) != expected[k]
    ]
    if missing or unexpected or wrong:
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected), ("shape", wrong)):
            if items:
                more = f" and {len(items) - 3} more" if len(items) > 3 else ""
                parts.append(f"{label} {len(items)}: {', '.join(items[:3])}{more}")
        raise CheckpointError(
            f"{path}: weights do not match model {name!r} with {_describe(kwargs)} ({'; '.join(parts)})"
        )
