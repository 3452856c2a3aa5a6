"""What the benchmark scripts share: where the shared data is, threads, timing, cells, tables.

Each script runs as ``python benchmarks/NAME.py`` (so this folder is on ``sys.path``) and does
``from _harness import ...``. Measurements follow one rule: a warm-up call first (oneDNN and
OpenCV build their kernels per shape on the first call), then the **median** of the timed
repeats; peak memory is the process's ``ru_maxrss``, so cells that must not mix run in their own
subprocess (:func:`run_cell`).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"


NO_SHARED_DATA = (
    "the shared data folder is not available (set INPAINTSCOPE_SHARED_DATA; see the README, "
    "'Data for the recipes'); nothing to measure"
)


def shared_data() -> Path | None:
    """``$INPAINTSCOPE_SHARED_DATA`` if set, else the ``shared/data`` folder beside the clone (the
    README's "Data for the recipes"); None when absent (print :data:`NO_SHARED_DATA` then)."""
    env = os.environ.get("INPAINTSCOPE_SHARED_DATA")
    root = Path(env) if env else REPO.parent / "shared" / "data"
    return root if root.is_dir() else None


def split_photos(split: str) -> list[str]:
    """Relative paths of the shared photos that ``configs/splits/shared_photos.txt`` puts in
    ``split``, in the file's order."""
    from inpaintscope.data.splits import parse_split

    assignment = parse_split(REPO / "configs" / "splits" / "shared_photos.txt").assignment
    return [rel for rel, name in assignment.items() if name == split]


def set_threads(n: int) -> None:
    """Use ``n`` CPU threads in torch and OpenCV (and in OpenMP libraries started after this)."""
    os.environ["OMP_NUM_THREADS"] = str(n)
    import cv2
    import torch

    torch.set_num_threads(n)
    cv2.setNumThreads(n)


def median_seconds(fn: Callable[[], Any], repeats: int, *, warmup: bool = True) -> float:
    """Median wall-clock seconds of ``repeats`` calls of ``fn`` (after one untimed call if ``warmup``)."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_rss_mb(*, children: bool = False) -> float:
    """Peak resident memory in MB of this process (or of its finished children)."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def run_cell(
    script: str | Path, args: Sequence[str], *, timeout: float | None = None, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run ``python script *args`` in a fresh interpreter and return the JSON object on its last
    stdout line, or ``{"error": reason}`` (``"timeout"``, ``"killed"`` for SIGKILL, usually the
    OOM killer, or the last line of its stderr)."""
    cmd = [sys.executable, str(Path(script).resolve()), *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired:
        return {"error": "timeout"}
    if proc.returncode != 0:
        if proc.returncode in (-9, 137):
            return {"error": "killed"}
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fmt(value: float | None, digits: int = 3) -> str:
    """A table cell: ``–`` for a missing value, else ``digits`` decimals."""
    return "–" if value is None else f"{value:.{digits}f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, numeric_from: int = 1) -> str:
    """A Markdown table; columns from ``numeric_from`` on are right-aligned."""
    align = ["---" if i < numeric_from else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def read_recipe(path: str | Path, keys: Sequence[str]) -> dict[str, Any]:
    """The ``keys`` a training config (``configs/*.yaml``) sets, e.g. its loss and learning rate."""
    import yaml

    config = yaml.safe_load(Path(path).read_text()) or {}
    return {k: config[k] for k in keys if k in config}


def authentic_summary(report: Any) -> dict[str, float]:
    """The authentic photos of an :class:`~inpaintscope.evaluate.EvalReport`: how many, the share
    called clean at the default image threshold, their mean and median flagged area, and
    ``area_shown``: the mean flagged area counting only photos called inpainted (``detect`` draws
    regions for those alone)."""
    import numpy as np

    from inpaintscope.scoring import inpainted

    rows = [r for r in report.per_image if r["label"] == 0]
    called = inpainted(np.array([r["score"] for r in rows]))
    area = np.array([r["pred_area"] for r in rows])
    return {
        "n": len(rows),
        "called_clean": float(np.mean(~called)),
        "fp_area_mean": float(area.mean()),
        "fp_area_median": float(np.median(area)),
        "area_shown": float(np.mean(np.where(called, area, 0.0))),
    }
