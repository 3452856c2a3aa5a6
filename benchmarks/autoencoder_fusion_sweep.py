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
    from inpaintscope.evaluate.fusion import fit_cue_logit, fit_logistic, fusion_inputs, sample_pixels, sigmoid
    from inpaintscope.evaluate.metrics import f1_at
    from inpaintscope.evaluate.selection import open_evaluation_data
    from inpaintscope.inpaint.autoencoder import load_autoencoder
    from inpaintscope.models import load_detector
    from inpaintscope.models.cues.autoencoder import AutoencoderFusion

    source = resolve_model_path(args.model)
    loaded = LoadedModel(load_detector(source), str(source), torch.device("cpu"))
    data = open_evaluation_data([args.data], split=args.split, limit=args.limit)
    rng = np.random.default_rng(args.seed)
    # a whole re-decoded frame has no region (the image-level flag's business); the others get the
    # fit's own pixel sampling, so the caps below are the fit's
    items = list(fusion_inputs(loaded, data, load_autoencoder("taef2"), skip_modes=("inpainted",)))
    samples = [sample_pixels(x, rng, args.pixels_per_image) for x in items]
    px, py = np.concatenate([f for f, _ in samples]), np.concatenate([t for _, t in samples])
    forms: list[tuple[str, AutoencoderFusion | None]] = [("detector alone", None)]

    def fusion(pixel, form: str) -> AutoencoderFusion:
        return AutoencoderFusion(
            pixel=tuple(pixel), image=(1.0, 0.0, 0.0, 0.0), regenerated_threshold=0.0, pixel_form=form
        )

    forms.append(("linear (first form)", fusion(fit_logistic(px, py.astype(float)), "linear")))
    for cap in CAPS:
        b, c, _ = fit_cue_logit(px[:, 0], px[:, 1], py, max_added_area=cap)
        forms.append((f"max, cap {cap:g}", fusion((1.0, b, c), "max")))
    modes = sorted({x.mode for x in items if x.mode != "authentic"})
    rows = []
    for name, form in forms:
        per: dict[str, list[float]] = defaultdict(list)
        area, any_flag = [], []
        for x in items:
            logits = x.mask_logits if form is None else form.pixel_logits(x.mask_logits, x.ratio)
            prob = sigmoid(logits.astype(np.float64))  # detect's pixel rule: probability >= 0.5
            if x.mode == "authentic":
                area.append(float((prob >= 0.5).mean()))
                any_flag.append(bool((prob >= 0.5).any()))
            else:
                per[x.mode].append(f1_at(prob, x.truth))
        f1s = [fmt(float(np.mean(per[m]))) for m in modes]
        rows.append([name, *f1s, f"{100 * np.mean(area):.2f} %", fmt(float(np.mean(any_flag)))])
    n_auth = sum(x.mode == "authentic" for x in items)
    print(f"{len(items)} val items ({n_auth} authentic); a pixel is flagged at probability >= 0.5")
    header = ["fusion", *(f"{m} f1@0.5" for m in modes), "authentic flagged area", "authentic with any flagged pixel"]
    print(markdown_table(header, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
