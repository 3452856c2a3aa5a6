"""A run's human-readable logs: ``metrics.jsonl`` (one line per epoch) and ``curves.png``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..errors import install_hint
from ..io.atomic import atomic_open, atomic_write_text


def write_logs(run_dir: Path, history: list[dict[str, Any]], *, plot: bool) -> None:
    """Rewrite ``metrics.jsonl`` from ``history``; with ``plot``, redraw ``curves.png`` too."""
    atomic_write_text(run_dir / "metrics.jsonl", "".join(json.dumps(h) + "\n" for h in history))
    if plot:
        _plot_curves(run_dir, history)


def _plot_curves(run_dir: Path, history: list[dict[str, Any]]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        if not (run_dir / "curves.txt").exists():
            atomic_write_text(
                run_dir / "curves.txt", f"curves.png skipped: matplotlib is not installed ({install_hint('eval')})\n"
            )
        return
    ep = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(ep, [h["train_loss"] for h in history], "o-", label="train loss")
    if any(h.get("val_loss") is not None for h in history):
        ax1.plot(ep, [h.get("val_loss") for h in history], "o-", label="val loss")
    ax1.set_xlabel("epoch"), ax1.set_ylabel("loss"), ax1.legend(), ax1.grid(alpha=0.3)
    for name in ("f1@0.5", "iou@0.5", "auc_pixel", "image_auc"):
        vals = [h.get(f"val_{name}") for h in history]
        if any(v is not None for v in vals):
            ax2.plot(ep, [math.nan if v is None else v for v in vals], "o-", label=name)
    ax2.set_xlabel("epoch"), ax2.set_ylabel("validation metric"), ax2.set_ylim(0, 1.02), ax2.grid(alpha=0.3)
    if ax2.lines:
        ax2.legend()
    fig.tight_layout()
    with atomic_open(run_dir / "curves.png", "wb") as f:
        fig.savefig(f, format="png", dpi=80)
    plt.close(fig)
