"""``inpaintscope demo`` (what ``make demo`` runs): inpaint a few photos, then find the edits.

The photos are made at run time from scikit-image's bundled sample images, so nothing
third-party ships with inpaintscope and nothing is downloaded. Each photo gets one region
removed by a classical inpainter (the Bochum report's ``realfake`` compositing); the default
detector then runs on the originals and the edited copies, and the demo prints a score table
(inpainter, score, decision, IoU of each predicted mask against the true one) and one line
counting hits, misses and false alarms (:func:`demo_rows`, :func:`demo_summary`).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

from ..errors import InpaintscopeError
from .common import OutputPath

#: scikit-image samples bundled with the wheel (no download needed): (name, mask, inpainter)
CASES = (
    ("astronaut", "rectangle", "clone"),  # clone stamp: a region of the same photo copied over
    ("coffee", "strokes", "telea"),  # classical diffusion fill
    ("chelsea", "shapes", "fourier"),  # our learned (LaMa-family) inpainter, never trained on
    ("rocket", "rectangle", "patchmatch"),  # exemplar fill, the principle of content-aware fill
)
#: the share of each photo an edit's mask covers (min, max)
EDIT_AREA = (0.04, 0.12)
#: the record of what the demo wrote, in the demo folder (``--out``)
MANIFEST_NAME = "demo-manifest.json"
MANIFEST_FORMAT = 1


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class DemoManifest:
    """What the demo wrote: per file (keyed by its path relative to the manifest's folder) the
    recipe it was made from and the SHA-256 of the bytes written.

    A file is reused only when its entry holds exactly the recipe the current code would use and
    the file still has the recorded hash; a file with an entry is the demo's to rewrite; a file
    without one is someone else's and is never overwritten (:meth:`refuse_foreign`).
    """

    def __init__(self, path: str | Path, files: dict[str, dict[str, Any]] | None = None) -> None:
        self.path = Path(path)
        self.files: dict[str, dict[str, Any]] = dict(files or {})

    @classmethod
    def load(cls, path: str | Path) -> DemoManifest:
        """The manifest at ``path``; an empty one when there is none yet."""
        path = Path(path)
        if not os.path.lexists(path):
            return cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise InpaintscopeError(
                f"cannot read the demo manifest {path} ({type(e).__name__}); "
                f"move or delete {path.parent}, or choose another folder with --out"
            ) from None
        files = data.get("files") if isinstance(data, dict) else None
        valid = isinstance(files, dict) and all(isinstance(v, dict) for v in files.values())
        if not valid or data.get("format") != MANIFEST_FORMAT:
            # not ours (or a newer demo's): rewriting it would lose the record of what it says
            raise InpaintscopeError(
                f"{path} is not a demo manifest this version reads; "
                f"move or delete {path.parent}, or choose another folder with --out"
            )
        return cls(path, files)

    def key(self, file: str | Path) -> str:
        # relative keys keep the record valid when the whole demo folder is moved
        file = Path(file)
        try:
            return Path(os.path.relpath(file, self.path.parent)).as_posix()
        except ValueError:  # another drive on Windows
            return str(file.resolve())

    def reusable(self, file: str | Path, recipe: dict[str, Any]) -> bool:
        """True when ``file`` was made from ``recipe`` and is still the bytes the demo wrote."""
        entry = self.files.get(self.key(file))
        if entry is None or entry.get("sha256") is None:
            return False
        if {k: v for k, v in entry.items() if k != "sha256"} != _jsonable(recipe):
            return False
        from ..detection.outputs import file_sha256

        return file_sha256(file) == entry["sha256"]

    def refuse_foreign(self, files: list[Path]) -> None:
        """Raise unless each of ``files`` is absent or recorded as the demo's own."""
        foreign = [f for f in files if os.path.lexists(f) and self.key(f) not in self.files]
        if foreign:
            more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
            raise InpaintscopeError(
                f"refusing to overwrite {foreign[0]}{more}: {self.path.name} has no record of the demo making it "
                f"(an older demo's file or your own); move or delete it, or choose another folder with --out"
            )

    def write(self, outputs: list[tuple[Path, bytes]], recipe: dict[str, Any]) -> None:
        """Write each ``(file, bytes)`` atomically, then record them with ``recipe``."""
        from ..io import atomic_write_bytes

        self.refuse_foreign([f for f, _ in outputs])
        # Claimed (no hash) before writing: a run killed between a file and the manifest leaves
        # a file the next run may replace, instead of one it must refuse as someone else's.
        pending = [self.key(f) for f, _ in outputs if self.key(f) not in self.files]
        if pending:
            self.files.update({k: {**_jsonable(recipe), "sha256": None} for k in pending})
            self.save()
        for f, data in outputs:
            atomic_write_bytes(f, data)
        for f, data in outputs:
            self.files[self.key(f)] = {**_jsonable(recipe), "sha256": _sha256(data)}
        self.save()

    def save(self) -> None:
        from ..io import atomic_write_text

        text = json.dumps({"format": MANIFEST_FORMAT, "files": self.files}, indent=2, sort_keys=True)
        atomic_write_text(self.path, text + "\n")


def _jsonable(recipe: dict[str, Any]) -> dict[str, Any]:
    # compare recipes as they read back from JSON (tuples become lists)
    return json.loads(json.dumps(recipe))


def _inpainter_fingerprint(name: str) -> str | None:
    """What a learned inpainter's fills depend on (weights, runtime options); None for the
    classical ones, whose fills change only with the inpaintscope version."""
    from ..inpaint.base import INPAINTERS
    from ..inpaint.learned.runtime import LearnedInpainter, runtime_fingerprint

    cls = INPAINTERS.get(name)
    return runtime_fingerprint(cls) if isinstance(cls, type) and issubclass(cls, LearnedInpainter) else None


def photo_recipe(name: str) -> dict[str, Any]:
    """What the demo's photo ``name`` is made from."""
    import skimage

    from .. import __version__

    return {"kind": "photo", "case": name, "skimage": skimage.__version__, "inpaintscope": __version__}


def edit_recipe(index: int, photo: Path, *, seed: int) -> dict[str, Any]:
    """What the edit of ``photo`` (case ``index`` of :data:`CASES`) and its true mask are made from."""
    from .. import __version__
    from ..detection.outputs import file_sha256

    name, mask_kind, inpainter = CASES[index]
    return {
        "kind": "edit",
        "case": name,
        "index": index,  # the edit's random stream is seeded with (seed, index)
        "mask": mask_kind,
        "area": EDIT_AREA,
        "inpainter": inpainter,
        "inpainter_fingerprint": _inpainter_fingerprint(inpainter),
        "composite": "realfake",
        "seed": seed,
        "photo_sha256": file_sha256(photo),
        "inpaintscope": __version__,
    }


def demo_files(images: str | Path, truth_dir: str | Path) -> list[Path]:
    """Every file :func:`make_demo_photos` and :func:`make_demo_edits` may write."""
    names = [c[0] for c in CASES]
    return [
        *(Path(images) / f"{n}.png" for n in names),
        *(Path(images) / f"{n}_inpainted.png" for n in names),
        *(Path(truth_dir) / f"{n}_inpainted.mask.png" for n in names),
    ]


def make_demo_photos(
    directory: str | Path, *, manifest: DemoManifest, names: tuple[str, ...] = tuple(c[0] for c in CASES)
) -> list[Path]:
    """Write the scikit-image sample photos as PNG into ``directory`` and return their paths;
    a photo ``manifest`` records as made the same way is reused."""
    from skimage import data as skdata

    from ..io import encode_image

    directory = Path(directory)
    paths = []
    for name in names:
        path = directory / f"{name}.png"
        recipe = photo_recipe(name)
        if not manifest.reusable(path, recipe):
            image = np.ascontiguousarray(getattr(skdata, name)()[..., :3])
            manifest.write([(path, encode_image(image, "png"))], recipe)
        paths.append(path)
    return paths


def make_demo_edits(
    photos: list[Path], directory: str | Path, truth_dir: str | Path, *, manifest: DemoManifest, seed: int = 0
) -> list[Path]:
    """Inpaint one region of each photo (realfake); write the edits and their true masks. An edit
    and its mask that ``manifest`` records as made from the same recipe (photo included) are reused."""
    from ..inpaint import create_inpainter
    from ..inpaint.compose import make_composites
    from ..io import encode_image, read_image
    from ..masks import make_mask

    out = []
    for i, (photo, (_, mask_kind, inpainter)) in enumerate(zip(photos, CASES)):
        path = Path(directory) / f"{photo.stem}_inpainted.png"
        truth = Path(truth_dir) / f"{photo.stem}_inpainted.mask.png"
        recipe = edit_recipe(i, photo, seed=seed)
        if not (manifest.reusable(path, recipe) and manifest.reusable(truth, recipe)):
            # refused before the (slow) inpainting, not after it
            manifest.refuse_foreign([path, truth])
            rng = np.random.default_rng([seed, i])
            image = read_image(photo)
            sample = make_mask(mask_kind, image.shape[:2], rng=rng, area=EDIT_AREA)
            fake = make_composites(image, sample.soft, ("realfake",), inpainter=create_inpainter(inpainter), rng=rng)[
                "realfake"
            ]
            manifest.write([(truth, encode_image(sample.soft, "png")), (path, encode_image(fake, "png"))], recipe)
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
    type=OutputPath(file_okay=False),
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
    Running it again reuses the generated photos and edits that this version would make the
    same way; it regenerates stale ones and never overwrites files it did not make.
    """
    from ..detection.batch import expand_inputs, run_batch
    from ..detection.loader import load_model
    from ..detection.outputs import INDEX_HTML
    from ..detection.tiling import DEFAULT_OVERLAP, DEFAULT_TILE

    out = Path(out_dir)
    images, truth_dir, det_dir = out / "images", out / "truth", out / "detections"
    manifest = DemoManifest.load(out / MANIFEST_NAME)
    # a refused run changes nothing, rather than stopping halfway through the files
    manifest.refuse_foreign(demo_files(images, truth_dir))
    photos = make_demo_photos(images, manifest=manifest)
    edits = make_demo_edits(photos, images, truth_dir, manifest=manifest)
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
