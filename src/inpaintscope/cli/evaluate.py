"""``inpaintscope evaluate``: named metrics for a checkpoint, or a cross-method table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import InpaintscopeError
from .common import OutputPath, comma_list


@click.command(context_settings={"show_default": True})
@click.argument("checkpoints", nargs=-1, metavar="[NAME|CHECKPOINT]...")
@click.option("--data", multiple=True, help="Dataset folder or synthetic:N[xS] (repeatable).")
@click.option("--split", default="test", help="Split to evaluate ('all' for every split).")
@click.option("--modes", default=None, help="Comma-separated compositing modes to keep.")
@click.option(
    "--gt-mode",
    type=click.Choice(["core", "any", "soft"]),
    default="core",
    help="Ground truth from soft masks (soft is scored on its core).",
)
@click.option("--no-authentic", is_flag=True, help="Leave authentic images out (image-level metrics need them).")
@click.option(
    "--out",
    type=OutputPath(file_okay=False),
    default=None,
    help="Write eval.json and eval.md here (never over existing ones).",
)
@click.option("--device", default="auto", help="auto, cpu, cuda or cuda:N.")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, help="Images per forward pass.")
@click.option(
    "--tile", type=click.IntRange(32), default=None, help="Tile side for large images, as detect [default: 1024]."
)
@click.option("--overlap", type=click.IntRange(0), default=None, help="Overlap between tiles [default: 128].")
@click.option(
    "--no-tile", is_flag=True, help="Run every image whole at its stored size (not what detect does on large photos)."
)
@click.option("--table", is_flag=True, help="Cross-method table: rows = CHECKPOINTS, columns = --by values.")
@click.option("--by", type=click.Choice(["mode", "inpainter", "mask_kind"]), default="mode", help="Table columns.")
@click.option("--metric", default="iou@0.5", help="Metric shown in --table.")
@click.option(
    "--label",
    "labels",
    multiple=True,
    help="Row name in --table, one per checkpoint in order [default: the run folder, e.g. "
    "runs/x/best.safetensors -> x, else the file name].",
)
@click.option(
    "--post",
    "post",
    default=None,
    help="Launder test images first (robustness): e.g. jpeg:75, webp:80, resize:0.5, blur:1.5, sharpen:1, "
    "noise:3, jpeg:90+resize:0.5.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Evaluate N evenly spaced items (a quick, deterministic subset covering every method).",
)
@click.option("--progress/--no-progress", default=True)
def evaluate(checkpoints: tuple[str, ...], **options: Any) -> None:
    """Evaluate CHECKPOINT on --data; print every named metric (Markdown) and save JSON + Markdown.

    CHECKPOINT is a checkpoint file or a shipped model name (default), as for detect --model.
    Images go through the same path as `detect` (tiles of --tile px for larger images, the
    same mask and image-score rules), so the numbers describe what detect does.

    Metric definitions: f1@0.5 / iou@0.5 per manipulated image (empty GT and prediction = 1),
    f1@best (oracle), auc_pixel (per image; pooled in auc_pixel_pooled), image_auc,
    image_acc@0.5, authentic_fp_area and report_iou (the Bochum report's batch-of-8 IoU); each
    is explained in the output.
    """
    _evaluate(checkpoints, **options)


def _evaluate(
    checkpoints: tuple[str, ...],
    *,
    data: tuple[str, ...],
    split: str,
    modes: str | None,
    gt_mode: str,
    no_authentic: bool,
    out: str | None,
    device: str,
    batch_size: int,
    table: bool,
    by: str,
    metric: str,
    progress: bool,
    labels: tuple[str, ...] = (),
    post: str | None = None,
    limit: int | None = None,
    tile: int | None = None,
    overlap: int | None = None,
    no_tile: bool = False,
) -> None:
    if not checkpoints:
        raise InpaintscopeError("give a checkpoint to evaluate (or several with --table)")
    if len(checkpoints) > 1 and not table:
        raise InpaintscopeError(f"{len(checkpoints)} checkpoints given; add --table to compare them")
    if labels and len(labels) != len(checkpoints):
        raise InpaintscopeError(f"{len(labels)} --label for {len(checkpoints)} checkpoints; give one per checkpoint")

    from ..detection.loader import resolve_model_path
    from ..evaluate import cross_method_table, evaluate as run_evaluation
    from ..evaluate.selection import open_evaluation_data
    from ..evaluate.tables import checkpoint_labels, row_label
    from ..io.atomic import atomic_write_text
    from ..io.outputs import check_new_file, check_output_folder
    from ..models import load_detector
    from ..models.inference import DEFAULT_OVERLAP, DEFAULT_TILE
    from ..tiling import check_tile_overlap

    tile = None if no_tile else (DEFAULT_TILE if tile is None else tile)
    overlap = DEFAULT_OVERLAP if overlap is None else overlap
    paths = [resolve_model_path(ckpt) for ckpt in checkpoints]
    if not data:
        raise InpaintscopeError("no data given; pass --data PATH (a dataset folder or synthetic:N)")
    stems = _report_stems(paths)
    if out:
        # before the evaluation, not after it; a report already there is someone's result: kept
        check_output_folder(out, option="--out")
        names_out = [f"{stem}.{ext}" for stem in stems for ext in ("json", "md")]
        for name in names_out + (["table.md", "table.json"] if table else []):
            check_new_file(Path(out) / name, option="--out")
    mode_list = comma_list(modes)
    dataset = open_evaluation_data(
        data, split=split, modes=mode_list, gt_mode=gt_mode, include_authentic=not no_authentic, limit=limit, post=post
    )
    names = list(labels) if labels else checkpoint_labels(paths)
    results = []
    for ckpt, path, name, stem in zip(checkpoints, paths, names, stems):
        model = load_detector(path)
        if tile is not None:
            # one error before any image (as detect), not only once an image larger than a tile comes
            check_tile_overlap(tile, overlap, multiple=int(model.size_multiple), names=("--tile", "--overlap"))
        info = {
            "checkpoint": str(ckpt),
            "model": model.checkpoint_info.get("model"),
            "data": list(data),
            "split": split,
            "modes": mode_list,
            "post": post,
            "limit": limit,
        }
        report = run_evaluation(
            model,
            dataset,
            batch_size=batch_size,
            device=device,
            gt_mode=gt_mode,
            tile=tile,
            overlap=overlap,
            progress=progress,
            info=info,
        )
        results.append((name if labels else row_label(model.checkpoint_info, name), report))
        if out:
            report.save(out, stem=stem)
    if table:
        cross = cross_method_table(results, by=by, metric=metric)
        click.echo(cross.to_markdown())
        if out:
            import json

            atomic_write_text(Path(out) / "table.md", cross.to_markdown())
            atomic_write_text(Path(out) / "table.json", json.dumps(cross.to_dict(), indent=2) + "\n")
    else:
        click.echo(results[0][1].to_markdown())
    if out:
        click.echo(f"wrote {out}")


def _report_stems(paths: list[Path]) -> list[str]:
    """The report name of each checkpoint: ``eval``, or ``eval-<folder>-<name>`` when there are
    several, numbered when two would share one (``run/best`` in two experiment folders)."""
    if len(paths) == 1:
        return ["eval"]
    stems: list[str] = []
    for path in paths:
        stem, n = f"eval-{path.parent.name}-{path.stem}", 1
        while (stem if n == 1 else f"{stem}-{n}") in stems:
            n += 1
        stems.append(stem if n == 1 else f"{stem}-{n}")
    return stems
