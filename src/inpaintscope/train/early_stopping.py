"""Early stopping on the validation loss, keeping a real copy of the best weights.

The Bochum report: P. Adler, H. Günther, D. Gann, H. Ehringfeld, "Inpainting Detection", student
project report (MPDL project, group 2), Ruhr-Universität Bochum, 2023.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch


class EarlyStopping:
    """Stop after ``patience`` epochs without ``loss < best - min_delta``; keep a deep copy of the best state."""

    def __init__(self, patience: int | None, min_delta: float = 0.0) -> None:
        self.patience, self.min_delta = patience, min_delta
        self.best = math.inf
        self.best_epoch: int | None = None
        self.bad_epochs = 0
        self.best_state: dict[str, torch.Tensor] | None = None

    def step(self, loss: float, model: torch.nn.Module, epoch: int) -> bool:
        """Record one validation loss; return True when it is a new best."""
        if loss < self.best - self.min_delta:
            self.best, self.best_epoch, self.bad_epochs = loss, epoch, 0
            # a real copy: the Bochum report's stopper stored a reference that kept changing
            self.best_state = copy.deepcopy({k: v.detach() for k, v in model.state_dict().items()})
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.bad_epochs >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.best, self.best_epoch, self.bad_epochs = float(d["best"]), d["best_epoch"], int(d["bad_epochs"])
