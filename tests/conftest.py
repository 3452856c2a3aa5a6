"""Shared test helpers. Tests that need ``../shared/data`` use the ``shared_data`` fixture, which
skips (with a reason) when that third-party data is not on this machine."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """``$INPAINTSCOPE_SHARED_DATA`` if set, else ``<repo>/../shared/data``; None when absent."""
    env = os.environ.get("INPAINTSCOPE_SHARED_DATA")
    root = Path(env) if env else REPO_ROOT.parent / "shared" / "data"
    return root if root.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = shared_data_dir()
    if root is None:
        pytest.skip("../shared/data is not available (set INPAINTSCOPE_SHARED_DATA to its path)")
    return root


# ---- training/evaluation tests: a tiny detector that learns the synthetic noise trace ----------

TINY_DETECTOR = "test_tiny_noise"


def register_tiny_detector() -> str:
    """Register (once) a ~250-parameter detector: fixed high-pass residual → 3×3 conv → ReLU →
    local mean → 1×1 head, i.e. a learnable local-noise-energy map. Optional image head
    (``image_head=True``) scores the mean of the mask logits. Returns its registry name."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    from inpaintscope.models import MODELS, Detector, DetectorOutput

    class TinyNoiseDetector(Detector):
        def __init__(self, *, width: int = 8, image_head: bool = False) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, width, 3, padding=1)
            self.head = nn.Conv2d(width, 1, 1)
            self.image_head = nn.Linear(1, 1) if image_head else None

        def forward(self, x: torch.Tensor) -> DetectorOutput:
            r = 20 * (x - F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1))
            h = F.avg_pool2d(F.relu(self.conv(r)), 5, stride=1, padding=2, count_include_pad=False)
            logits = self.head(h)
            image_logit = self.image_head(logits.mean(dim=(2, 3))) if self.image_head is not None else None
            return DetectorOutput(logits, image_logit)

    if TINY_DETECTOR not in MODELS:
        MODELS.register(TINY_DETECTOR)(lambda **kw: TinyNoiseDetector(**kw))
    return TINY_DETECTOR


@pytest.fixture(scope="session")
def tiny_detector() -> str:
    return register_tiny_detector()
