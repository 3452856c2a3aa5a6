"""Each named metric against numbers worked out by hand, and against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest

from inpaintscope.evaluate.metrics import (
    N_BINS,
    MetricAccumulator,
    auc_from_histograms,
    binary_auc,
    confusion,
    f1_at,
    f1_best,
    iou_at,
    pixel_auc,
    report_iou,
    score_histogram,
)

# A 4×4 prediction and GT. At prob >= 0.5 the prediction is the top-left 2×2 plus (3,0);
# the GT is the top-left 2×2 plus (2,0): TP = 4, FP = 1 at (3,0), FN = 1 at (2,0).
PROB = np.array(
    [[0.90, 0.80, 0.20, 0.10], [0.70, 0.60, 0.40, 0.10], [0.30, 0.20, 0.10, 0.00], [0.55, 0.10, 0.00, 0.00]]
)
GT = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]], dtype=bool)


def test_hand_computed_4x4():
    assert confusion(PROB, GT) == (4, 1, 1)
    assert f1_at(PROB, GT) == pytest.approx(2 * 4 / (2 * 4 + 1 + 1))  # 0.8
    assert iou_at(PROB, GT) == pytest.approx(4 / 6)
    # best cut: the four GT pixels scoring 0.9..0.6 and nothing else: F1 = 8 / 9
    assert f1_best(PROB, GT) == pytest.approx(8 / 9)
    # positives 0.9, 0.8, 0.7, 0.6 beat all 11 negatives; 0.3 beats 9 of them (not 0.4, 0.55)
    assert pixel_auc(PROB, GT) == pytest.approx((4 * 11 + 9) / 55)


def test_threshold_is_inclusive_as_in_detect():
    # prob exactly 0.5 (logit 0) *is* predicted inpainted, as detect's mask (scoring.inpainted)
    prob = np.array([[0.5, 0.49999, 0.51]])
    assert confusion(prob, np.array([[True, True, True]])) == (2, 0, 1)


def test_ties_count_half():
    # pos 0.5 vs neg 0.5 is a tie (1/2); pos 0.5 > neg 0.2; pos 0.8 beats both → 3.5 / 4
    assert binary_auc(np.array([0.5, 0.5, 0.2, 0.8]), np.array([1, 0, 0, 1])) == pytest.approx(0.875)


def test_empty_mask_cases():
    empty = np.zeros((4, 4), bool)
    quiet = np.full((4, 4), 0.1)
    loud = PROB
    # empty GT and empty prediction: 1.0 by definition; AUC undefined → None (skipped)
    assert f1_at(quiet, empty) == 1.0 and iou_at(quiet, empty) == 1.0 and f1_best(quiet, empty) == 1.0
    assert pixel_auc(quiet, empty) is None
    # empty GT but something predicted: 0
    assert f1_at(loud, empty) == 0.0 and iou_at(loud, empty) == 0.0
    # GT present but nothing predicted: 0
    assert f1_at(quiet, GT) == 0.0 and iou_at(quiet, GT) == 0.0
    # full GT: single class, AUC undefined
    assert pixel_auc(loud, np.ones((4, 4), bool)) is None


def test_against_sklearn_random_maps():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for _ in range(5):
        gt = np.zeros((32, 32), bool)
        y, x = rng.integers(0, 20, size=2)
        gt[y : y + 10, x : x + 8] = True
        prob = np.clip(rng.normal(0.35, 0.2, gt.shape) + 0.3 * gt, 0, 1)
        pred = (prob > 0.5).ravel()
        assert f1_at(prob, gt) == pytest.approx(sk.f1_score(gt.ravel(), pred))
        assert iou_at(prob, gt) == pytest.approx(sk.jaccard_score(gt.ravel(), pred))
        assert pixel_auc(prob, gt) == pytest.approx(sk.roc_auc_score(gt.ravel(), prob.ravel()))
        # f1@best = the best F1 on sklearn's precision-recall curve (every distinct score as a cut)
        precision, recall, _ = sk.precision_recall_curve(gt.ravel(), prob.ravel())
        with np.errstate(invalid="ignore"):
            best = np.nanmax(2 * precision * recall / (precision + recall))
        assert f1_best(prob, gt) == pytest.approx(best)
        # and one cut checked with f1_score itself
        t = np.sort(np.unique(prob))[-40]
        assert f1_best(prob, gt) >= sk.f1_score(gt.ravel(), prob.ravel() >= t)


def test_pooled_auc_histogram():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    labels = rng.random(5000) < 0.3
    scores = np.clip(rng.normal(0.4, 0.2, 5000) + 0.2 * labels, 0, 1)
    pos, neg = score_histogram(scores[labels]), score_histogram(scores[~labels])
    assert pos.sum() + neg.sum() == 5000 and pos.shape == (N_BINS,)
    # exact for scores quantised to the bins ...
    quantised = np.clip(np.floor(scores * N_BINS), 0, N_BINS - 1)
    assert auc_from_histograms(pos, neg) == pytest.approx(sk.roc_auc_score(labels, quantised), abs=1e-12)
    # ... and within 1e-3 of the exact AUC of the raw scores
    assert auc_from_histograms(pos, neg) == pytest.approx(sk.roc_auc_score(labels, scores), abs=1e-3)
    # 1.0 lands in the last bin, 0.0 in the first
    h = score_histogram(np.array([0.0, 1.0]))
    assert h[0] == 1 and h[-1] == 1
    assert auc_from_histograms(np.zeros(N_BINS), neg) is None


def test_report_iou_handmade_batches():
    # 10 images: 8 with TP 1, FP 1 → first batch pooled 8/16 = 0.5; last 2 are empty → batch IoU 0
    counts = [(1, 1, 0)] * 8 + [(0, 0, 0)] * 2
    assert report_iou(counts) == pytest.approx((0.5 + 0.0) / 2)
    # batch of 2: (2+0)/(2+2+0) = 0.5 and 1/(1+1+1) = 1/3
    assert report_iou([(2, 0, 0), (0, 2, 0), (1, 1, 1), (0, 0, 0)], batch=2) == pytest.approx((0.5 + 1 / 3) / 2)
    assert report_iou([]) is None


def test_report_iou_matches_sklearn_jaccard_per_batch():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(2)
    gts = [rng.random((8, 8)) < 0.3 for _ in range(11)]
    probs = [rng.random((8, 8)) for _ in range(11)]
    expected = []
    for s in range(0, 11, 8):  # the Bochum report: jaccard_score over all pixels of each batch of 8
        g = np.concatenate([x.ravel() for x in gts[s : s + 8]])
        p = np.concatenate([x.ravel() > 0.5 for x in probs[s : s + 8]])
        expected.append(sk.jaccard_score(g, p, zero_division=0))
    assert report_iou([confusion(p, g) for p, g in zip(probs, gts)]) == pytest.approx(np.mean(expected))


def _images() -> list[tuple[np.ndarray, np.ndarray, int, float | None, dict]]:
    gt2 = np.zeros((4, 4), bool)
    gt2[0] = True
    prob2 = np.where(np.arange(16).reshape(4, 4) < 8, 0.7, 0.2)
    prob3 = np.full((4, 4), 0.1)
    prob3[0] = 0.6
    empty = np.zeros((4, 4), bool)
    return [
        # manipulated 1: the 4×4 example (F1 0.8, IoU 2/3, F1@best 8/9), image score = the 99.9th
        # percentile of its probs, 0.8 + 0.985 · 0.1 = 0.8985 (interpolated between the top two)
        (PROB, GT, 1, None, {"id": "m1", "inpainter": "telea", "mode": "realfake"}),
        # manipulated 2: GT = top row, prediction = top half (all 0.7): TP 4, FP 4 → F1 8/12, IoU 1/2;
        # no threshold separates the GT row from the other 0.7 pixels, so F1@best is 8/12 too
        (prob2, gt2, 1, 0.4, {"id": "m2", "inpainter": "ns", "mode": "realfake"}),
        # authentic: 4 of 16 pixels above 0.5 → area 0.25, image score 0.6; a clean one, score 0.3
        (prob3, empty, 0, None, {"id": "a1", "mode": "authentic"}),
        (np.full((4, 4), 0.3), empty, 0, None, {"id": "a2"}),
    ]


def _accumulate(images) -> MetricAccumulator:
    acc = MetricAccumulator()
    for prob, gt, label, score, meta in images:
        acc.add(prob, gt, label=label, image_score=score, meta=meta)
    return acc


def test_accumulator_hand_values():
    acc = _accumulate(_images())
    m = acc.compute()
    assert m["f1@0.5"] == pytest.approx((0.8 + 8 / 12) / 2)
    assert m["iou@0.5"] == pytest.approx((4 / 6 + 1 / 2) / 2)
    # TP 4 + 4, FP 1 + 4, FN 1 + 0
    assert m["iou_pooled@0.5"] == pytest.approx(8 / (8 + 5 + 1))
    assert m["f1@best"] == pytest.approx((8 / 9 + 8 / 12) / 2)
    # image scores: m1 0.8985, m2 0.4 (given), a1 0.6, a2 0.3 → pairs (pos > neg): 3 of 4
    assert m["image_auc"] == pytest.approx(0.75)
    # >= 0.5 decisions: m1 right, m2 wrong, a1 wrong, a2 right
    assert m["image_acc@0.5"] == pytest.approx(0.5)
    assert m["image_bacc@0.5"] == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert m["authentic_fp_area"] == pytest.approx((0.25 + 0.0) / 2)
    # both manipulated images form one batch of 8: TP 8 / (TP 8 + FP 5 + FN 1)
    assert m["report_iou"] == pytest.approx(8 / 14)
    # m1's positives 0.9..0.6 and 0.3 vs its negatives, m2's 0.7s tie with 4 negatives → pooled
    assert m["auc_pixel"] == pytest.approx((53 / 55 + (4 * 4 * 0.5 + 4 * 8) / (4 * 12)) / 2)
    assert acc.counts() == {"n_images": 4, "n_manipulated": 2, "n_authentic": 2, "n_auc_skipped": 0}


def test_accumulator_breakdown_and_merge():
    acc = _accumulate(_images())
    by_inpainter = acc.breakdown()["inpainter"]
    assert set(by_inpainter) == {"ns", "telea"}
    assert by_inpainter["telea"]["f1@0.5"] == pytest.approx(0.8)
    assert by_inpainter["ns"]["iou@0.5"] == pytest.approx(0.5)
    # image-level metrics of a group compare its fakes with all authentic images:
    # ns score 0.4 vs authentic 0.6 and 0.3 → 1/2
    assert by_inpainter["ns"]["image_auc"] == pytest.approx(0.5)
    assert by_inpainter["telea"]["n_manipulated"] == 1
    assert set(acc.breakdown()["mode"]) == {"realfake"}  # authentic images are not a group
    # merging two halves gives the same totals (streaming across DDP ranks)
    first, second = _accumulate(_images()[:2]), _accumulate(_images()[2:])
    first.merge(second)
    assert first.compute() == acc.compute()
    assert first.breakdown() == acc.breakdown()
    # shards that took images round-robin (DDP ranks) come back in dataset order
    images = _images()
    shards = [_accumulate(images[0::2]), _accumulate(images[1::2])]
    merged = MetricAccumulator.interleave(shards)
    assert [r.id for r in merged.records] == ["m1", "m2", "a1", "a2"]
    assert merged.compute() == acc.compute()
