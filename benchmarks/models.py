"""Speed and peak memory of every registered detector architecture on CPU.

    python benchmarks/models.py                                   # all models, 256/512/1024
    python benchmarks/models.py --models scope_tiny,scope_small --sizes 256,512 --repeats 3

For each model × size: seconds per image of the bare ``model(x)`` call (batch 1, eval mode,
``torch.no_grad``, randomly initialised weights: speed does not depend on them) as the median
of ``--repeats`` timed runs after one warm-up run at the same size, and the peak resident
memory of the process (``ru_maxrss``: interpreter + torch + weights + activations). Every cell
runs in a fresh subprocess so peaks do not mix. ``iid_net`` is measured in the same run at the
same sizes as the ratio anchor (``--no-anchor`` skips it); the last column is
``iid_net seconds / model seconds``. A cell that exceeds ``--cap`` seconds in total, or whose
process dies (out of memory), is reported as "OOM/too slow". Torch threads default to 2, the
laptop-CPU target of the project. Prints a Markdown table (and writes JSON with ``--json``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from _harness import markdown_table, peak_rss_mb, run_cell

ANCHOR = "iid_net"
TOO_SLOW = "OOM/too slow"


def measure_cell(name: str, size: int, threads: int, repeats: int, cap: float) -> dict:
    """Child process: one model at one size. Returns the measurements (printed as JSON)."""
    import torch

    torch.set_num_threads(threads)
    from inpaintscope.models import count_parameters, create_model

    start = time.perf_counter()
    torch.manual_seed(0)
    model = create_model(name).eval()
    m = int(model.size_multiple)
    h = w = m * -(-size // m)  # round up to the model's size multiple (a no-op for 256/512/1024)
    x = model.preprocess(torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0)))
    times: list[float] = []
    with torch.no_grad():
        t = time.perf_counter()
        model(x)  # warm-up: oneDNN builds its kernels for this shape on the first call
        warmup = time.perf_counter() - t
        while len(times) < repeats:
            # stop early rather than blow the cap: a slow cell still reports what it measured
            last = times[-1] if times else warmup
            if times and time.perf_counter() - start + last > 0.9 * cap:
                break
            t = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t)
    return {
        "model": name,
        "size": f"{w}x{h}",
        "threads": threads,
        "params": count_parameters(model),
        "seconds": statistics.median(times),
        "runs": len(times),
        "warmup_s": warmup,
        "peak_rss_mb": peak_rss_mb(),
    }


def measure(name: str, size: int, *, threads: int, repeats: int, cap: float) -> dict:
    """Run one cell in a fresh interpreter; a timeout or a dead child becomes TOO_SLOW."""
    result = run_cell(
        __file__,
        ["--cell", name, str(size), "--threads", str(threads), "--repeats", str(repeats), "--cap", str(cap)],
        timeout=cap,
    )
    if "error" in result:
        err = result["error"]
        # SIGKILL is the OOM killer's signature
        too_slow = err in ("timeout", "killed") or "memory" in err.lower()
        return {"model": name, "size": f"{size}x{size}", "error": TOO_SLOW if too_slow else f"error: {err}"}
    return result


def markdown(results: list[dict], anchor: dict[str, dict]) -> str:
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["model"], "", r["size"], r["error"], "", ""])
            continue
        a = anchor.get(r["size"])
        ratio = f"{a['seconds'] / r['seconds']:.1f}" if a and "error" not in a else "–"
        runs = "" if r["runs"] > 1 else " (1 run)"
        rows.append(
            [
                r["model"],
                f"{r['params'] / 1e6:.2f}",
                r["size"],
                f"{r['seconds']:.3f}{runs}",
                f"{r['peak_rss_mb']:.0f}",
                ratio,
            ]
        )
    return markdown_table(["model", "params (M)", "size", "s / image", "peak RSS (MB)", "× faster than iid_net"], rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", help="comma-separated names (default: every registered model)")
    p.add_argument("--sizes", default="256,512,1024", help="square sizes in pixels, comma-separated")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per cell after the warm-up")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--cap", type=float, default=120.0, help="seconds per cell before it counts as too slow")
    p.add_argument("--no-anchor", action="store_true", help=f"do not measure {ANCHOR} for the ratio column")
    p.add_argument("--json", type=Path, help="also write the raw results here")
    p.add_argument("--cell", nargs=2, metavar=("MODEL", "SIZE"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.repeats < 1 or args.threads < 1 or args.cap <= 0:
        p.error("--repeats and --threads must be ≥ 1 and --cap > 0")

    if args.cell:
        print(json.dumps(measure_cell(args.cell[0], int(args.cell[1]), args.threads, args.repeats, args.cap)))
        return 0

    from inpaintscope.models import list_models

    available = list_models()
    names = args.models.split(",") if args.models else available
    unknown = [n for n in names if n not in available]
    if unknown:
        p.error(f"unknown model(s) {', '.join(unknown)}; choose from: {', '.join(available)}")
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        p.error(f"--sizes must be comma-separated integers, got {args.sizes!r}")
    opts = dict(threads=args.threads, repeats=args.repeats, cap=args.cap)

    anchor: dict[str, dict] = {}
    if not args.no_anchor and ANCHOR in available:
        for s in sizes:
            r = measure(ANCHOR, s, **opts)
            anchor[r["size"]] = r
            print(f"# {ANCHOR} {r['size']}: {r.get('seconds', r.get('error'))}", file=sys.stderr, flush=True)
    results = []
    for n in names:
        for s in sizes:
            r = anchor[f"{s}x{s}"] if n == ANCHOR and f"{s}x{s}" in anchor else measure(n, s, **opts)
            results.append(r)
            print(f"# {n} {r['size']}: {r.get('seconds', r.get('error'))}", file=sys.stderr, flush=True)
    print(f"CPU, {args.threads} torch threads, batch 1, median of {args.repeats} runs after a warm-up\n")
    print(markdown(results, anchor))
    if args.json:
        args.json.write_text(json.dumps({"results": results, "anchor": anchor}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
