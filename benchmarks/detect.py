"""Detection speed and memory: seconds per image and peak RSS by image size.

    python benchmarks/detect.py                       # default model vs iid_net, all sizes
    python benchmarks/detect.py --model ckpt.safetensors --sizes 512
    python benchmarks/detect.py --arch scope_tiny     # a randomly initialised architecture

Every cell (model × size) runs in its own subprocess, so its peak RSS (``ru_maxrss``: model,
image, tiles and outputs of ``inpaintscope.detect``) is not inflated by an earlier cell. In a
cell: load the model, one warm-up call on an image of one tile's shape, then ``--repeats`` timed calls of
``detect`` on a seeded random image of that size (median reported; reading and writing files
is not included). ``iid_net`` is the ratio anchor: randomly initialised (speed does not depend
on the weights) and measured at the ``--anchor-sizes`` only, because its global attention
grows quadratically with the pixel count (~50 s at 1024² on 2 CPU threads).
Torch threads default to 2, the laptop-CPU target of the project.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from _harness import markdown_table, median_seconds, peak_rss_mb, run_cell

DEFAULT_SIZES = "512,1024,2048,6000x4000"
ANCHOR = "iid_net"


def parse_size(text: str) -> tuple[int, int]:
    """``512`` → (512, 512); ``6000x4000`` → (width 6000, height 4000)."""
    if "x" in text:
        w, h = text.lower().split("x")
        return int(w), int(h)
    return int(text), int(text)


def measure_cell(spec: str, size: str, threads: int, repeats: int, tile: int, overlap: int) -> dict:
    """Child process: one model at one size; prints a JSON line."""
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    from inpaintscope.detection import LoadedModel, detect, load_model
    from inpaintscope.models import create_model

    kind, _, target = spec.partition(":")
    t0 = time.perf_counter()
    if kind == "arch":  # random init: timing only
        torch.manual_seed(0)
        model = LoadedModel(create_model(target).eval(), f"{target} (random init)", torch.device("cpu"))
    else:
        model = load_model(target or None, device="cpu")
    load_s = time.perf_counter() - t0
    w, h = parse_size(size)
    rng = np.random.default_rng(0)
    # warm up at the tile shape actually run: oneDNN builds its kernels per input shape on the
    # first call, a one-off cost a folder run pays once and that is not per-image time
    detect(
        rng.integers(0, 256, (min(h, tile), min(w, tile), 3), dtype=np.uint8), model=model, tile=tile, overlap=overlap
    )
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    seconds = median_seconds(lambda: detect(image, model=model, tile=tile, overlap=overlap), repeats, warmup=False)
    return {
        "model": model.label,
        "size": size,
        "pixels": w * h,
        "seconds": seconds,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "load_seconds": round(load_s, 3),
        "threads": threads,
    }


def measure(spec: str, size: str, args: argparse.Namespace) -> dict | None:
    result = run_cell(
        __file__,
        [
            "--cell",
            spec,
            size,
            "--threads",
            str(args.threads),
            "--repeats",
            str(args.repeats),
            "--tile",
            str(args.tile),
            "--overlap",
            str(args.overlap),
        ],
        timeout=args.timeout,
        env={"OMP_NUM_THREADS": str(args.threads)},
    )
    if "error" in result:
        reason = f"timed out after {args.timeout} s" if result["error"] == "timeout" else f"failed ({result['error']})"
        print(f"  {spec} @ {size}: {reason}", file=sys.stderr)
        return None
    print(
        f"  {result['model']} @ {size}: {result['seconds']:.3f} s, peak RSS {result['peak_rss_mb']:.0f} MB",
        file=sys.stderr,
    )
    return result


def table(main: dict[str, dict | None], anchor: dict[str, dict | None], sizes: list[str]) -> str:
    label = next((r["model"] for r in main.values() if r), "model")
    rows = []
    for size in sizes:
        m, a = main.get(size), anchor.get(size)
        w, h = parse_size(size)
        cells = [size, f"{w * h / 1e6:.2f} MP"]
        cells += (
            [f"{m['seconds']:.3f}", f"{m['seconds'] / (w * h / 1e6):.3f}", f"{m['peak_rss_mb']:.0f}"]
            if m
            else ["n/a"] * 3
        )
        cells += [f"{a['seconds']:.3f}", f"{a['peak_rss_mb']:.0f}"] if a else ["–", "–"]
        cells.append(f"{a['seconds'] / m['seconds']:.1f}×" if (m and a) else "–")
        rows.append(cells)
    header = ["size", "pixels", "s/image", "s/MP", "peak RSS (MB)", "iid_net s/image", "iid_net RSS (MB)", "speed-up"]
    return (
        f"Model: `{label}`; anchor: `{ANCHOR}` (random init). Seconds per image (median), peak RSS.\n\n"
        + markdown_table(header, rows)
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="shipped name or checkpoint (default: the default model)")
    ap.add_argument("--arch", default=None, help="time a randomly initialised registered architecture instead")
    ap.add_argument("--sizes", default=DEFAULT_SIZES, help=f"comma list, N or WxH [{DEFAULT_SIZES}]")
    ap.add_argument("--anchor-sizes", default="512,1024", help="sizes at which iid_net is measured ('' for none)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tile", type=int, default=1024)
    ap.add_argument("--overlap", type=int, default=128)
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    ap.add_argument("--json", default=None, help="also write all results to this file")
    ap.add_argument("--cell", nargs=2, metavar=("SPEC", "SIZE"), help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.cell:
        print(json.dumps(measure_cell(args.cell[0], args.cell[1], args.threads, args.repeats, args.tile, args.overlap)))
        return
    spec = f"arch:{args.arch}" if args.arch else f"load:{args.model or ''}"
    sizes = [s for s in args.sizes.split(",") if s]
    anchor_sizes = [s for s in args.anchor_sizes.split(",") if s]
    main_res = {s: measure(spec, s, args) for s in sizes}
    anchor_res = {s: measure(f"arch:{ANCHOR}", s, args) for s in anchor_sizes}
    print(table(main_res, anchor_res, sizes))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": main_res, "anchor": anchor_res}, f, indent=2)


if __name__ == "__main__":
    main()
