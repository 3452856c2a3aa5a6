"""Warm start: initialise a model from a checkpoint of a related one, copying what fits.

Used to grow a trained detector, e.g. ``scope_fast`` → ``scope_cue`` (the same network plus
cue channels at the stem): every tensor whose name and shape match is copied; a weight whose
only difference is more **input** channels (dim 1) gets the old channels copied and the new
ones set to zero, so the grown model starts out computing exactly what the old one did and
learns to use the new inputs from there. Anything else keeps its fresh initialisation and is
listed in the returned report.
"""

from __future__ import annotations

import os

import torch

from ..errors import InpaintscopeError
from ..models.checkpoint import load_state_dict


@torch.no_grad()
def warm_start(model: torch.nn.Module, checkpoint: str | os.PathLike) -> dict[str, list[str]]:
    """Copy the fitting tensors of ``checkpoint`` into ``model``; returns what was copied, widened, skipped."""
    source = load_state_dict(checkpoint)
    report: dict[str, list[str]] = {"copied": [], "widened": [], "fresh": []}
    for name, target in model.state_dict().items():
        old = source.get(name)
        if old is not None and old.shape == target.shape:
            target.copy_(old)
            report["copied"].append(name)
        elif (
            old is not None
            and old.ndim == target.ndim >= 2
            and old.shape[0] == target.shape[0]
            and old.shape[2:] == target.shape[2:]
            and old.shape[1] < target.shape[1]
        ):
            target.zero_()
            target[:, : old.shape[1]].copy_(old)
            report["widened"].append(name)
        else:
            report["fresh"].append(name)
    if not report["copied"]:
        raise InpaintscopeError(f"{checkpoint}: no tensor fits this model; is it a checkpoint of a related model?")
    return report
