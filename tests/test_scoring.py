"""One scoring path: the rules of inpaintscope.scoring by hand, and ``evaluate`` scoring exactly the
mask and image score ``detect`` reports for the same image and model, tiled or not."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from inpaintscope.detection import detect
from inpaintscope.evaluate import evaluate
from inpaintscope.evaluate.metrics import MetricAccumulator
from inpaintscope.models.inference import run_detector
from inpaintscope.scoring import FALLBACK_PERCENTILE, THRESHOLD, image_score, inpainted, score_outputs
from test_detect_support import TinyDetector

# ---- the rules ------------------------------------------------------------------------------------


def test_decision_rule_is_inclusive_for_pixels_and_images():
    assert THRESHOLD == 0.5
    np.testing.assert_array_equal(inpainted(np.array([0.49999, 0.5, 0.7])), [False, True, True])
    assert inpainted(0.5) is True and inpainted(0.3) is False and inpainted(0.3, 0.3) is True
    assert inpainted(1.0, 1.0) is True and inpainted(0.0, 0.0) is True  # the ends of the range mean all


def test_image_score_hand_values():
    heat = np.array([[0.9, 0.8, 0.1, 0.0], [0.2, 0.3, 0.4, 0.5]], dtype=np.float32)  # top two: 0.9, 0.8
    # the 99.9th percentile of 8 sorted values sits at index 0.999 · 7 = 6.993: 0.8 + 0.993 · 0.1
    assert FALLBACK_PERCENTILE == 99.9
    assert image_score(heat, None) == pytest.approx(0.8 + 0.993 * 0.1, abs=1e-6)
    # one hot pixel in 10 000 is below 0.1 % of the image: it does not decide
    quiet = np.full((100, 100), 0.1, np.float32)
    quiet[3, 4] = 1.0
    assert image_score(quiet, None) == pytest.approx(0.1, abs=1e-6)
    # with an image head, sigmoid of its logit (float64), whatever the heatmap says
    assert image_score(quiet, 2.0) == 1 / (1 + math.exp(-2.0))


def test_score_outputs_heatmap_mask_and_in_place():
    logits = np.array([[0.0, -1.0], [3.0, -3.0]], np.float32)
    s = score_outputs(logits, None, pixel_threshold=0.5)
    np.testing.assert_array_equal(s.heatmap, torch.sigmoid(torch.from_numpy(logits)).numpy())
    np.testing.assert_array_equal(s.mask, [[True, False], [True, False]])  # logit 0 → 0.5 → inpainted
    assert logits[1, 0] == 3.0  # not touched by default
    kept = s.heatmap.copy()
    t = score_outputs(logits, -1.0, pixel_threshold=0.9, in_place=True)
    assert t.heatmap is logits and np.array_equal(logits, kept)  # the logits became the heatmap
    assert t.mask.sum() == 1 and t.score == pytest.approx(1 / (1 + math.e))
    with pytest.raises(ValueError, match="H×W"):
        score_outputs(np.zeros((1, 2, 2), np.float32), None)


# ---- evaluate == detect -----------------------------------------------------------------------------


class _Images(Dataset):
    """Contract items made from uint8 photos the way the dataset readers make them."""

    def __init__(self, images: list[np.ndarray], gts: list[np.ndarray]) -> None:
        self.images, self.gts = images, gts

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict:
        image = torch.from_numpy(self.images[i].transpose(2, 0, 1).copy()).float().div_(255.0)
        return {
            "image": image,
            "mask": torch.from_numpy(self.gts[i].astype(np.float32))[None],
            "label": torch.tensor(1),
            "meta": {"id": str(i)},
        }


def _photos() -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(5)
    images, gts = [], []
    for h, w in ((48, 60), (150, 200), (150, 200)):  # one tile; 3×4 tiles of 64 (twice: a batch of two)
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        gt = np.zeros((h, w), bool)
        gt[h // 4 : h // 2, w // 3 : w // 2] = True
        img[gt] = img[gt] // 4 + 150  # a flatter, brighter patch: something for the model to react to
        images.append(img)
        gts.append(gt)
    return images, gts


def _heatmaps_seen_by_evaluate(monkeypatch, model, dataset, **kwargs) -> tuple[list[np.ndarray], dict]:
    seen: list[np.ndarray] = []
    add = MetricAccumulator.add

    def spy(self, prob, gt, **kw):
        seen.append(np.array(prob, copy=True))
        return add(self, prob, gt, **kw)

    monkeypatch.setattr(MetricAccumulator, "add", spy)
    report = evaluate(model, dataset, **kwargs)
    monkeypatch.setattr(MetricAccumulator, "add", add)
    return seen, report


@pytest.mark.parametrize("image_head", [True, False])
def test_evaluate_scores_what_detect_reports(monkeypatch, image_head: bool):
    torch.manual_seed(3)
    # receptive radius 4 and a size multiple: tiles are padded, and the blended bands differ from
    # whole-image inference, so tiling on one side only would show
    model = TinyDetector(kernel=5, width=6, image_head=image_head, multiple=16).eval()
    images, gts = _photos()
    dataset = _Images(images, gts)
    seen, report = _heatmaps_seen_by_evaluate(monkeypatch, model, dataset, batch_size=1, tile=64, overlap=16)
    for img, gt, heat, rec in zip(images, gts, seen, report.per_image):
        d = detect(img, model=model, tile=64, overlap=16, device="cpu")
        np.testing.assert_array_equal(heat.astype(np.float32), d.heatmap)
        np.testing.assert_array_equal(inpainted(heat), d.mask)
        assert rec["score"] == d.score
        assert rec["pred_area"] == pytest.approx(d.area_fraction, abs=1e-12)
        tp = int((d.mask & gt).sum())
        assert rec["f1@0.5"] == pytest.approx(2 * tp / (d.mask.sum() + gt.sum()))
    # the large photos really were tiled, and tiling moved the numbers
    assert run_detector(model, dataset[1]["image"][None], tile=64, overlap=16).n_tiles == 3 * 4
    whole = detect(images[1], model=model, tile=1024, device="cpu")
    assert not np.array_equal(whole.heatmap, seen[1].astype(np.float32))
    # batched evaluation (the two large photos together) gives the same scores
    batched = evaluate(model, dataset, batch_size=3, tile=64, overlap=16)
    assert [r["score"] for r in batched.per_image] == pytest.approx([r["score"] for r in report.per_image], abs=1e-6)


def test_evaluate_default_is_detects_default_and_untiled_is_an_option(monkeypatch):
    torch.manual_seed(4)
    model = TinyDetector(kernel=5, width=6).eval()
    rng = np.random.default_rng(6)
    img = rng.integers(0, 256, (40, 1100, 3), dtype=np.uint8)  # wider than one 1024-px tile
    gt = np.zeros((40, 1100), bool)
    gt[10:30, 1000:1060] = True
    dataset = _Images([img], [gt])
    seen, report = _heatmaps_seen_by_evaluate(monkeypatch, model, dataset)
    d = detect(img, model=model, device="cpu")
    np.testing.assert_array_equal(seen[0].astype(np.float32), d.heatmap)
    assert report.per_image[0]["score"] == d.score and report.info["tile"] == 1024
    untiled, report = _heatmaps_seen_by_evaluate(monkeypatch, model, dataset, tile=None)
    whole = detect(img, model=model, tile=2048, device="cpu")
    np.testing.assert_array_equal(untiled[0].astype(np.float32), whole.heatmap)
    assert report.per_image[0]["score"] == whole.score and report.info["tile"] is None
