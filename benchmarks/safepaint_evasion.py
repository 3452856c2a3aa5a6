"""What SafePaint's anti-forensic training buys: detection of its fills vs the same network without it.

Builds two test sets from the same test photos, masks and seeds — one filled by the shipped
``safepaint`` inpainter (trained with SafePaint's domain-distance term and our anti-forensic
term against the default detector), one by the same architecture trained with the same data,
steps and losses but **without** those two terms (``configs/inpainters/safepaint_plain.yaml``) —
then reports, for each detector given, f1@0.5 and image_auc (fills + the authentic photos), and
the fills' hole PSNR / SSIM against the originals (quality must stay comparable for the evasion
to mean anything).

    python benchmarks/safepaint_evasion.py --plain RUN/best.safetensors [--safepaint WEIGHTS] \\
        [--detector v0.2.safetensors --detector default] [--out data/safepaint_eval]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from _harness import NO_SHARED_DATA, shared_data  # noqa: E402


def build(photos: Path, out: Path, inpainter: str) -> None:
    from inpaintscope.data.builder import BuildConfig, build_dataset

    cfg = BuildConfig(
        masks=("rectangle", "strokes", "shapes", "folder"),
        inpainters=(inpainter,),
        modes=("realfake",),
        per_image=1,
        size=None,
        resize="none",
        split=str(REPO / "configs/splits/shared_photos_test_half.txt"),
        seed=31,
        mask_dir=str(photos.parent / "masks" / "irregular"),
        mask_area=(0.05, 0.3),
        authentic=True,
    )
    # the photos folder itself, so relative paths match the split file (bsds500/..., coco128/...)
    build_dataset([photos], out, cfg, workers=1, progress=True)


def quality(root: Path) -> tuple[float, float]:
    from inpaintscope.evaluate.inpainting_quality import hole_psnr, hole_ssim
    from inpaintscope.io import read_image, read_mask

    psnr, ssim = [], []
    for line in (root / "manifest.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec["authentic"]:
            continue
        files = rec["files"]
        hole = read_mask(root / files["mask"]) == 255
        if hole.any():
            fill, original = read_image(root / files["realfake"]), read_image(root / files["original"])
            psnr.append(hole_psnr(fill, original, hole))
            ssim.append(hole_ssim(fill, original, hole))
    return float(np.mean(psnr)), float(np.mean(ssim))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--plain", required=True, help="weights of the SafePaint run without domain/anti-forensic terms")
    ap.add_argument("--safepaint", default=None, help="weights of the SafePaint to measure (default: the shipped one)")
    ap.add_argument("--detector", action="append", default=None, help="detector(s) to measure (default: default)")
    ap.add_argument("--out", type=Path, default=REPO / "data" / "safepaint_eval")
    args = ap.parse_args(argv)
    data = shared_data()
    if data is None:
        print(NO_SHARED_DATA)
        return 0
    from inpaintscope.data import open_data
    from inpaintscope.detection.loader import load_model
    from inpaintscope.evaluate import evaluate

    sets = {
        "safepaint (domain + anti-forensic terms)": args.out / "safepaint",
        "same network without them": args.out / "plain",
    }
    safepaint = "safepaint" if args.safepaint is None else f"safepaint:{Path(args.safepaint).resolve()}"
    build(data / "photos", sets["safepaint (domain + anti-forensic terms)"], safepaint)
    build(data / "photos", sets["same network without them"], f"safepaint:{Path(args.plain).resolve()}")
    rows = []
    for detector in args.detector or ["default"]:
        loaded = load_model(detector, device="cpu")
        for label, root in sets.items():
            report = evaluate(loaded.detector, open_data([str(root)], split="test", modes=["realfake"]), device="cpu")
            m = report.metrics
            rows.append((loaded.label, label, m["f1@0.5"], m["image_auc"], *quality(root)))
    print("| detector | fills | f1@0.5 | image_auc | hole PSNR (dB) | hole SSIM |\n|---|---|---:|---:|---:|---:|")
    for det, label, f1, auc, psnr, ssim in rows:
        print(f"| {det} | {label} | {f1:.3f} | {auc:.3f} | {psnr:.2f} | {ssim:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
