"""``inpaintscope train``: train a detector from a YAML config, ``--set`` overrides and options."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from ..errors import InpaintscopeError
from .common import OutputPath, comma_list


@click.command(context_settings={"show_default": True})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="YAML config (see configs/); options below override it.",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override any config key (repeatable), e.g. --set lr=3e-4 --set model_kwargs.clip=4.",
)
@click.option("--model", default=None, help="Registered model name (inpaintscope models).")
@click.option("--data", multiple=True, help="Dataset folder or synthetic:N[xS] (repeatable: concatenated).")
@click.option("--val-data", multiple=True, help="Validation data (default: --val-split of --data).")
@click.option("--modes", default=None, help="Comma-separated compositing modes, e.g. realfake,fakefake.")
@click.option(
    "--gt-mode", type=click.Choice(["core", "any", "soft"]), default=None, help="Ground truth from soft masks."
)
@click.option("--loss", default=None, help="Loss spec, e.g. focal, bce+dice:0.5, iid_faithful.")
@click.option("--epochs", type=int, default=None)
@click.option("--max-steps", type=int, default=None, help="Stop after this many optimiser steps (budget).")
@click.option(
    "--max-minutes",
    type=float,
    default=None,
    help="Stop after this much wall-clock training time (equal-compute budget; not bit-reproducible).",
)
@click.option("--batch-size", type=int, default=None)
@click.option("--lr", type=float, default=None)
@click.option("--crop", type=int, default=None, help="Random crop size in pixels, no resampling (augment.crop).")
@click.option("--schedule", type=click.Choice(["none", "plateau", "cosine"]), default=None)
@click.option("--seed", type=int, default=None)
@click.option("--device", default=None, help="auto, cpu, cuda or cuda:N.")
@click.option("--amp", type=click.Choice(["none", "bf16", "fp16"]), default=None, help="Mixed precision (CUDA only).")
@click.option("--num-workers", type=int, default=None)
@click.option("--out", type=OutputPath(), default=None, help="Run folder (must not hold a run already).")
@click.option(
    "--report-compat",
    is_flag=True,
    default=False,
    help="Keep and evaluate the last epoch, as the Bochum report did, instead of the best.",
)
@click.option(
    "--resume",
    "resume_dir",
    type=OutputPath(file_okay=False),
    default=None,
    help="Continue the run in RUN_DIR (only epochs/max-steps/max-minutes/device/num-workers may change).",
)
@click.option("--progress/--no-progress", default=None, help="Progress bars and per-epoch lines.")
def train(
    config_path: str | None, overrides: tuple[str, ...], resume_dir: str | None, report_compat: bool, **options: Any
) -> None:
    """Train a detector; writes config.yaml, checkpoints, metrics.jsonl and curves.png to --out.

    Under torchrun (torchrun --nproc_per_node=N -m inpaintscope.cli.main train ...) every
    process trains a shard with DistributedDataParallel; rank 0 writes the files.
    """
    _train(config_path, overrides, resume_dir, report_compat, options)


def _option_overrides(options: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in options.items():
        if value is None or value == ():
            continue
        if key in ("data", "val_data"):
            value = list(value)
        elif key == "modes":
            value = comma_list(value) or []
        elif key == "crop":
            key = "augment.crop"
        out[key] = value
    return out


def _train(
    config_path: str | None,
    overrides: tuple[str, ...],
    resume_dir: str | None,
    report_compat: bool,
    options: dict[str, Any],
) -> None:
    from ..train import TrainConfig, fit, resume_config
    from ..train.config import parse_overrides

    explicit = _option_overrides(options)
    if report_compat:
        explicit["report_compat"] = True
    if resume_dir is not None:
        if config_path:
            raise InpaintscopeError("--resume uses the run's own config.yaml; drop --config")
        config = resume_config(resume_dir, {**parse_overrides(overrides), **explicit})
        result = fit(config, resume=True)
    else:
        config = TrainConfig.from_yaml(config_path) if config_path else TrainConfig()
        config = config.with_overrides(list(overrides)).with_overrides(explicit)
        result = fit(config)
    if os.environ.get("RANK", "0") != "0":
        return  # under torchrun only rank 0 reports
    best = next((h for h in result.history if h["epoch"] == result.best_epoch), None)
    click.echo(f"run folder: {result.run_dir}")
    click.echo(
        f"steps: {result.steps}, epochs: {len(result.history)}" + (", stopped early" if result.stopped_early else "")
    )
    click.echo(
        f"checkpoint: {result.checkpoint}"
        + (" (last epoch, --report-compat)" if config.report_compat else f" (best epoch {result.best_epoch})")
    )
    if best is not None:
        shown = {k[4:]: v for k, v in best.items() if k.startswith("val_") and v is not None}
        click.echo("validation: " + ", ".join(f"{k} {v:.4f}" for k, v in shown.items()))
    if not (Path(result.run_dir) / "curves.png").exists():
        click.echo("note: curves.png not written (matplotlib missing)")
