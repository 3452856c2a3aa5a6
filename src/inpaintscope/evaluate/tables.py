"""Cross-method tables: models trained on X (rows) tested on Y (columns).

The layout of the Bochum report's result tables (FCN-ResNet50 and NIX-Net trained on one
compositing mode, tested on each; see docs/references.md, "The Bochum report"): one row per
trained model, one column per value of a breakdown key (compositing ``mode`` such as
realfake/fakefake, or ``inpainter``), plus an ``all`` column, each cell one named metric.

The Bochum report: P. Adler, H. Günther, D. Gann, H. Ehringfeld, "Inpainting Detection", student
project report (MPDL project, group 2), Ruhr-Universität Bochum, 2023.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InpaintscopeError
from .evaluator import EvalReport


@dataclass(frozen=True)
class CrossTable:
    metric: str
    by: str
    rows: tuple[str, ...]
    cols: tuple[str, ...]
    values: tuple[tuple[float | None, ...], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "by": self.by,
            "rows": list(self.rows),
            "cols": list(self.cols),
            "values": [list(r) for r in self.values],
        }

    def to_markdown(self) -> str:
        head = f"| trained on \\ tested on ({self.by}) | " + " | ".join(self.cols) + " |"
        lines = [f"`{self.metric}`", "", head, "|---" * (len(self.cols) + 1) + "|"]
        for name, row in zip(self.rows, self.values):
            lines.append(f"| {name} | " + " | ".join("n/a" if v is None else f"{v:.3f}" for v in row) + " |")
        return "\n".join(lines) + "\n"


def cross_method_table(
    results: Sequence[tuple[str, EvalReport]], *, by: str = "mode", metric: str = "iou@0.5"
) -> CrossTable:
    """Build a :class:`CrossTable` from ``(row label, report)`` pairs.

    Columns are the union of the ``by`` values in the reports' breakdowns (sorted) plus
    ``all`` (each report's overall metric). A cell is ``None`` where a report has no images of
    that column.
    """
    if not results:
        raise InpaintscopeError("a cross-method table needs at least one evaluated checkpoint")
    for label, rep in results:
        if metric not in rep.metrics:
            raise InpaintscopeError(f"unknown metric {metric!r}; choose one of {', '.join(rep.metrics)}")
        if by not in rep.breakdown and rep.counts.get("n_manipulated", 0):
            raise InpaintscopeError(f"{label}: no breakdown by {by!r}; available: {', '.join(rep.breakdown) or 'none'}")
    cols = sorted({v for _, rep in results for v in rep.breakdown.get(by, {})})
    values = []
    for _, rep in results:
        groups = rep.breakdown.get(by, {})
        values.append(tuple([groups[c].get(metric) if c in groups else None for c in cols] + [rep.metrics[metric]]))
    return CrossTable(
        metric=metric,
        by=by,
        rows=tuple(label for label, _ in results),
        cols=tuple(cols) + ("all",),
        values=tuple(values),
    )


def row_label(info: dict[str, Any], fallback: str) -> str:
    """A row name for a checkpoint: ``fallback`` plus the modes it was trained on, when known."""
    modes = (info.get("config") or {}).get("modes")
    return f"{fallback} ({'+'.join(modes)})" if modes else fallback


#: the file a run folder's best epoch is saved to (``inpaintscope train``); labelled by the folder alone
RUN_BEST = "best"


def checkpoint_labels(checkpoints: Sequence[str | os.PathLike]) -> list[str]:
    """One distinct label per checkpoint, for table rows.

    A checkpoint in a run folder (a folder holding ``config.yaml``, as ``train`` writes) is
    named after the folder: ``runs/x/best.safetensors`` → ``x``, ``runs/x/calibrated.safetensors``
    → ``x/calibrated``; any other file by its name without suffix. When two different files
    would get the same label, every checkpoint is labelled by its path as given.
    """
    labels = []
    for ckpt in checkpoints:
        path = Path(ckpt)
        if (path.parent / "config.yaml").is_file():
            run = path.resolve().parent.name
            labels.append(run if path.stem == RUN_BEST else f"{run}/{path.stem}")
        else:
            labels.append(path.stem)
    files: dict[str, set[Path]] = {}
    for label, ckpt in zip(labels, checkpoints):
        files.setdefault(label, set()).add(Path(ckpt).resolve())
    if any(len(paths) > 1 for paths in files.values()):
        return [os.fspath(c) for c in checkpoints]
    return labels
