"""Same-data, equal-budget comparison of the detector zoo (the comparison the report could not make).

Every model is trained from scratch with its own published recipe (loss, lr, weight decay;
see configs/*.yaml) on the **same** generated dataset, with the **same budget**: by default the
same wall-clock CPU time (``--minutes``; the question a CPU user has: what does each get to in
the same compute), or the same number of optimiser steps (``--steps``). Batch and crop size are
shared. Each is then evaluated with the named metrics on the test split (photos never seen in
training); steps reached and samples seen are reported.

    python benchmarks/compare_models.py --data data/default --minutes 8 --threads 1 --batch 8 \
        --crop 128 --models scope_small,iid_net,nix_net_40,fcn_resnet50 --eval-limit 300

Runs are resumable: a model whose run folder already holds its final checkpoint is not retrained.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

#: each model's own recipe (the seeds' published settings; ours for scope)
RECIPES = {
    "scope_small": {"loss": "bce+dice:0.5", "lr": 1e-3, "image_loss_weight": 0.5},
    "scope_tiny": {"loss": "bce+dice:0.5", "lr": 1e-3, "image_loss_weight": 0.5},
    "iid_net": {"loss": "iid", "lr": 1e-4},
    "nix_net_40": {"loss": "focal", "lr": 1e-4, "weight_decay": 1e-3},
    "fcn_resnet50": {"loss": "focal", "lr": 1e-4},
}
METRICS = ("f1@0.5", "iou@0.5", "auc_pixel", "image_auc", "authentic_fp_area", "report_iou")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--models", default="scope_small,iid_net,nix_net_40,fcn_resnet50")
    ap.add_argument("--minutes", type=float, default=8.0, help="wall-clock training budget per model")
    ap.add_argument("--steps", type=int, default=None, help="step budget instead of --minutes")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--modes", default="realfake,fakefake")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-limit", type=int, default=None, help="evenly spaced test items (default: all)")
    ap.add_argument("--out", default="runs/compare")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from torch.utils.data import Subset

    from inpaintscope.evaluate import evaluate
    from inpaintscope.models import count_parameters, load_detector
    from inpaintscope.data import open_data
    from inpaintscope.train import TrainConfig, fit

    modes = args.modes.split(",")
    out = Path(args.out)
    rows = []
    for name in args.models.split(","):
        run_dir = out / name
        done = run_dir / "best.safetensors"
        timing = run_dir / "timing.json"
        if not (done.exists() and timing.exists()):
            cfg = TrainConfig(model=name, data=[args.data], modes=modes, gt_mode="core", batch_size=args.batch,
                              augment={"crop": args.crop, "rot90": True}, max_steps=args.steps,
                              max_minutes=None if args.steps else args.minutes, epochs=1000, seed=args.seed,
                              device="cpu", out=str(run_dir), progress=False, early_stopping_patience=None,
                              **RECIPES.get(name, {}))
            start = time.perf_counter()
            result = fit(cfg)
            timing.write_text(json.dumps({"train_seconds": time.perf_counter() - start, "steps": result.steps}))
        timed = json.loads(timing.read_text())
        train_s, steps = timed["train_seconds"], timed["steps"]
        model = load_detector(done)
        test = open_data([args.data], split="test", modes=modes, gt_mode="core", include_authentic=True)
        if args.eval_limit and args.eval_limit < len(test):
            test = Subset(test, [i * len(test) // args.eval_limit for i in range(args.eval_limit)])
        start = time.perf_counter()
        report = evaluate(model, test, batch_size=8, device="cpu")
        report.save(run_dir, stem="eval-test")
        rows.append((name, count_parameters(model), train_s, steps, len(test), report.metrics))
        print(f"{name}: " + ", ".join(f"{k} {report.metrics.get(k)}" for k in METRICS), flush=True)

    def fmt(v: float | None) -> str:
        return "–" if v is None else f"{v:.3f}"

    budget = f"{args.steps} steps" if args.steps else f"{args.minutes:g} min wall-clock"
    print(f"\nBudget per model: {budget}, batch {args.batch}, {args.crop}² crops, CPU, {args.threads} thread(s); "
          f"data {args.data} ({args.modes}); test items: {rows[0][4] if rows else 0}\n")
    print("| model | params | steps | samples seen | train time (s) | " + " | ".join(METRICS) + " |")
    print("|---|---:|---:|---:|---:|" + "---:|" * len(METRICS))
    for name, n, train_s, steps, _, m in rows:
        print(f"| {name} | {n:,} | {steps} | {steps * args.batch} | {train_s:.0f} | "
              + " | ".join(fmt(m.get(k)) for k in METRICS) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
