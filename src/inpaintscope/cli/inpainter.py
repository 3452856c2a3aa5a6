"""``inpaintscope inpainter``: train the learned inpainters (and list them)."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import InpaintscopeError


@click.group()
def inpainter() -> None:
    """Learned inpainters: train one from a recipe (configs/inpainters/*.yaml)."""


@inpainter.command("train")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="YAML recipe (configs/inpainters/); required unless --resume.",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override any config key (repeatable), e.g. --set max_steps=200 --set device=cuda.",
)
@click.option(
    "--resume",
    "resume_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Continue the run in RUN_DIR from its last.pt (config.yaml of the run is used).",
)
@click.option("--progress/--no-progress", default=True, help="Print a line per log interval.")
def train(config_path: str | None, overrides: tuple[str, ...], resume_dir: str | None, progress: bool) -> None:
    """Train an inpainter (L1 + SN-PatchGAN; optional VGG19, domain and anti-forensic terms).

    Writes config.yaml, last.pt (resumable), generator.safetensors (the shippable weights),
    best.safetensors (best validation hole PSNR), metrics.jsonl, curves.png and samples.png.
    """
    from ..train.inpainter import InpainterTrainConfig, train_inpainter

    if resume_dir is not None:
        run = Path(resume_dir).expanduser()
        if not (run / "config.yaml").is_file():
            raise InpaintscopeError(f"{run}: not an inpainter run folder (no config.yaml)")
        cfg = InpainterTrainConfig.from_yaml(run / "config.yaml", [*overrides, f"out={run}"])
    elif config_path is None:
        raise InpaintscopeError("give --config FILE (see configs/inpainters/) or --resume RUN_DIR")
    else:
        cfg = InpainterTrainConfig.from_yaml(config_path, list(overrides))
    out = train_inpainter(cfg, resume=resume_dir is not None, progress=progress)
    click.echo(f"done: {out}/generator.safetensors (best validation PSNR: {out}/best.safetensors)")
