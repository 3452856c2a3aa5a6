"""``inpaintscope dataset``: build inpainting-forensics datasets and inspect them."""

from __future__ import annotations

from collections import Counter

import click

from .common import FractionRange, OutputPath, UserError


@click.group()
def dataset() -> None:
    """Build inpainting-forensics datasets and inspect them."""


@dataset.command("build")
@click.argument("src", nargs=-1, required=True, type=click.Path(exists=True))
@click.argument("out", type=OutputPath(dir_okay=True, file_okay=False))
@click.option(
    "--masks",
    default="rectangle",
    show_default=True,
    help="Mask generators, comma-separated (rectangle, strokes, shapes, objects, folder); cycled over samples.",
)
@click.option(
    "--inpainters",
    default="telea",
    show_default=True,
    help="Inpainters, comma-separated (telea, ns, biharmonic, patchmatch, autoencoder, diffusers:PATH "
    "= Stable Diffusion inpainting from a local pipeline folder); cycled over samples.",
)
@click.option(
    "--modes",
    default="realfake",
    show_default=True,
    help="Compositing modes written per sample: inpainted, realfake, fakefake.",
)
@click.option(
    "--per-image",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Samples per source photo (each with its own mask and seed).",
)
@click.option(
    "--size", type=click.IntRange(min=32), default=512, show_default=True, help="Output side in px (images are S×S)."
)
@click.option(
    "--resize",
    type=click.Choice(["crop", "stretch", "none"]),
    default="crop",
    show_default=True,
    help="crop: centre-crop to a square, then resize (area interpolation when shrinking); "
    "stretch: resize without keeping the aspect ratio; none: keep native size.",
)
@click.option(
    "--split",
    "split_spec",
    default="train=0.8,val=0.1,test=0.1",
    show_default=True,
    help="name=fraction pairs, or a file of 'relpath split' lines. Splits are by source photo.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seed: same sources + same seed give byte-identical datasets.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes [default: min(2, CPUs)]. Does not change the output.",
)
@click.option(
    "--autoencoder",
    default=None,
    metavar="DIR|taef2",
    help="Latent autoencoder for fakefake and the autoencoder inpainter: 'taef2' (the TAEF2 weights "
    "shipped with inpaintscope), a folder with taef2_encoder.pth/.safetensors and taef2_decoder, "
    "or a diffusers AutoencoderKL / SD pipeline folder (its vae/).",
)
@click.option(
    "--vae-range",
    type=click.Choice(["correct", "report"]),
    default="correct",
    show_default=True,
    help="AutoencoderKL input range: correct = [-1, 1] as trained; report = [0, 1], the Bochum report's bug.",
)
@click.option(
    "--captions",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Prompts for diffusers inpainters: .json {file: caption} or COCO captions_*.json, .jsonl "
    "{file, caption} lines, or .csv with file,caption columns [default: empty prompt].",
)
@click.option(
    "--steps",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Denoising steps of diffusers inpainters.",
)
@click.option(
    "--guidance",
    type=click.FloatRange(min=0),
    default=7.5,
    show_default=True,
    help="Classifier-free guidance scale of diffusers inpainters.",
)
@click.option(
    "--mask-dir",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Folder of mask images for the 'folder' mask generator.",
)
@click.option(
    "--mask-area",
    type=FractionRange(),
    default=None,
    help="Target hole-area range 'lo,hi' as fractions, e.g. 0.05,0.3.",
)
@click.option(
    "--post",
    default="none",
    show_default=True,
    help="Post-processing variants cycled over samples, comma-separated: none, jpeg:90, webp:80, "
    "resize:0.5, blur:1.5 (Gaussian σ px), sharpen:1 (unsharp amount), noise:3 (Gaussian σ, 0-255), "
    "chained with '+' (jpeg:90+resize:0.5).",
)
@click.option("--authentic", is_flag=True, help="Also write one authentic sample (original only) per photo.")
@click.option(
    "--min-side",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="Skip source photos whose shorter side is below this.",
)
@click.option(
    "--max-pixels",
    type=click.IntRange(min=1),
    default=None,
    help="Skip source photos with more pixels than this (decompression-bomb guard) [default: 200,000,000].",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def build(
    src: tuple[str, ...],
    out: str,
    masks: str,
    inpainters: str,
    modes: str,
    per_image: int,
    size: int,
    resize: str,
    split_spec: str,
    seed: int,
    workers: int | None,
    autoencoder: str | None,
    vae_range: str,
    captions: str | None,
    steps: int,
    guidance: float,
    mask_dir: str | None,
    mask_area: tuple[float, float] | None,
    post: str,
    authentic: bool,
    min_side: int,
    max_pixels: int | None,
    quiet: bool,
) -> None:
    """Build an inpainting dataset from the photos in SRC (folders, searched recursively, or files) into OUT.

    \b
    Writes OUT/<split>/<id>.original.png, <id>.mask.png (soft 0-255 mask, 255 = inpainted)
    and <id>.<mode>.png per mode, plus OUT/manifest.jsonl and OUT/summary.json.
    Re-running the same command resumes an interrupted build; running it with other
    options on the same OUT is refused. Unreadable, tiny or oversize photos (and dangling
    links) are skipped and listed; identical copies of a photo are kept in one split and
    listed; photos a split file leaves out are only counted; hidden files and folders are
    ignored. Exits 1 if any sample failed, 2 on a user error (a bad option; a full disk: free
    space and run the same command again to resume).

    \b
    Example:
      inpaintscope dataset build photos/ data/ --masks rectangle,strokes \\
          --inpainters telea,ns,patchmatch --modes realfake --per-image 2 --size 256
      inpaintscope dataset build photos/ data/sd --inpainters diffusers:models/sd-inpainting \\
          --modes inpainted,realfake,fakefake --autoencoder models/sd-inpainting --captions captions.json
    """
    from ..data.builder import BuildConfig, build_dataset
    from ..io import DEFAULT_MAX_PIXELS

    cfg = BuildConfig(
        masks=tuple(masks.split(",")),
        inpainters=tuple(inpainters.split(",")),
        modes=tuple(modes.split(",")),
        per_image=per_image,
        size=size,
        resize=resize,
        split=split_spec,
        seed=seed,
        autoencoder=autoencoder,
        mask_dir=mask_dir,
        mask_area=mask_area,
        post=tuple(post.split(",")),
        authentic=authentic,
        min_side=min_side,
        captions=captions,
        steps=steps,
        guidance=guidance,
        vae_range=vae_range,
        max_pixels=DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels,
    )
    summary = build_dataset(list(src), out, cfg, workers=workers, progress=not quiet, echo=click.echo)
    if summary["failed_samples"]:
        # Skipped photos are expected; failed samples (bad weights, unusable masks...) mean the
        # dataset is not what was asked for, so scripts and `make` must see a non-zero exit.
        raise UserError(
            f"{len(summary['failed_samples'])} sample(s) failed; reasons above and in {out}/summary.json", exit_code=1
        )


@dataset.command("hard-negatives")
@click.argument("src", nargs=-1, required=True, type=click.Path(exists=True))
@click.argument("out", type=OutputPath(dir_okay=True, file_okay=False))
@click.option("--model", default="default", show_default=True, help="Detector: a checkpoint file or a shipped name.")
@click.option("--split", default="train", show_default=True, help="Split to mine (the one you will train on).")
@click.option(
    "--min-score",
    type=click.FloatRange(0, 1),
    default=0.3,
    show_default=True,
    help="Keep a photo whose image score reaches this...",
)
@click.option(
    "--min-area",
    type=click.FloatRange(0, 1),
    default=0.001,
    show_default=True,
    help="...or whose flagged share of pixels (heatmap >= 0.5) reaches this.",
)
@click.option("--tile", type=click.IntRange(32), default=None, help="Tile side, as detect [default: 1024].")
@click.option("--overlap", type=click.IntRange(0), default=None, help="Tile overlap, as detect [default: 128].")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def hard_negatives(
    src: tuple[str, ...],
    out: str,
    model: str,
    split: str,
    min_score: float,
    min_area: float,
    tile: int | None,
    overlap: int | None,
    device: str,
    quiet: bool,
) -> None:
    """Collect the authentic SPLIT photos of the datasets SRC that --model flags into the dataset OUT.

    \b
    Hard-negative mining: list OUT in a training config's data (twice to weigh it double) so the
    detector sees its own false alarms more often. OUT holds links to (or copies of) the photos
    and a manifest saying where each came from and what the detector scored; mining.json keeps
    the settings. Running the same command again does nothing (or resumes a stopped run); other
    settings on the same OUT are refused. Photos that cannot be read are skipped and named. Mine
    only the split you train on.

    \b
    Example:
      inpaintscope dataset hard-negatives data/v3 data/v5_robust data/hardneg --model runs/v5/best.safetensors
    """
    from ..data.hard_negatives import mine_hard_negatives
    from ..detection.loader import resolve_model_path

    mine_hard_negatives(
        resolve_model_path(model),
        list(src),
        out,
        split=split,
        min_score=min_score,
        min_area=min_area,
        tile=tile,
        overlap=overlap,
        device=device,
        progress=not quiet,
        echo=click.echo,
    )


@dataset.command("info")
@click.argument("path", type=click.Path(exists=True))
@click.option("--split", default=None, help="Only this split.")
def info(path: str, split: str | None) -> None:
    """Show the layout and item counts of a dataset (ours, the Bochum report's naming, or images/ + masks/)."""
    from ..data.readers import detect_layout, open_dataset

    layout = detect_layout(path)
    ds = open_dataset(path, split=split)
    if split is not None and not len(ds):
        # a manifest or report dataset reads an unknown split as an empty one; say which exist
        present = sorted({str(e[3].get("split")) for e in open_dataset(path).entries})
        raise UserError(f"{path} has no split {split!r}; its splits: {', '.join(present) or 'none (no items)'}")
    modes = Counter(e[3].get("mode") for e in ds.entries)
    splits = Counter(str(e[3].get("split")) for e in ds.entries)
    labels = Counter(ds.labels())
    click.echo(
        f"{path}: {layout} layout, {len(ds)} items ({labels.get(1, 0)} manipulated, {labels.get(0, 0)} authentic)"
    )
    click.echo("  splits " + ", ".join(f"{k} {v}" for k, v in sorted(splits.items())))
    click.echo("  modes  " + ", ".join(f"{k} {v}" for k, v in sorted(modes.items())))
