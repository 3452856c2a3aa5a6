"""The numbers of the default model's card: named metrics on held-out photos, clean and laundered.

Evaluates a checkpoint (default: the shipped one) on

* the test split of ``data/default`` (photos never used in training; the inpainters it was
  trained on: telea, ns, patchmatch, autoencoder; realfake + fakefake; authentic photos),
  clean and after JPEG 90, JPEG 75 and 0.5× resize (applied on the fly to every test image);
* ``data/heldout`` (the same test photos inpainted by **biharmonic**, which training never saw,
  with NVIDIA irregular ``folder`` masks, also unseen), clean.

Prints Markdown tables (overall, per inpainter, per mode) and writes every report as JSON.

    python benchmarks/default_model_report.py [--checkpoint PATH] [--out runs/model_card]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

METRICS = ("f1@0.5", "iou@0.5", "f1@best", "auc_pixel", "image_auc", "image_acc@0.5", "authentic_fp_area")
CONDITIONS = (("clean", None), ("jpeg 90", "jpeg:90"), ("jpeg 75", "jpeg:75"), ("resize 0.5×", "resize:0.5"))


def fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


def table(rows: list[tuple[str, dict]], first: str, extra: str | None = None) -> str:
    head = [first, *METRICS] + ([extra] if extra else [])
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for name, m in rows:
        cells = [fmt(m.get(k)) for k in METRICS] + ([str(m.get(extra, ""))] if extra else [])
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--data", default="data/default")
    ap.add_argument("--heldout", default="data/heldout")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="runs/model_card")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from inpaintscope.detection import DEFAULT_MODEL
    from inpaintscope.evaluate import evaluate
    from inpaintscope.evaluate.perturb import PerturbedDataset
    from inpaintscope.models import load_detector
    from inpaintscope.train import open_data

    ckpt = Path(args.checkpoint) if args.checkpoint else DEFAULT_MODEL
    model = load_detector(ckpt)
    out = Path(args.out)
    test = open_data([args.data], split="test", modes=["realfake", "fakefake"], gt_mode="core")
    overall, clean = [], None
    for label, post in CONDITIONS:
        data = PerturbedDataset(test, post) if post else test
        report = evaluate(model, data, batch_size=8, device="cpu", info={"post": post})
        report.save(out, stem=f"test-{label.split()[0]}{post.split(':')[1] if post else ''}")
        overall.append((label, report.metrics))
        clean = clean or report
    print(f"checkpoint: {ckpt}\n\n## Held-out photos, trained-on inpainters ({args.data}, test split, "
          f"{clean.counts})\n")
    print(table(overall, "condition"))
    print("\n### Clean, by inpainter\n")
    print(table(sorted(clean.breakdown["inpainter"].items()), "inpainter", "n_manipulated"))
    print("\n### Clean, by compositing mode\n")
    print(table(sorted(clean.breakdown["mode"].items()), "mode", "n_manipulated"))
    print("\n### Clean, by mask kind\n")
    print(table(sorted(clean.breakdown["mask_kind"].items()), "mask kind", "n_manipulated"))
    if Path(args.heldout).is_dir():
        held = evaluate(model, open_data([args.heldout], split="test", gt_mode="core"), batch_size=8, device="cpu")
        held.save(out, stem="heldout")
        print(f"\n## Held-out inpainter (biharmonic, never trained on; {args.heldout}, {held.counts})\n")
        print(table([("biharmonic, realfake", held.metrics)], "set"))
        print("\n### By mask kind (folder = NVIDIA irregular masks, also unseen)\n")
        print(table(sorted(held.breakdown["mask_kind"].items()), "mask kind", "n_manipulated"))
    (out / "summary.json").write_text(json.dumps({"checkpoint": str(ckpt), "conditions": dict(overall)}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
