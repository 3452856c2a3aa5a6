"""The numbers of the default model's card: named metrics on held-out photos, clean and laundered.

Evaluates a checkpoint (default: the shipped one) on

* the test split of ``data/default`` (photos never used in training; the inpainters it was
  trained on: telea, ns, patchmatch, autoencoder; realfake + fakefake; authentic photos),
  clean and after JPEG 90, JPEG 75 and 0.5× resize (applied on the fly to every test image);
* ``data/heldout`` (the same test photos inpainted by **biharmonic**, which training never saw,
  with NVIDIA irregular ``folder`` masks, also unseen), clean;
* ``data/native_test`` (the test photos at their **native resolution**, as users' photos come:
  telea, ns, patchmatch and the held-out biharmonic, realfake, plus every photo authentic), clean.

Prints Markdown tables (overall, per inpainter, per mode) and writes every report as JSON.

    python benchmarks/default_model_report.py [--checkpoint PATH] [--out runs/model_card]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from _harness import fmt, markdown_table, set_threads

METRICS = ("f1@0.5", "iou@0.5", "f1@best", "auc_pixel", "image_auc", "image_acc@0.5", "image_bacc@0.5",
           "authentic_fp_area")
CONDITIONS = (("clean", None), ("jpeg 90", "jpeg:90"), ("jpeg 75", "jpeg:75"), ("resize 0.5×", "resize:0.5"))


def table(rows: list[tuple[str, dict]], first: str, extra: str | None = None) -> str:
    head = [first, *METRICS] + ([extra] if extra else [])
    return markdown_table(head, [[name, *(fmt(m.get(k)) for k in METRICS), *([str(m.get(extra, ""))] if extra else [])]
                                 for name, m in rows])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--data", default="data/default")
    ap.add_argument("--heldout", default="data/heldout")
    ap.add_argument("--native", default="data/native_test")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="runs/model_card")
    args = ap.parse_args(argv)
    set_threads(args.threads)

    from inpaintscope.data import open_data
    from inpaintscope.detection import DEFAULT_MODEL
    from inpaintscope.evaluate import evaluate
    from inpaintscope.evaluate.perturb import PerturbedDataset
    from inpaintscope.models import load_detector

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
    # (folder, report stem, title, row label, breakdowns) of the held-out sets, evaluated when built
    heldout_sets = (
        (args.heldout, "heldout", "Held-out inpainter: biharmonic, never trained on", "biharmonic, realfake",
         (("mask_kind", "mask kind", "folder = NVIDIA irregular masks, also unseen"),)),
        (args.native, "native", "Held-out photos at native resolution", "all (realfake)",
         (("inpainter", "inpainter", "biharmonic never trained on"),
          ("mask_kind", "mask kind", "folder = NVIDIA irregular masks, never trained on"))),
    )
    for folder, stem, title, row, breakdowns in heldout_sets:
        if not Path(folder).is_dir():
            continue
        # batch 1: native-resolution photos come in many sizes
        report = evaluate(model, open_data([folder], split="test", gt_mode="core"), batch_size=1, device="cpu")
        report.save(out, stem=stem)
        print(f"\n## {title} ({folder}, {report.counts})\n")
        print(table([(row, report.metrics)], "set"))
        for key, name, note in breakdowns:
            print(f"\n### By {name} ({note})\n")
            print(table(sorted(report.breakdown[key].items()), name, "n_manipulated"))
    (out / "summary.json").write_text(json.dumps({"checkpoint": str(ckpt), "conditions": dict(overall)}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
