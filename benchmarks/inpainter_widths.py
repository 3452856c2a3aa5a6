"""How the learned inpainters' two widths were chosen: hole PSNR and texture on VALIDATION photos.

The ``val`` photos of ``configs/splits/shared_photos.txt`` (never the benchmark's ``test`` photos),
centre-cropped and resized to 512², each with two ``strokes`` masks and one ``shapes`` mask of
our own generator (5–40 % of the image; mask ``j`` of photo ``i`` drawn with seed ``100·i + j``),
never the NVIDIA masks of ``benchmarks/inpainters.py``. Every configuration fills the same
(photo, mask) pairs; the table gives the mean hole PSNR and the mean texture ratio
(``hole_texture_ratio``) per configuration.

    python benchmarks/inpainter_widths.py [--photos 16] \\
        [--configs telea,gated@24/64,gated@16/64,safepaint@16/32,safepaint@16/0,edgeconnect:RUN/best.safetensors@24/64]

``--thin``: two thin-stroke masks per photo instead (4–10 and 8–18 px brushes, 5–15 % of the image).

A configuration is ``NAME`` (its defaults), ``NAME@HOLE/DETAIL`` (``hole_width`` / ``detail_width``)
or ``NAME:WEIGHTS@HOLE/DETAIL`` (a learned inpainter with weights of your own training).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from _harness import NO_SHARED_DATA, fmt, markdown_table, set_threads, shared_data, split_photos  # noqa: E402

MASK_KINDS = ("strokes", "shapes", "strokes")  # the val photos have no object labels
#: ``--thin``: thin brush strokes instead (widths in px at 512², 5–15 % of the image), where a
#: diffusion fill is at its best and a network's own pattern shows most
THIN_WIDTHS = ((4, 10), (8, 18))
DEFAULT = "telea,gated,edgeconnect,fourier,safepaint,gated@24/0,gated@64/0,edgeconnect@32/0,safepaint@16/0"


def parse_config(spec: str) -> tuple[str, dict]:
    """``NAME[:WEIGHTS][@HOLE/DETAIL]`` -> (name, options)."""
    head, _, widths = spec.partition("@")
    name, _, weights = head.partition(":")
    options: dict = {"weights": weights} if weights else {}
    if widths:
        hole, _, detail = widths.partition("/")
        options.update(hole_width=int(hole), detail_width=int(detail or 0))
    return name, options


def val_pairs(root: Path, n: int, *, thin: bool = False) -> list[tuple[np.ndarray, np.ndarray]]:
    from inpaintscope.data.sources import prepare_image
    from inpaintscope.io.images import read_image
    from inpaintscope.masks import make_mask
    from inpaintscope.masks.strokes import strokes

    rels = split_photos("val")
    pairs = []
    for i, rel in enumerate(rels[:n]):
        photo = prepare_image(read_image(root / "photos" / rel), size=512)
        if thin:
            for j, width in enumerate(THIN_WIDTHS):
                soft, _ = strokes(
                    photo.shape[:2], rng=np.random.default_rng(500 + 10 * i + j), area=(0.05, 0.15), width=width
                )
                pairs.append((photo, soft > 0))
            continue
        for j, kind in enumerate(MASK_KINDS):
            sample = make_mask(kind, photo.shape[:2], rng=np.random.default_rng(100 * i + j), area=(0.05, 0.4))
            pairs.append((photo, sample.soft > 0))
    return pairs


def main(argv: list[str] | None = None) -> int:
    from inpaintscope.evaluate.inpainting_quality import hole_psnr, hole_texture_ratio
    from inpaintscope.inpaint import create_inpainter

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=16, help="val photos (each gets three masks)")
    parser.add_argument("--configs", default=DEFAULT)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--thin", action="store_true", help="thin brush strokes (THIN_WIDTHS) instead of the default masks"
    )
    args = parser.parse_args(argv)
    root = shared_data()
    if root is None:
        print(NO_SHARED_DATA)
        return 0
    set_threads(args.threads)
    pairs = val_pairs(root, args.photos, thin=args.thin)
    print(f"{len(pairs)} (val photo, mask) pairs at 512²", file=sys.stderr)
    rows = []
    for spec in (s for s in args.configs.split(",") if s):
        name, options = parse_config(spec)
        inpainter = create_inpainter(name, **options)
        psnr, texture = [], []
        t0 = time.perf_counter()
        for photo, mask in pairs:
            out = inpainter.inpaint(photo, mask, rng=np.random.default_rng(0))
            psnr.append(hole_psnr(out, photo, mask))
            with contextlib.suppress(ValueError):  # a flat original or a hole without interior: undefined
                texture.append(hole_texture_ratio(out, photo, mask))
        seconds = (time.perf_counter() - t0) / len(pairs)
        rows.append([spec, fmt(float(np.mean(psnr)), 2), fmt(float(np.mean(texture)), 2), fmt(seconds, 2)])
        print(f"  {spec}: done", file=sys.stderr, flush=True)
    print(markdown_table(["configuration", "hole PSNR (dB)", "texture", "s / image"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
