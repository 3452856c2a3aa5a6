"""Same-data, equal-budget comparison of the detector zoo (the comparison the Bochum report could not make).

Every model is trained from scratch with its own recipe (loss, lr, weight decay, image-loss
weight), read from its training config in ``configs/`` (:data:`RECIPE_CONFIGS`), on the **same**
generated dataset, with the **same budget**: by default the same wall-clock CPU time
(``--minutes``; the question a CPU user has: what does each get to in the same compute), or the
same number of optimiser steps (``--steps``). Batch and crop size are shared. Each is then
evaluated with the named metrics on the test split (photos never seen in training); steps
reached and samples seen are reported.

    python benchmarks/compare_models.py --data data/default --minutes 8 --threads 1 --batch 8 \
        --crop 128 --models scope_small,iid_net,nix_net_40,fcn_resnet50 --eval-limit 300

Runs are resumable: a model whose run folder already holds its final checkpoint is not retrained.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from _harness import CONFIGS, fmt, markdown_table, read_recipe, set_threads

#: the config (in configs/) each model's recipe is read from; ``scope_small`` has no config of
#: its own and trains with the default detector's recipe (``scope_fast``, same family)
RECIPE_CONFIGS = {
    "scope_tiny": "scope_tiny.yaml",
    "scope_small": "default.yaml",
    "scope_fast": "default.yaml",
    "iid_net": "iid_net.yaml",
    "nix_net_40": "nix_net_40_report.yaml",
    "fcn_resnet50": "fcn_resnet50_report.yaml",
}
#: what a recipe contributes; data, budget, batch, crop and schedule are the comparison's own
RECIPE_KEYS = ("loss", "lr", "weight_decay", "image_loss_weight")
METRICS = ("f1@0.5", "iou@0.5", "auc_pixel", "image_auc", "authentic_fp_area", "report_iou")


def recipe(model: str) -> dict[str, Any]:
    """``model``'s training recipe (:data:`RECIPE_KEYS`) from its config: ``RECIPE_CONFIGS[model]``,
    else ``configs/<model>.yaml``."""
    path = CONFIGS / RECIPE_CONFIGS.get(model, f"{model}.yaml")
    if not path.is_file():
        raise SystemExit(f"no training config for {model}: add configs/{model}.yaml or an entry in RECIPE_CONFIGS")
    return read_recipe(path, RECIPE_KEYS)


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
    set_threads(args.threads)
    names = args.models.split(",")
    recipes = {name: recipe(name) for name in names}  # a missing config fails before any training

    from inpaintscope.evaluate import evaluate
    from inpaintscope.evaluate.selection import open_evaluation_data
    from inpaintscope.models import count_parameters, load_detector
    from inpaintscope.train import TrainConfig, fit

    modes = args.modes.split(",")
    out = Path(args.out)
    rows = []
    for name in names:
        run_dir = out / name
        done = run_dir / "best.safetensors"
        timing = run_dir / "timing.json"
        if not (done.exists() and timing.exists()):
            cfg = TrainConfig(
                model=name,
                data=[args.data],
                modes=modes,
                gt_mode="core",
                batch_size=args.batch,
                augment={"crop": args.crop, "rot90": True},
                max_steps=args.steps,
                max_minutes=None if args.steps else args.minutes,
                epochs=1000,
                seed=args.seed,
                device="cpu",
                out=str(run_dir),
                progress=False,
                early_stopping_patience=None,
                **recipes[name],
            )
            start = time.perf_counter()
            result = fit(cfg)
            timing.write_text(json.dumps({"train_seconds": time.perf_counter() - start, "steps": result.steps}))
        timed = json.loads(timing.read_text())
        train_s, steps = timed["train_seconds"], timed["steps"]
        model = load_detector(done)
        test = open_evaluation_data([args.data], split="test", modes=modes, limit=args.eval_limit)
        report = evaluate(model, test, batch_size=8, device="cpu")
        report.save(run_dir, stem="eval-test")
        rows.append((name, count_parameters(model), train_s, steps, len(test), report.metrics))
        print(f"{name}: " + ", ".join(f"{k} {report.metrics.get(k)}" for k in METRICS), flush=True)

    budget = f"{args.steps} steps" if args.steps else f"{args.minutes:g} min wall-clock"
    print(
        f"\nBudget per model: {budget}, batch {args.batch}, {args.crop}² crops, CPU, {args.threads} thread(s); "
        f"data {args.data} ({args.modes}); test items: {rows[0][4] if rows else 0}\n"
    )
    print(
        "Recipes: "
        + "; ".join(f"{name} {recipes[name]} ({RECIPE_CONFIGS.get(name, name + '.yaml')})" for name in names)
        + "\n"
    )
    header = ["model", "params", "steps", "samples seen", "train time (s)", *METRICS]
    print(
        markdown_table(
            header,
            [
                [name, f"{n:,}", steps, steps * args.batch, f"{train_s:.0f}", *(fmt(m.get(k)) for k in METRICS)]
                for name, n, train_s, steps, _, m in rows
            ],
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
