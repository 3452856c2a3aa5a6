"""``inpaintscope demo`` (what ``make demo`` runs): inpaint a few photos, then find the edits.

The photos are made at run time from scikit-image's bundled sample images, so nothing
third-party ships with inpaintscope and nothing is downloaded. Each photo gets one region
removed by a classical inpainter (the report's ``realfake`` compositing); the default
detector then runs on the originals and the edited copies, and the demo prints a score table
with the IoU of each predicted mask against the true one.
"""
from __future__ import annotations

from pathlib import Path

import click
import numpy as np

#: scikit-image samples bundled with the wheel (no download needed): (name, mask, inpainter)
CASES = (
    ("astronaut", "rectangle", "patchmatch"),
    ("coffee", "strokes", "telea"),
    ("chelsea", "shapes", "ns"),
    ("rocket", "rectangle", "biharmonic"),
)


def make_demo_photos(directory: str | Path, *, names: tuple[str, ...] = tuple(c[0] for c in CASES)) -> list[Path]:
    """Write the scikit-image sample photos as PNG into ``directory`` and return their paths."""
    from skimage import data as skdata

    from ..io import write_image

    directory = Path(directory)
    paths = []
    for name in names:
        path = directory / f"{name}.png"
        if not path.exists():
            write_image(path, np.ascontiguousarray(getattr(skdata, name)()[..., :3]))
        paths.append(path)
    return paths


def make_demo_edits(photos: list[Path], directory: str | Path, truth_dir: str | Path, *, seed: int = 0) -> list[Path]:
    """Inpaint one region of each photo (realfake); write the edits and their true masks."""
    from ..inpaint import create_inpainter
    from ..inpaint.compose import make_composites
    from ..io import read_image, write_image
    from ..masks import make_mask

    out = []
    for i, (photo, (_, mask_kind, inpainter)) in enumerate(zip(photos, CASES)):
        path = Path(directory) / f"{photo.stem}_inpainted.png"
        truth = Path(truth_dir) / f"{photo.stem}_inpainted.mask.png"
        if not (path.exists() and truth.exists()):
            rng = np.random.default_rng([seed, i])
            image = read_image(photo)
            sample = make_mask(mask_kind, image.shape[:2], rng=rng, area=(0.04, 0.12))
            fake = make_composites(image, sample.soft, ("realfake",), inpainter=create_inpainter(inpainter),
                                   rng=rng)["realfake"]
            write_image(truth, sample.soft)
            write_image(path, fake)
        out.append(path)
    return out


def _iou(pred: np.ndarray, truth: np.ndarray) -> float:
    union = np.logical_or(pred, truth).sum()
    return float(np.logical_and(pred, truth).sum() / union) if union else 1.0


@click.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="inpaintscope-demo", show_default=True,
              help="Folder for the photos (images/), true masks (truth/) and detections (detections/).")
@click.option("--model", default=None, help="Model name or checkpoint [default: the shipped default model].")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
def demo(out_dir: str, model: str | None, device: str) -> None:
    """Inpaint regions of scikit-image's sample photos, then detect them with the default model.

    \b
    Prints, for each original and edited photo, the image-level score, the decision and the
    IoU of the predicted mask with the truth, and where the overlays and the HTML report are.
    Running it again reuses the generated photos.
    """
    from ..detection.batch import INDEX_HTML, expand_inputs, run_batch
    from ..detection.loader import load_model
    from ..detection.tiling import DEFAULT_OVERLAP, DEFAULT_TILE
    from ..io import read_mask

    out = Path(out_dir)
    images, truth_dir, det_dir = out / "images", out / "truth", out / "detections"
    photos = make_demo_photos(images)
    edits = make_demo_edits(photos, images, truth_dir)
    click.echo(f"demo: {len(photos)} photos from scikit-image and {len(edits)} inpainted copies in {images}")
    loaded = load_model(model, device=device)
    items = expand_inputs([str(p) for p in [*photos, *edits]], out_dir=det_dir)
    summary = run_batch(items, det_dir, model=loaded, tile=DEFAULT_TILE, overlap=DEFAULT_OVERLAP, progress=False)
    click.echo(f"\n{'file':<28} {'truth':<10} {'score':>6}  {'decision':<10} {'mask IoU':>8}")
    for rec, item in zip(summary.records, items):
        name = Path(rec["file"]).name
        edited = name.endswith("_inpainted.png")
        truth = "inpainted" if edited else "original"
        if rec["status"] != "ok":
            click.echo(f"{name:<28} {truth:<10} error: {rec['error']}")
            continue
        iou = ""
        if edited:
            pred = read_mask(item.outputs(det_dir)["mask"]) > 127
            iou = f"{_iou(pred, read_mask(truth_dir / (Path(name).stem + '.mask.png')) == 255):.2f}"
        decision = "INPAINTED" if rec["decision"] else "clean"
        click.echo(f"{name:<28} {truth:<10} {rec['score']:>6.3f}  {decision:<10} {iou:>8}")
    click.echo(f"\nmodel: {loaded.label}   overlays: {det_dir}/*.overlay.png   report: {det_dir / INDEX_HTML}")
