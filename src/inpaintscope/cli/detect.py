"""``inpaintscope detect INPUTS... -o OUT``: find inpainted regions in images and folders."""
from __future__ import annotations

import sys
import time

import click


@click.command("detect")
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder: per-image mask/heatmap/overlay PNGs, results.jsonl, results.csv, index.html.")
@click.option("-r", "--recursive", is_flag=True, help="Descend into sub-folders of folder inputs.")
@click.option("--model", "model", default=None, metavar="NAME|CHECKPOINT",
              help="Shipped model name (default: 'default'), one of our .safetensors checkpoints, or an official IID-Net .pth.")
@click.option("--threshold", type=click.FloatRange(0.0, 1.0), default=0.5, show_default=True,
              help="Probability at which a pixel is marked inpainted and the image is flagged.")
@click.option("--device", default="auto", show_default=True, metavar="auto|cpu|cuda",
              help="Where to run the model.")
@click.option("--tile", type=click.IntRange(32), default=None, help="Tile side for large images [default: 1024].")
@click.option("--overlap", type=click.IntRange(0), default=None, help="Overlap between tiles [default: 128].")
@click.option("--skip-existing", is_flag=True,
              help="Resume: skip inputs whose outputs and ok record already exist; keep older records.")
@click.option("--no-overlay", is_flag=True, help="Do not write <stem>.overlay.png (faster).")
@click.option("--max-pixels", type=click.IntRange(1), default=None,
              help="Refuse larger images (decompression-bomb guard) [default: 200,000,000].")
def detect(inputs: tuple[str, ...], out_dir: str, recursive: bool, model: str | None, threshold: float,
           device: str, tile: int | None, overlap: int | None, skip_existing: bool, no_overlay: bool,
           max_pixels: int | None) -> None:
    """Detect inpainted regions in INPUTS (files, folders, glob patterns, or - for stdin).

    Writes, per image, OUT/<path>/<stem>.mask.png (0/255), .heatmap.png (8-bit probability)
    and .overlay.png, mirroring each input's folder structure, plus OUT/results.jsonl,
    OUT/results.csv and OUT/index.html (sortable by score). Unreadable inputs get an error
    line and an error record; the run goes on. Exit code 0 when all succeeded, 2 otherwise.
    """
    from pathlib import Path

    from ..detection.batch import INDEX_HTML, RESULTS_CSV, RESULTS_JSONL, expand_inputs, run_batch
    from ..detection.loader import load_model
    from ..detection.tiling import DEFAULT_OVERLAP, DEFAULT_TILE
    from ..io import DEFAULT_MAX_PIXELS

    start = time.perf_counter()
    out = Path(out_dir)
    items = expand_inputs(inputs, out_dir=out, recursive=recursive)
    if not items:
        click.echo("error: no input images found (folders contribute files with an image suffix; "
                   "use --recursive to descend into sub-folders)", err=True)
        sys.exit(2)
    loaded = load_model(model, device=device)  # once for the whole run
    summary = run_batch(items, out, model=loaded, threshold=threshold,
                        tile=DEFAULT_TILE if tile is None else tile,
                        overlap=DEFAULT_OVERLAP if overlap is None else overlap,
                        overlay=not no_overlay, skip_existing=skip_existing,
                        max_pixels=DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels)
    elapsed = time.perf_counter() - start
    skipped = f" ({summary.skipped} skipped, already done)" if summary.skipped else ""
    click.echo(f"detect: {summary.ok} ok{skipped}, {summary.failed} failed in {elapsed:.1f} s; "
               f"{out / RESULTS_JSONL}, {out / RESULTS_CSV}, {out / INDEX_HTML}")
    if summary.failed:
        click.echo(f"error: {summary.failed} of {len(items)} input(s) failed", err=True)
        sys.exit(summary.exit_code)
