"""What the opt-in autoencoder-trace cue (``detect --cues autoencoder``) adds, and what it costs.

On one split of a dataset built with the ``autoencoder`` inpainter (modes ``realfake`` /
``fakefake``: a decoded region pasted back; ``inpainted``: the whole frame re-decoded) plus its
authentic photos, runs :func:`inpaintscope.detect` with and without the cue on the same model
and prints, per mode: pixel ``f1@0.5`` and ``auc_pixel`` (manipulated images), ``image_auc``
(against the authentic photos), the share of authentic photos called clean, the share flagged
``regenerated``, and seconds per image.

    python benchmarks/autoencoder_cue.py --data data/v3test_ae --split test [--model PATH] [--per-mode 15]
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np

from _harness import fmt, set_threads


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--model", default=None, help="checkpoint with a fitted fusion (default: the shipped one)")
    ap.add_argument("--per-mode", type=int, default=None, help="at most N evenly spaced images per mode")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    set_threads(args.threads)

    from inpaintscope import detect
    from inpaintscope.evaluate.metrics import binary_auc, f1_at, pixel_auc
    from inpaintscope.evaluate.selection import open_evaluation_data

    data = open_evaluation_data([args.data], split=args.split)
    by_mode: dict[str, list[int]] = defaultdict(list)
    for i, meta in enumerate(data.metas()):  # no image is read to choose the items
        by_mode[meta["mode"]].append(i)
    picked = []
    for idx in by_mode.values():
        keep = (
            idx
            if args.per_mode is None or len(idx) <= args.per_mode
            else [idx[k] for k in np.linspace(0, len(idx) - 1, args.per_mode).round().astype(int)]
        )
        picked += keep
    rows: dict[str, list[dict]] = defaultdict(list)
    for item in (data[i] for i in sorted(picked)):
        rgb = (item["image"].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        gt = item["mask"][0].numpy() > 0.5
        mode = item["meta"]["mode"]
        for cues in ((), ("autoencoder",)):
            t0 = time.perf_counter()
            d = detect(rgb, model=args.model, cues=cues)
            rows[mode].append(
                {
                    "cues": bool(cues),
                    "score": d.score,
                    "regenerated": bool(d.regenerated),
                    "f1": f1_at(d.heatmap, gt) if gt.any() else None,
                    "auc": pixel_auc(d.heatmap, gt) if gt.any() else None,
                    "seconds": time.perf_counter() - t0,
                    "pixels": rgb.shape[0] * rgb.shape[1],
                }
            )
    auth = {c: [r for r in rows["authentic"] if r["cues"] == c] for c in (False, True)}
    print(f"data: {args.data} ({args.split}); {len(auth[False])} authentic photos\n")
    print("| mode | cue | n | f1@0.5 | auc_pixel | image_auc | authentic called clean | flagged regenerated | s/MP |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for mode in sorted(rows):
        for cue in (False, True):
            rs = [r for r in rows[mode] if r["cues"] == cue]
            f1s = [r["f1"] for r in rs if r["f1"] is not None]
            aucs = [r["auc"] for r in rs if r["auc"] is not None]
            iauc = None
            if mode != "authentic":
                scores = np.array([r["score"] for r in rs + auth[cue]])
                labels = np.array([1] * len(rs) + [0] * len(auth[cue]))
                iauc = binary_auc(scores, labels)
            clean = np.mean([r["score"] < 0.5 for r in rs]) if mode == "authentic" else None
            regen = np.mean([r["regenerated"] for r in rs]) if cue else None
            spm = sum(r["seconds"] for r in rs) / (sum(r["pixels"] for r in rs) / 1e6)

            print(
                f"| {mode} | {'yes' if cue else 'no'} | {len(rs)} | {fmt(np.mean(f1s) if f1s else None)} | "
                f"{fmt(np.mean(aucs) if aucs else None)} | {fmt(iauc)} | {fmt(clean)} | {fmt(regen)} | {spm:.2f} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
