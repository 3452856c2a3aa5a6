"""Does the detector cry wolf when an honest photo is blurred, sharpened, noisy or recompressed?

Issue 11 asks that authentic photos "(defocus, sky, noise, JPEG, sharpening)" be called clean at
least 95 % of the time, with at most 0.5 % of their area flagged. This benchmark launders the
authentic test photos of one set (default ``data/v3test_cls``: all 320 test photos, never trained
on) with each post-processing spec of ``--posts`` (see ``inpaintscope.inpaint.postprocess``:
``blur:S`` is a Gaussian defocus stand-in, ``sharpen:A`` unsharp masking, ``noise:S`` Gaussian
sensor noise, seeded per image) and reports, per checkpoint side by side:

* ``called clean``: share of photos whose image score is below 0.5;
* ``area``: mean flagged pixel area (``authentic_fp_area``: the mask, whatever the image score);
* ``area shown``: mean flagged area counting only photos called inpainted (what ``detect`` draws as
  regions; a photo called clean shows none);
* with ``--fills``, the same set's classical fills laundered the same way: ``f1@0.5`` and
  ``image_auc`` against these authentic photos (what the hardening costs).

    python benchmarks/authentic_robustness.py --checkpoint A.safetensors --checkpoint B.safetensors --fills
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from torch.utils.data import Subset

from _harness import authentic_summary, fmt, markdown_table, set_threads

POSTS = "none,jpeg:70,blur:1,blur:1.5+noise:2,blur:3,sharpen:1,noise:3,resize:0.5+jpeg:80"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", action="append", default=None, help="repeatable [default: the shipped model]")
    ap.add_argument("--data", default="data/v3test_cls")
    ap.add_argument("--split", default="test")
    ap.add_argument("--posts", default=POSTS)
    ap.add_argument("--fills", action="store_true", help="also score the set's fills under each spec")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="runs/authentic_robustness.json")
    args = ap.parse_args(argv)
    set_threads(args.threads)

    from inpaintscope.data import open_data
    from inpaintscope.detection import DEFAULT_MODEL
    from inpaintscope.evaluate import evaluate
    from inpaintscope.evaluate.perturb import PerturbedDataset
    from inpaintscope.models import load_detector

    data = open_data([args.data], split=args.split, gt_mode="core", include_authentic=True)
    keep = range(len(data)) if args.fills else [i for i, y in enumerate(data.labels()) if y == 0]
    items = Subset(data, list(keep))
    posts = [p.strip() for p in args.posts.split(",") if p.strip()]
    checkpoints = args.checkpoint or [str(DEFAULT_MODEL)]
    results: dict[str, dict[str, dict[str, float | None]]] = {}
    for ckpt in checkpoints:
        model = load_detector(ckpt)
        results[ckpt] = {}
        for post in posts:
            report = evaluate(model, PerturbedDataset(items, post), batch_size=1, device="cpu")
            auth = authentic_summary(report)
            results[ckpt][post] = {
                "n_authentic": auth["n"],
                "called_clean": auth["called_clean"],
                "area": auth["fp_area_mean"],
                "area_shown": auth["area_shown"],
                "f1@0.5": report.metrics.get("f1@0.5") if args.fills else None,
                "image_auc": report.metrics.get("image_auc") if args.fills else None,
            }
            print(f"{Path(ckpt).name} {post}: {results[ckpt][post]}", flush=True)
    n = next(iter(next(iter(results.values())).values()))["n_authentic"]
    print(f"\nAuthentic photos of {args.data} ({args.split}, {n} photos), laundered with each spec:\n")
    head = ["post-processing"]
    for ckpt in checkpoints:
        name = Path(ckpt).name
        head += [f"{name} clean", f"{name} area", f"{name} area shown"]
        if args.fills:
            head += [f"{name} fills f1@0.5", f"{name} fills image_auc"]
    rows = []
    for post in posts:
        row = [post]
        for ckpt in checkpoints:
            r = results[ckpt][post]
            row += [f"{r['called_clean']:.1%}", f"{r['area']:.2%}", f"{r['area_shown']:.2%}"]
            if args.fills:
                row += [fmt(r["f1@0.5"]), fmt(r["image_auc"])]
        rows.append(row)
    print(markdown_table(head, rows))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"data": args.data, "split": args.split, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
