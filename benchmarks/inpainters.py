"""Inpainting quality and speed of every inpainter, on test photos and masks never trained on.

Photos: the ``test`` photos of ``configs/splits/shared_photos.txt`` (no learned inpainter saw
them), centre-cropped and resized to 512². Masks: the NVIDIA irregular hole masks (512², never
used in training), in their hole-ratio bins 1–10 %, 10–20 %, 20–30 % and 30–40 %; each photo
gets one mask of each bin (a deterministic choice). Every inpainter fills the same (photo,
mask) pairs. Metrics (:mod:`inpaintscope.evaluate.inpainting_quality`): hole PSNR and hole SSIM,
per bin and over holes ≥ 5 % of the image, and over those holes the texture ratio (the fill's
fine detail over the photo's: ~0 for a smooth fill, ~1 as detailed as the photo); seconds per
512² image (median, one torch/OpenCV thread, after a warm-up call). Prints a Markdown table.

    python benchmarks/inpainters.py [--photos 40] [--inpainters telea,ns,...] [--threads 1]
        [--picture out.png]   # side-by-side picture on scikit-image's sample photos (committable)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from _harness import NO_SHARED_DATA, set_threads, shared_data, split_photos  # noqa: E402

BINS = ((0.01, 0.10), (0.10, 0.20), (0.20, 0.30), (0.30, 0.40))
BIG_HOLE = 0.05  # "holes ≥ 5 % of the image": the texture ratio and the summary columns
DEFAULT = "telea,ns,biharmonic,patchmatch,patchmatch_sharp,criminisi,gated,edgeconnect,fourier,safepaint"


def test_photos(root: Path, n: int) -> list[np.ndarray]:
    from inpaintscope.data.sources import prepare_image
    from inpaintscope.io.images import read_image

    rels = split_photos("test")
    step = max(1, len(rels) // n)
    return [prepare_image(read_image(root / "photos" / r), size=512) for r in rels[::step][:n]]


def bin_masks(root: Path, n: int) -> dict[tuple[float, float], list[np.ndarray]]:
    """``n`` masks per hole-ratio bin: the NVIDIA test set's files are ordered by hole ratio."""
    from inpaintscope.io.images import read_mask

    files = sorted((root / "masks" / "irregular").glob("*.png"))
    ratios = []
    out: dict[tuple[float, float], list[np.ndarray]] = {b: [] for b in BINS}
    for f in files:
        m = read_mask(f) > 0
        ratios.append((float(m.mean()), m))
    for lo, hi in BINS:
        inside = [m for r, m in ratios if lo <= r < hi]
        step = max(1, len(inside) // n)
        out[(lo, hi)] = inside[::step][:n]
    return out


def texture_ratio(out: np.ndarray, photo: np.ndarray, mask: np.ndarray) -> float:
    """``hole_texture_ratio`` on holes ≥ 5 %, NaN where it is undefined (a flat original, a thin hole)."""
    from inpaintscope.evaluate.inpainting_quality import hole_texture_ratio

    if mask.mean() < BIG_HOLE:
        return float("nan")
    try:
        return hole_texture_ratio(out, photo, mask)
    except ValueError:
        return float("nan")


def run(names: list[str], photos: list[np.ndarray], masks: dict, threads: int) -> dict[str, dict]:
    from inpaintscope.evaluate.inpainting_quality import hole_psnr, hole_ssim
    from inpaintscope.inpaint import create_inpainter

    set_threads(threads)
    results = {}
    for name in names:
        inp = create_inpainter(name)
        inp.inpaint(photos[0], masks[BINS[0]][0], rng=np.random.default_rng(0))  # warm-up
        rows = {b: [] for b in BINS}
        seconds = []
        for i, photo in enumerate(photos):
            for b in BINS:
                mask = masks[b][i % len(masks[b])]
                t0 = time.perf_counter()
                out = inp.inpaint(photo, mask, rng=np.random.default_rng(i))
                seconds.append(time.perf_counter() - t0)
                rows[b].append(
                    (
                        hole_psnr(out, photo, mask),
                        hole_ssim(out, photo, mask),
                        float(mask.mean()),
                        texture_ratio(out, photo, mask),
                    )
                )
        results[name] = {"rows": rows, "seconds": statistics.median(seconds)}
        print(f"  {name}: done ({statistics.median(seconds):.2f} s/image)", file=sys.stderr, flush=True)
    return results


def table(results: dict[str, dict]) -> str:
    head = "| inpainter | " + " | ".join(f"{int(lo * 100)}–{int(hi * 100)} % PSNR / SSIM" for lo, hi in BINS)
    head += " | holes ≥ 5 %: PSNR | SSIM | texture | s / 512² image |\n|---|" + "---:|" * (len(BINS) + 4)
    lines = [head]
    for name, r in results.items():
        cells = [
            f"{np.mean([x[0] for x in r['rows'][b]]):.2f} / {np.mean([x[1] for x in r['rows'][b]]):.3f}" for b in BINS
        ]
        big = [x for b in BINS for x in r["rows"][b] if x[2] >= BIG_HOLE]
        cells += [f"{np.nanmean([x[i] for x in big]):.{d}f}" for i, d in ((0, 2), (1, 3), (3, 2))]
        cells.append(f"{r['seconds']:.2f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def picture(names: list[str], path: Path) -> None:
    """Side by side on scikit-image's bundled photos (ours to publish, unlike the test photos)."""
    import skimage.data
    from PIL import Image, ImageDraw

    from inpaintscope.data.sources import prepare_image
    from inpaintscope.inpaint import create_inpainter
    from inpaintscope.masks import make_mask

    photos = [prepare_image(getattr(skimage.data, n)(), size=256) for n in ("astronaut", "coffee", "chelsea")]
    rows = []
    for i, photo in enumerate(photos):
        mask = (
            make_mask(
                "strokes" if i != 1 else "shapes", photo.shape[:2], rng=np.random.default_rng(10 + i), area=(0.15, 0.25)
            ).soft
            > 0
        )
        shown = photo.copy()
        shown[mask] = (255, 255, 255)
        tiles = [shown] + [create_inpainter(n).inpaint(photo, mask, rng=np.random.default_rng(i)) for n in names]
        rows.append(np.concatenate(tiles + [photo], axis=1))
    sheet = np.concatenate(rows, axis=0)
    labels = ["hole"] + names + ["original"]
    band = Image.new("RGB", (sheet.shape[1], 18), "white")
    draw = ImageDraw.Draw(band)
    for j, label in enumerate(labels):
        draw.text((j * 256 + 4, 3), label, fill="black")
    out = Image.new("RGB", (sheet.shape[1], sheet.shape[0] + 18), "white")
    out.paste(band, (0, 0))
    out.paste(Image.fromarray(sheet), (0, 18))
    out.save(path, quality=88) if path.suffix.lower() in (".jpg", ".jpeg") else out.save(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=40, help="test photos (each gets one mask per bin)")
    parser.add_argument("--inpainters", default=DEFAULT)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--picture", type=Path, default=None, help="also write the side-by-side picture here")
    parser.add_argument("--picture-inpainters", default="telea,patchmatch,gated,edgeconnect,fourier,safepaint")
    args = parser.parse_args(argv)
    names = [n for n in args.inpainters.split(",") if n]
    if args.picture:
        picture([n for n in args.picture_inpainters.split(",") if n], args.picture)
        print(f"picture: {args.picture}", file=sys.stderr)
    data = shared_data()
    if data is None:
        print(NO_SHARED_DATA)
        return 0
    photos = test_photos(data, args.photos)
    masks = bin_masks(data, args.photos)
    mask_counts = ", ".join(str(len(v)) for v in masks.values())
    print(
        f"{len(photos)} test photos at 512², NVIDIA irregular masks ({mask_counts} per bin), {args.threads} thread(s)",
        file=sys.stderr,
    )
    print(table(run(names, photos, masks, args.threads)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
