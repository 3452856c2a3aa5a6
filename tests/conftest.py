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
