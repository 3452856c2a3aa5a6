"""Does ``detect`` give the same answer on a GPU as on the CPU? (the README: "CPU, one GPU or
several give the same output").

Runs the shipped default detector on scikit-image's sample photos, on copies of them edited by
telea, patchmatch and edgeconnect (a ``shapes`` hole, 5–15 % of the image), on a 1536×2048 tiling
of one photo (the tiled path) and, with ``--cues autoencoder``, on three of them; once on the CPU
and once on ``--device``. Prints, per image, the largest heatmap difference, the share of mask
pixels that differ, both scores and whether the decision and the number of regions agree.

    python benchmarks/device_equality.py [--device cuda] [--no-autoencoder]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from _harness import fmt, markdown_table


def images() -> dict[str, np.ndarray]:
    from skimage import data

    from inpaintscope.inpaint import create_inpainter
    from inpaintscope.masks import make_mask

    photos = {
        "astronaut": data.astronaut(),
        "chelsea": data.chelsea(),
        "coffee": data.coffee(),
        "rocket": data.rocket(),
    }
    out = {}
    for i, (name, photo) in enumerate(photos.items()):
        out[name] = photo
        hole = make_mask("shapes", photo.shape[:2], rng=np.random.default_rng(i), area=(0.05, 0.15)).soft > 0
        for inpainter in ("telea", "patchmatch", "edgeconnect"):
            filled = create_inpainter(inpainter).inpaint(photo, hole, rng=np.random.default_rng(0))
            out[f"{name}-{inpainter}"] = filled
    out["astronaut-tiled"] = np.tile(photos["astronaut"], (3, 4, 1))
    return out


def timed_detect(image: np.ndarray, device: str, cues: tuple[str, ...]):
    from inpaintscope import detect

    t0 = time.perf_counter()
    result = detect(image, device=device, cues=cues)
    return result, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--no-autoencoder", action="store_true", help="skip the thorough-mode rows")
    args = ap.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device here: nothing to compare (run this where a GPU is)")
        return 0
    pictures = images()
    runs = [((), name) for name in pictures]
    if not args.no_autoencoder:
        runs += [(("autoencoder",), name) for name in ("astronaut", "astronaut-telea", "coffee-edgeconnect")]
    rows, worst = [], {"heat": 0.0, "mask": 0.0, "decisions": 0}
    for cues, name in runs:
        image = pictures[name]
        (a, cpu_s), (b, dev_s) = (timed_detect(image, device, cues) for device in ("cpu", args.device))
        heat = float(np.abs(a.heatmap.astype(np.float64) - b.heatmap).max())
        mask = float((a.mask != b.mask).mean())
        worst["heat"], worst["mask"] = max(worst["heat"], heat), max(worst["mask"], mask)
        worst["decisions"] += a.decision != b.decision
        rows.append(
            [
                name + (" +autoencoder" if cues else ""),
                f"{image.shape[0]}×{image.shape[1]}",
                f"{heat:.1e}",
                f"{mask:.1e}",
                fmt(a.score),
                fmt(b.score),
                "yes" if a.decision == b.decision and len(a.regions) == len(b.regions) else "NO",
                fmt(cpu_s, 2),
                fmt(dev_s, 2),
            ]
        )
    head = ["image", "size", "max |Δ heatmap|", "mask pixels differing", "score cpu", f"score {args.device}"]
    print(markdown_table([*head, "same decision and regions", "s cpu", f"s {args.device}"], rows))
    print(
        f"\n{len(rows)} images: decisions differ on {worst['decisions']}; largest heatmap difference "
        f"{worst['heat']:.1e}, largest share of mask pixels differing {worst['mask']:.1e} "
        f"(torch {torch.__version__}, cuDNN TF32 {'on' if torch.backends.cudnn.allow_tf32 else 'off'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
