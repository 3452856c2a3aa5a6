"""``inpaintscope detect INPUTS... -o OUT``: find inpainted regions in images and folders."""

from __future__ import annotations

import time

import click

from .common import OutputPath, UserError, comma_list


@click.command("detect")
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "-o",
    "--out",
    "out_dir",
    required=True,
    type=OutputPath(file_okay=False),
    help="Output folder: per-image mask/heatmap/overlay PNGs, results.jsonl, results.csv, index.html.",
)
@click.option("-r", "--recursive", is_flag=True, help="Descend into sub-folders of folder inputs.")
@click.option(
    "--model",
    "model",
    default=None,
    metavar="NAME|CHECKPOINT",
    help="Shipped model name (default: 'default'), one of our .safetensors checkpoints, or an official IID-Net .pth.",
)
@click.option(
    "--pixel-threshold",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    help="Probability at which a pixel enters the mask and the outlined regions [default: 0.5]. "
    "Lower it to see fainter areas: it never changes the decision.",
)
@click.option(
    "--image-threshold",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    help="Image score at which a photo is called inpainted [default: 0.5].",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    help="Deprecated: sets both --pixel-threshold and --image-threshold.",
)
@click.option(
    "--cues",
    default=None,
    metavar="autoencoder",
    help="Opt-in cues (comma-separated): 'autoencoder' adds the autoencoder-trace cue for regions "
    "decoded by a latent autoencoder (Stable Diffusion-style) and flags fully re-decoded frames; "
    "about a minute per megapixel on a CPU.",
)
@click.option("--device", default="auto", show_default=True, metavar="auto|cpu|cuda", help="Where to run the model.")
@click.option("--tile", type=click.IntRange(32), default=None, help="Tile side for large images [default: 1024].")
@click.option("--overlap", type=click.IntRange(0), default=None, help="Overlap between tiles [default: 128].")
@click.option(
    "--skip-existing",
    is_flag=True,
    help="Resume: skip inputs whose earlier result can be verified (same file content, model and "
    "thresholds; pictures present and intact); redo the rest.",
)
@click.option("--no-overlay", is_flag=True, help="Do not write the .overlay.png pictures (faster).")
@click.option(
    "--max-pixels",
    type=click.IntRange(1),
    default=None,
    help="Refuse larger images (decompression-bomb guard) [default: 200,000,000].",
)
def detect(
    inputs: tuple[str, ...],
    out_dir: str,
    recursive: bool,
    model: str | None,
    pixel_threshold: float | None,
    image_threshold: float | None,
    threshold: float | None,
    cues: str | None,
    device: str,
    tile: int | None,
    overlap: int | None,
    skip_existing: bool,
    no_overlay: bool,
    max_pixels: int | None,
) -> None:
    """Detect inpainted regions in INPUTS (files, folders, glob patterns, or - for stdin).

    \b
    Per input, mirroring its path below OUT (photos/a.jpg -> OUT/photos/a.jpg.*):
      <name>.mask.png     pixels at or above the pixel threshold (0/255)
      <name>.heatmap.png  per-pixel probability (8-bit)
      <name>.overlay.png  heatmap on the photo; decision and score written on it;
                          regions outlined only when the image is called inpainted
    Per run: OUT/results.jsonl, OUT/results.csv (one record per input, with the
    thresholds and the paths of its pictures) and OUT/index.html (counts, sortable
    table, side-by-side view). A photo is called inpainted when its image score
    reaches --image-threshold. Bad inputs get an error line and an error record and
    the run goes on; files not written by detect, or changed since, are never
    overwritten; one run at a time per OUT. Exit code 0 when all succeeded, 2 otherwise.
    """
    import warnings
    from pathlib import Path

    from ..detection.api import check_cues, resolve_thresholds
    from ..detection.batch import expand_inputs, run_batch
    from ..detection.loader import load_model
    from ..detection.outputs import INDEX_HTML, RESULTS_CSV, RESULTS_JSONL, OutputFolder
    from ..detection.tiling import DEFAULT_OVERLAP, DEFAULT_TILE
    from ..io import DEFAULT_MAX_PIXELS
    from ..io.names import printable
    from ..tiling import check_tile_overlap

    if threshold is not None:
        click.echo(
            f"warning: --threshold is deprecated; it sets both --pixel-threshold and --image-threshold "
            f"to {threshold:g}",
            err=True,
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # said once above, in CLI words
        pixel, image = resolve_thresholds(pixel_threshold, image_threshold, threshold)
    start = time.perf_counter()
    out = Path(out_dir)
    shown = printable(out_dir)
    items = expand_inputs(inputs, out_dir=out, recursive=recursive)
    if not items:
        raise UserError(
            "no input images found (folders contribute files with an image suffix; "
            "use --recursive to descend into sub-folders)"
        )
    chosen_cues = check_cues(comma_list(cues) or [])
    loaded = load_model(model, device=device)  # once for the whole run
    tile = DEFAULT_TILE if tile is None else tile
    overlap = DEFAULT_OVERLAP if overlap is None else overlap
    # one error now rather than the same failure for every image larger than a tile
    check_tile_overlap(
        tile, overlap, multiple=int(getattr(loaded.detector, "size_multiple", 1)), names=("--tile", "--overlap")
    )
    with OutputFolder.open(out) as folder:
        if folder.removed_temporaries:
            click.echo(
                f"note: removed {folder.removed_temporaries} temporary file(s) left in {shown} by an interrupted run",
                err=True,
            )
        summary = run_batch(
            items,
            folder,
            model=loaded,
            pixel_threshold=pixel,
            image_threshold=image,
            cues=chosen_cues,
            tile=tile,
            overlap=overlap,
            overlay=not no_overlay,
            skip_existing=skip_existing,
            max_pixels=DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels,
        )
    elapsed = time.perf_counter() - start
    skipped = f"; {summary.skipped} skipped, already done and verified" if summary.skipped else ""
    click.echo(
        f"detect: {summary.ok} ok ({summary.flagged} flagged as inpainted, {summary.clean} clean{skipped}), "
        f"{summary.failed} failed in {elapsed:.1f} s; model {printable(loaded.label)}, "
        f"pixel threshold {pixel:g}, "
        f"image threshold {image:g}"
    )
    if not summary.write_errors:
        click.echo(f"results: {shown}/{RESULTS_JSONL}, {shown}/{RESULTS_CSV}, {shown}/{INDEX_HTML}")
    problems = list(summary.write_errors)
    if summary.failed:
        problems.append(f"{summary.failed} of {len(items)} input(s) failed")
    if problems:  # the group's handler prints the last as "error: ..."; the others come first
        for line in problems[:-1]:
            click.echo(f"error: {line}", err=True)
        raise UserError(problems[-1], exit_code=summary.exit_code)
