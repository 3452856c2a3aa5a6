"""Inpainting datasets: the builder (:mod:`.builder`), torch readers (:mod:`.readers`), generated
data (:mod:`.synthetic`), ``--data`` specs (:mod:`.specs`) and the one collation (:mod:`.batching`).

Names are imported lazily so that building a dataset never imports torch unless an
inpainter needs it, and reading one does not import the builder.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "BuildConfig": "builder",
    "BuildConfigError": "builder",
    "BuildMismatchError": "builder",
    "build_dataset": "builder",
    "format_summary": "builder",
    "plan_build": "builder",
    "validate_config": "builder",
    "Source": "sources",
    "discover_sources": "sources",
    "prepare_image": "sources",
    "stable_hash": "sources",
    "SplitSpec": "splits",
    "SplitSpecError": "splits",
    "assign_splits": "splits",
    "parse_split": "splits",
    "DatasetLayoutError": "readers",
    "FolderDataset": "readers",
    "ManifestDataset": "readers",
    "ReportLayoutDataset": "readers",
    "detect_layout": "readers",
    "open_dataset": "readers",
    "SyntheticInpaintDataset": "synthetic",
    "open_synthetic": "synthetic",
    "open_data": "specs",
    "collate_samples": "batching",
    "same_size_batches": "batching",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_LAZY)
