"""Dataset-generation throughput per inpainter, at 512², with 1 and 2 worker processes.

Each cell is a real ``build_dataset`` run (rectangle masks, realfake mode) over the first N
photos of the shared data folder's ``photos/`` (sorted relative paths) into a fresh temporary folder, so
the time includes reading and preparing photos, masks, inpainting, compositing, PNG writing
and — for 2 workers — starting the worker processes. When the TAEF2 weights exist, a
``fakefake`` row (autoencoder round trip, no inpainter) is added. Prints a Markdown table.

    python benchmarks/generation.py [--images 12] [--size 512] [--inpainters telea,ns,patchmatch]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

from _harness import NO_SHARED_DATA, markdown_table, shared_data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=12, help="photos per cell (default 12)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--inpainters", default="telea,ns,biharmonic,patchmatch")
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args(argv)

    data = shared_data()
    if data is None:
        print(NO_SHARED_DATA)
        return 0
    from inpaintscope.data.builder import BuildConfig, build_dataset
    from inpaintscope.data.sources import discover_sources

    sources = [s.path for s in discover_sources([data / "photos"])][: args.images]
    weights = data / "weights"
    worker_counts = [int(w) for w in args.workers.split(",")]
    rows: list[tuple[str, str, list[float]]] = []
    cells = [(name, "realfake") for name in args.inpainters.split(",") if name]
    if (weights / "taef2_encoder.pth").is_file():
        cells.append(("-", "fakefake"))
    tmp = Path(tempfile.mkdtemp(prefix="inpaintscope-bench-"))
    try:
        # Warm up the in-process path (imports, first-call costs) so the 1-worker column measures
        # generation; the 2-worker column keeps its process start-up, which a user also pays.
        build_dataset(sources[:1], tmp / "warmup", BuildConfig(size=64, split="all=1"), workers=1, progress=False)
        for name, mode in cells:
            rates = []
            for workers in worker_counts:
                cfg = BuildConfig(
                    masks=("rectangle",),
                    inpainters=(name,) if name != "-" else (),
                    modes=(mode,),
                    size=args.size,
                    seed=0,
                    split="all=1",
                    autoencoder=str(weights) if mode == "fakefake" else None,
                )
                out = tmp / f"{name}-{mode}-{workers}"
                summary = build_dataset(sources, out, cfg, workers=workers, progress=False)
                rates.append(summary["run"]["samples_per_s"])
                shutil.rmtree(out)
                print(
                    f"  {name:<11} {mode:<9} {workers} worker(s): {rates[-1]:.2f} samples/s "
                    f"({summary['run']['wall_s']:.1f} s)",
                    file=sys.stderr,
                    flush=True,
                )
            rows.append((name, mode, rates))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(
        f"\nGeneration throughput, samples/s at {args.size}² ({args.images} photos per cell, rectangle masks; "
        f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}):\n"
    )
    header = ["inpainter", "mode", *(f"{w} worker{'s' if w > 1 else ''}" for w in worker_counts)]
    print(
        markdown_table(
            header, [[name, mode, *(f"{r:.2f}" for r in rates)] for name, mode, rates in rows], numeric_from=2
        )
    )
    return 0


if __name__ == "__main__":  # required: workers are started with spawn
    sys.exit(main())
