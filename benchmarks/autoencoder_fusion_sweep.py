"""How the thorough mode's area cap was chosen: the autoencoder cue's ``max_added_area`` on VALIDATION data.

``calibrate --cues autoencoder`` fits the cue's own pixel logit ``b·ratio + c`` and joins it to the
detector's as ``max(mask_logit, b·ratio + c)``; ``c`` is lowered until the cue alone flags at most
``max_added_area`` of the authentic pixels the detector leaves clean. This script computes the
detector's maps and the reconstruction-ratio maps of the same items the fit reads (``--limit``
evenly spaced, stratified items of the val split) once, then for each cap prints, per mode, the
mean pixel ``f1@0.5`` of the pasted-back items and, on the authentic photos, the mean flagged area
and the share with any flagged pixel — the linear form of the first fusion beside them. Test
photos are never read.

    python benchmarks/autoencoder_fusion_sweep.py --model CALIBRATED.safetensors --data data/ae_val [--limit 100]
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np

from _harness import fmt, markdown_table, set_threads

CAPS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1)


def f1_of(pred: np.ndarray, truth: np.ndarray) -> float:
    tp = float(np.sum(pred & truth))
    denom = float(pred.sum() + truth.sum())
    return 1.0 if denom == 0 else 2 * tp / denom


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="the calibrated checkpoint the fusion is fitted for")
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="val")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--pixels-per-image", type=int, default=2048)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    set_threads(args.threads)

    import torch

    from inpaintscope.detection.loader import LoadedModel, resolve_model_path
    from inpaintscope.detection.tiling import predict_tiled
    from inpaintscope.evaluate.fusion import fit_cue_logit, fit_logistic
    from inpaintscope.evaluate.selection import open_evaluation_data
    from inpaintscope.inpaint.autoencoder import load_autoencoder
    from inpaintscope.models import load_detector
    from inpaintscope.models.cues.autoencoder import ratio_map

    source = resolve_model_path(args.model)
    loaded = LoadedModel(load_detector(source), str(source), torch.device("cpu"))
    data = open_evaluation_data([args.data], split=args.split, limit=args.limit)
    ae = load_autoencoder("taef2")
    rng = np.random.default_rng(args.seed)
    items, sx, sy = [], [], []
    for item in data:
        mode = item["meta"].get("mode")
        if mode == "inpainted":
            continue  # a whole re-decoded frame has no region: the image-level flag's business
        rgb = (item["image"].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        logits = predict_tiled(loaded.detector, rgb, device=loaded.device).mask_logits.astype(np.float32)
        ratio = ratio_map(rgb, ae)
        truth = np.zeros(ratio.shape, bool) if int(item["label"]) == 0 else item["mask"][0].numpy() > 0.5
        # the same sampling as the fit, so the caps below are the fit's
        pick = rng.choice(truth.size, size=min(args.pixels_per_image, truth.size), replace=False)
        sx.append(np.stack([logits.reshape(-1)[pick], ratio.reshape(-1)[pick]], axis=1))
        sy.append(truth.reshape(-1)[pick])
        items.append((mode, logits, ratio, truth))
    px, py = np.concatenate(sx), np.concatenate(sy)
    forms: list[tuple[str, float, float, float]] = [("detector alone", 1.0, 0.0, -np.inf)]
    a, b_lin, c_lin = fit_logistic(px, py.astype(float))
    forms.append(("linear (first form)", a, b_lin, c_lin))
    for cap in CAPS:
        b, c, _ = fit_cue_logit(px[:, 0], px[:, 1], py, max_added_area=cap)
        forms.append((f"max, cap {cap:g}", 1.0, b, c))
    modes = sorted({m for m, *_ in items if m != "authentic"})
    rows = []
    for name, a, b, c in forms:
        per: dict[str, list[float]] = defaultdict(list)
        area, any_flag = [], []
        for mode, logits, ratio, truth in items:
            if name.startswith("linear"):
                fused = a * logits + b * ratio + c
            else:
                fused = np.maximum(logits, b * ratio + c)
            pred = fused > 0
            if mode == "authentic":
                area.append(float(pred.mean()))
                any_flag.append(bool(pred.any()))
            else:
                per[mode].append(f1_of(pred, truth))
        f1s = [fmt(float(np.mean(per[m]))) for m in modes]
        rows.append([name, *f1s, f"{100 * np.mean(area):.2f} %", fmt(float(np.mean(any_flag)))])
    n_auth = sum(m == "authentic" for m, *_ in items)
    print(f"{len(items)} val items ({n_auth} authentic); pixel logit > 0 flags a pixel")
    header = ["fusion", *(f"{m} f1@0.5" for m in modes), "authentic flagged area", "authentic with any flagged pixel"]
    print(markdown_table(header, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
