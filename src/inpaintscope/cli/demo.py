"""``inpaintscope demo`` (what ``make demo`` runs): inpaint a few photos, then find the edits.

The photos are made at run time from scikit-image's bundled sample images, so nothing
third-party ships with inpaintscope and nothing is downloaded. Each photo gets one region
removed by a classical inpainter (the Bochum report's ``realfake`` compositing); the default
detector then runs on the originals and the edited copies, and the demo prints a score table
(inpainter, score, decision, IoU of each predicted mask against the true one) and one line
counting hits, misses and false alarms (:func:`demo_rows`, :func:`demo_summary`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

#: scikit-image samples bundled with the wheel (no download needed): (name, mask, inpainter)
CASES = (
    ("astronaut", "rectangle", "clone"),  # clone stamp: a region of the same photo copied over
    ("coffee", "strokes", "telea"),  # classical diffusion fill
    ("chelsea", "shapes", "fourier"),  # our learned (LaMa-family) inpainter, never trained on
    ("rocket", "rectangle", "patchmatch"),  # exemplar fill, the principle of content-aware fill
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
            fake = make_composites(image, sample.soft, ("realfake",), inpainter=create_inpainter(inpainter), rng=rng)[
                "realfake"
            ]
            write_image(truth, sample.soft)
            write_image(path, fake)
        out.append(path)
    return out


#: an edit counts as found only when the predicted mask overlaps it this much: a photo flagged
#: because of false alarms elsewhere in it has not had its edit found
HIT_IOU = 0.1


@dataclass(frozen=True)
class DemoRow:
    """One line of the demo table: a photo, the inpainter that edited it (None for an original),
    the detection's record and, for an edit, the IoU of the predicted mask with the true one."""

    file: str
    inpainter: str | None
    record: dict[str, Any]
    iou: float | None

    @property
    def edited(self) -> bool:
        return self.inpainter is not None

    @property
    def outcome(self) -> str:
        """``hit`` (edit flagged, mask IoU ≥ :data:`HIT_IOU`), ``wrong place`` (edit flagged, but
        the mask misses it), ``miss`` (edit called clean), ``false alarm`` (original flagged),
        ``correct`` (original called clean) or ``error``."""
        if self.record.get("status") != "ok":
            return "error"
        flagged = bool(self.record.get("decision"))
        if self.edited:
            if not flagged:
                return "miss"
            return "hit" if (self.iou or 0.0) >= HIT_IOU else "wrong place"
        return "false alarm" if flagged else "correct"


def demo_rows(
    records: list[dict[str, Any]], inpainters: dict[str, str | None], det_dir: str | Path, truth_dir: str | Path
) -> list[DemoRow]:
    """Score each detection record against the truth: ``inpainters`` maps a file name to the
    inpainter that edited it (None: an original). The IoU is :func:`inpaintscope.evaluate.metrics.iou_at`
    of the written mask against the true mask's core (== 255)."""
    from ..evaluate.metrics import iou_at
    from ..io import read_mask

    rows = []
    for rec in records:
        name = Path(rec["file"]).name
        inpainter = inpainters.get(name)
        iou = None
        if inpainter is not None and rec.get("status") == "ok" and rec.get("mask"):
            predicted = read_mask(Path(det_dir) / rec["mask"]) > 127
            truth = read_mask(Path(truth_dir) / f"{Path(name).stem}.mask.png") == 255
            iou = iou_at(predicted.astype(np.float32), truth)
        rows.append(DemoRow(name, inpainter, rec, iou))
    return rows


def demo_summary(rows: list[DemoRow]) -> str:
    """One line: hits, edits flagged in the wrong place, misses and false alarms."""
    kinds = ("hit", "wrong place", "miss", "false alarm", "correct", "error")
    n = {k: sum(r.outcome == k for r in rows) for k in kinds}
    edits, originals = sum(r.edited for r in rows), sum(not r.edited for r in rows)
    wrong = f", {n['wrong place']} flagged with the mask elsewhere" if n["wrong place"] else ""
    line = (
        f"{n['hit']} of {edits} edits found (hits: flagged, mask IoU >= {HIT_IOU}){wrong}, {n['miss']} missed; "
        f"{n['false alarm']} false alarm(s) on {originals} untouched photos"
    )
    return line + (f"; {n['error']} failed" if n["error"] else "")


@click.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default="inpaintscope-demo",
    show_default=True,
    help="Folder for the photos (images/), true masks (truth/) and detections (detections/).",
)
@click.option("--model", default=None, help="Model name or checkpoint [default: the shipped default model].")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
def demo(out_dir: str, model: str | None, device: str) -> None:
    """Inpaint regions of scikit-image's sample photos, then detect them with the default model.

    \b
    Prints, for each original and edited photo, the inpainter, the image-level score, the
    decision and the IoU of the predicted mask with the truth, then one line counting hits,
    misses and false alarms, and where the overlays and the HTML report are.
    Running it again reuses the generated photos.
    """
    from ..detection.batch import expand_inputs, run_batch
    from ..detection.loader import load_model
    from ..detection.outputs import INDEX_HTML
    from ..detection.tiling import DEFAULT_OVERLAP, DEFAULT_TILE

    out = Path(out_dir)
    images, truth_dir, det_dir = out / "images", out / "truth", out / "detections"
    photos = make_demo_photos(images)
    edits = make_demo_edits(photos, images, truth_dir)
    click.echo(f"demo: {len(photos)} photos from scikit-image and {len(edits)} inpainted copies in {images}")
    loaded = load_model(model, device=device)
    items = expand_inputs([str(p) for p in [*photos, *edits]], out_dir=det_dir)
    summary = run_batch(items, det_dir, model=loaded, tile=DEFAULT_TILE, overlap=DEFAULT_OVERLAP, progress=False)
    inpainters: dict[str, str | None] = {p.name: None for p in photos}
    inpainters.update({e.name: case[2] for e, case in zip(edits, CASES)})
    rows = demo_rows(summary.run_records, inpainters, det_dir, truth_dir)
    click.echo(f"\n{'file':<28} {'inpainter':<10} {'score':>6}  {'decision':<10} {'mask IoU':>8}  outcome")
    for row in rows:
        rec = row.record
        inpainter = row.inpainter or "-"
        if rec["status"] != "ok":
            click.echo(f"{row.file:<28} {inpainter:<10} error: {rec['error']}")
            continue
        decision = "INPAINTED" if rec["decision"] else "clean"
        iou = "" if row.iou is None else f"{row.iou:.2f}"
        click.echo(f"{row.file:<28} {inpainter:<10} {rec['score']:>6.3f}  {decision:<10} {iou:>8}  {row.outcome}")
    click.echo(f"\n{demo_summary(rows)}")
    click.echo(f"model: {loaded.label}   overlays: {det_dir}/**/*.overlay.png   report: {det_dir / INDEX_HTML}")
