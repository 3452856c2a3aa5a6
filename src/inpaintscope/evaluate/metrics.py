"""Named metrics for inpainting localisation and detection (numpy).

Why these names and definitions: docs/references.md, "Metrics, losses, training and calibration".

Every number inpaintscope reports carries one of these names, and each name has exactly one
definition. Inputs: a probability map ``prob`` (``σ(mask_logits)``, float in [0, 1], H×W), a
boolean ground truth ``gt`` (True = inpainted) and the image label (1 = manipulated,
0 = authentic). "Predicted inpainted" always means ``prob >= 0.5`` (equivalently logit >= 0):
the decision rule of :mod:`inpaintscope.scoring`, the one ``detect`` uses.

Pixel metrics, over **manipulated images only** (label 1), averaged per image:

* ``f1@0.5``  F1 = 2TP / (2TP + FP + FN) at threshold 0.5. An image whose GT *and* prediction
  are both empty scores **1.0** (nothing to find, nothing claimed); empty GT with a non-empty
  prediction scores 0.
* ``iou@0.5`` IoU = TP / (TP + FP + FN), same threshold and the same empty rule (1.0).
* ``iou_pooled@0.5`` TP, FP, FN summed over all manipulated images, then IoU (0 if empty).
* ``f1@best`` **oracle**: per image, the best F1 over every threshold (chosen with the GT, so
  an upper bound, not an achievable score). Empty GT → 1.0 (the threshold above every score).
* ``auc_pixel`` ROC-AUC of pixel scores per manipulated image (exact, ties count 1/2, as
  ``sklearn.metrics.roc_auc_score``), averaged over the images whose GT has both classes;
  single-class images (empty or full GT) are **skipped** and counted in ``n_auc_skipped``.
* ``auc_pixel_pooled`` ROC-AUC over all pixels of all manipulated images pooled. It streams:
  scores are counted in a fixed histogram of :data:`N_BINS` = 4096 equal bins on [0, 1] per
  class, and scores in the same bin count as ties, so it equals the exact AUC of scores
  quantised to 1/4096 (within ~1e-3 of the unquantised AUC).

Image metrics, over **authentic and manipulated** images:

* image score = ``σ(image_logit)`` when the model has an image head, else the **99.9th
  percentile** of the pixel probability map (:func:`inpaintscope.scoring.image_score`, as ``detect``).
* ``image_auc`` ROC-AUC of image score vs label (``None`` if only one class is present).
* ``image_acc@0.5`` fraction of images with (score >= 0.5) == label.
* ``image_bacc@0.5`` balanced accuracy at 0.5: the mean of the fraction of manipulated images
  called manipulated and of authentic images called authentic (``None`` unless both classes
  are present). Unlike ``image_acc@0.5`` it does not reward following the class mix: a model
  that calls everything manipulated scores 0.5 whatever the mix.
* ``authentic_fp_area`` mean over **authentic images only** of the fraction of pixels
  predicted inpainted (0 is perfect; ``None`` if there are no authentic images).

For comparison with the Bochum report (Adler et al. 2023, *Inpainting Detection*; its IoU is
described in docs/references.md, §5) only:

* ``report_iou`` manipulated images in dataset order are cut into consecutive batches of 8
  (the last may be partial and weighs the same); per batch, TP/FP/FN of all its pixels are
  pooled into one IoU; a batch whose union is empty scores **0** (sklearn's zero_division);
  the mean over batches is reported. Neither per-image nor dataset-pooled IoU.

Streaming: :class:`MetricAccumulator` keeps a few numbers per image and fixed-size
histograms, never the maps, so datasets larger than memory evaluate in constant memory
(plus ~100 bytes per image).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..scoring import THRESHOLD, image_score as image_score_of, inpainted

N_BINS = 4096
REPORT_BATCH = 8

#: one-line definitions shipped with every report, so a number never travels without its meaning
METRIC_DEFINITIONS: dict[str, str] = {
    "f1@0.5": "pixel F1 at prob >= 0.5 per manipulated image, averaged; empty GT and empty prediction = 1.0",
    "iou@0.5": "pixel IoU at prob >= 0.5 per manipulated image, averaged; empty GT and empty prediction = 1.0",
    "iou_pooled@0.5": "pixel IoU at prob >= 0.5 with TP/FP/FN pooled over all manipulated images",
    "f1@best": "ORACLE: per manipulated image the best F1 over all thresholds (uses the GT), averaged",
    "auc_pixel": "pixel ROC-AUC per manipulated image, averaged; images with a single-class GT skipped",
    "auc_pixel_pooled": f"pixel ROC-AUC pooled over all manipulated-image pixels ({N_BINS}-bin histogram)",
    "image_auc": "ROC-AUC of the image score (sigmoid(image_logit), else the 99.9th percentile of pixel prob) "
    "vs label, all images",
    "image_acc@0.5": "accuracy of image score >= 0.5 vs label, all images",
    "image_bacc@0.5": "balanced accuracy of image score >= 0.5: mean of the recall on manipulated and on "
    "authentic images (both classes needed)",
    "authentic_fp_area": "mean fraction of pixels with prob >= 0.5 on authentic images (lower is better)",
    "report_iou": "the Bochum report's IoU: prob >= 0.5, pooled per batch of 8 manipulated images, mean over batches, "
    "empty batch = 0 (for comparison with its tables only)",
}

# ---- per-image functions ---------------------------------------------------------------------


def _as_maps(prob: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    prob = np.asarray(prob, dtype=np.float64)
    gt = np.asarray(gt)
    if prob.shape != gt.shape:
        raise ValueError(f"prediction {prob.shape} and ground truth {gt.shape} must have the same shape")
    if gt.dtype != bool:
        gt = gt > 0.5
    return prob, gt


def confusion(prob: np.ndarray, gt: np.ndarray, *, threshold: float = THRESHOLD) -> tuple[int, int, int]:
    """``(TP, FP, FN)`` of the prediction ``prob >= threshold`` against ``gt``."""
    prob, gt = _as_maps(prob, gt)
    pred = inpainted(prob, threshold)
    return int(np.sum(pred & gt)), int(np.sum(pred & ~gt)), int(np.sum(~pred & gt))


def f1_from_counts(tp: int, fp: int, fn: int) -> float:
    """F1 from counts; both GT and prediction empty → 1.0 (see module docstring)."""
    den = 2 * tp + fp + fn
    return 1.0 if den == 0 else 2 * tp / den


def iou_from_counts(tp: int, fp: int, fn: int) -> float:
    """IoU from counts; empty union → 1.0 (per-image convention; ``report_iou`` uses 0)."""
    den = tp + fp + fn
    return 1.0 if den == 0 else tp / den


def f1_at(prob: np.ndarray, gt: np.ndarray, *, threshold: float = THRESHOLD) -> float:
    """Pixel F1 of one image at ``prob >= threshold``."""
    return f1_from_counts(*confusion(prob, gt, threshold=threshold))


def iou_at(prob: np.ndarray, gt: np.ndarray, *, threshold: float = THRESHOLD) -> float:
    """Pixel IoU of one image at ``prob >= threshold``."""
    return iou_from_counts(*confusion(prob, gt, threshold=threshold))


def f1_best(prob: np.ndarray, gt: np.ndarray) -> float:
    """Oracle F1 of one image: the maximum over all thresholds (exact, O(N log N)).

    Candidate predictions are "score ≥ t" for every distinct score t, plus the empty
    prediction (1.0 if the GT is empty, else 0).
    """
    prob, gt = _as_maps(prob, gt)
    s, y = prob.ravel(), gt.ravel()
    n_pos = int(y.sum())
    if n_pos == 0:
        return 1.0
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    tp = np.cumsum(y)
    fp = np.cumsum(~y)
    # only the last index of each run of equal scores is a reachable cut
    last = np.r_[s[1:] != s[:-1], True]
    tp, fp = tp[last], fp[last]
    return float(np.max(2 * tp / (tp + fp + n_pos)))


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks with ties sharing their mean rank (like scipy's rankdata, without scipy.stats'
    2-second import)."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)  # rank of the last member of each tie group
    return (upper - (counts - 1) / 2.0)[inverse.ravel()]


def binary_auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Exact ROC-AUC (Mann–Whitney U with average ranks for ties); ``None`` if one class only."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel().astype(bool)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = _average_ranks(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def pixel_auc(prob: np.ndarray, gt: np.ndarray) -> float | None:
    """Pixel ROC-AUC of one image; ``None`` when the GT has a single class (skipped in means)."""
    prob, gt = _as_maps(prob, gt)
    return binary_auc(prob, gt)


def score_histogram(scores: np.ndarray, *, bins: int = N_BINS) -> np.ndarray:
    """Counts of ``scores`` in ``bins`` equal bins on [0, 1] (1.0 falls in the last bin)."""
    idx = np.clip((np.asarray(scores, dtype=np.float64).ravel() * bins).astype(np.int64), 0, bins - 1)
    return np.bincount(idx, minlength=bins).astype(np.int64)


def auc_from_histograms(pos: np.ndarray, neg: np.ndarray) -> float | None:
    """ROC-AUC from per-class score histograms; scores sharing a bin count as ties (1/2)."""
    pos = np.asarray(pos, dtype=np.float64)
    neg = np.asarray(neg, dtype=np.float64)
    n_pos, n_neg = pos.sum(), neg.sum()
    if n_pos == 0 or n_neg == 0:
        return None
    neg_below = np.cumsum(neg) - neg
    return float(np.sum(pos * (neg_below + 0.5 * neg)) / (n_pos * n_neg))


def report_iou(counts: Sequence[tuple[int, int, int]], *, batch: int = REPORT_BATCH) -> float | None:
    """The Bochum report's IoU from per-image ``(TP, FP, FN)`` in dataset order (see module docstring)."""
    if not counts:
        return None
    values = []
    for start in range(0, len(counts), batch):
        tp, fp, fn = np.sum(np.asarray(counts[start : start + batch], dtype=np.int64), axis=0)
        union = tp + fp + fn
        values.append(0.0 if union == 0 else tp / union)
    return float(np.mean(values))


# ---- streaming accumulation --------------------------------------------------------------------


@dataclass
class ImageRecord:
    """The few numbers kept per image (no maps)."""

    id: str
    label: int
    score: float
    tp: int
    fp: int
    fn: int
    n_pixels: int
    f1: float
    iou: float
    f1_best: float | None
    auc: float | None
    groups: dict[str, str] = field(default_factory=dict)

    @property
    def pred_area(self) -> float:
        return (self.tp + self.fp) / self.n_pixels


def _mean(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


class MetricAccumulator:
    """Accumulate every named metric over a stream of images, with breakdowns by meta keys.

    ``add`` one image at a time (any size); ``compute`` for the totals, ``breakdown`` for
    the same metrics per value of each ``group_keys`` meta field. In a breakdown group the
    pixel metrics use that group's manipulated images, while the image-level metrics
    (``image_auc``, ``image_acc@0.5``) compare them against **all** authentic images (the
    authentic photos have no inpainter or mask kind), and ``authentic_fp_area`` is global.
    """

    def __init__(self, *, group_keys: Sequence[str] = ("inpainter", "mask_kind", "mode"), bins: int = N_BINS) -> None:
        self.group_keys = tuple(group_keys)
        self.bins = bins
        self.records: list[ImageRecord] = []
        self.hist: dict[tuple[str, str] | None, np.ndarray] = {None: np.zeros((2, bins), np.int64)}

    def add(
        self,
        prob: np.ndarray,
        gt: np.ndarray,
        *,
        label: int,
        image_score: float | None = None,
        meta: dict[str, Any] | None = None,
    ) -> ImageRecord:
        """Score one image. ``image_score`` defaults to that of a model without an image head
        (:func:`inpaintscope.scoring.image_score`)."""
        prob, gt = _as_maps(prob, gt)
        meta = meta or {}
        score = image_score_of(prob, None) if image_score is None else float(image_score)
        tp, fp, fn = confusion(prob, gt)
        groups = {k: str(meta[k]) for k in self.group_keys if meta.get(k) is not None}
        manipulated = int(label) == 1
        rec = ImageRecord(
            id=str(meta.get("id", len(self.records))),
            label=int(label),
            score=score,
            tp=tp,
            fp=fp,
            fn=fn,
            n_pixels=int(gt.size),
            f1=f1_from_counts(tp, fp, fn),
            iou=iou_from_counts(tp, fp, fn),
            f1_best=f1_best(prob, gt) if manipulated else None,
            auc=pixel_auc(prob, gt) if manipulated else None,
            groups=groups,
        )
        if manipulated:
            h = np.stack([score_histogram(prob[gt], bins=self.bins), score_histogram(prob[~gt], bins=self.bins)])
            self.hist[None] += h
            for key_value in groups.items():
                self.hist.setdefault(key_value, np.zeros((2, self.bins), np.int64))
                self.hist[key_value] += h
        self.records.append(rec)
        return rec

    def merge(self, other: MetricAccumulator) -> None:
        """Add another accumulator's images (e.g. from another DDP rank) after this one's."""
        self.records.extend(other.records)
        for key, h in other.hist.items():
            self.hist.setdefault(key, np.zeros((2, self.bins), np.int64))
            self.hist[key] += h

    @classmethod
    def interleave(cls, parts: Sequence[MetricAccumulator]) -> MetricAccumulator:
        """Merge shards that took items round-robin (rank r: items r, r+W, ...), restoring
        dataset order so that ``report_iou`` batches are the same as in one process."""
        out = cls(group_keys=parts[0].group_keys, bins=parts[0].bins)
        for i in range(max(len(p.records) for p in parts)):
            out.records.extend(p.records[i] for p in parts if i < len(p.records))
        for p in parts:
            for key, h in p.hist.items():
                out.hist.setdefault(key, np.zeros((2, out.bins), np.int64))
                out.hist[key] += h
        return out

    def __len__(self) -> int:
        return len(self.records)

    def compute(self) -> dict[str, float | None]:
        return summarise(self.records, self.hist[None], self.records)

    def counts(self) -> dict[str, int]:
        manip = [r for r in self.records if r.label == 1]
        return {
            "n_images": len(self.records),
            "n_manipulated": len(manip),
            "n_authentic": len(self.records) - len(manip),
            "n_auc_skipped": sum(r.auc is None for r in manip),
        }

    def breakdown(self) -> dict[str, dict[str, dict[str, float | int | None]]]:
        authentic = [r for r in self.records if r.label == 0]
        out: dict[str, dict[str, dict[str, float | int | None]]] = {}
        for key in self.group_keys:
            values = sorted({r.groups[key] for r in self.records if r.label == 1 and key in r.groups})
            for value in values:
                members = [r for r in self.records if r.label == 1 and r.groups.get(key) == value]
                metrics: dict[str, float | int | None] = dict(
                    summarise(members, self.hist[(key, value)], members + authentic)
                )
                metrics["n_manipulated"] = len(members)
                out.setdefault(key, {})[value] = metrics
        return out


def _balanced_accuracy(called: np.ndarray, positive: np.ndarray) -> float | None:
    if not (positive.any() and (~positive).any()):
        return None
    return float((called[positive].mean() + (~called[~positive]).mean()) / 2)


def summarise(
    manipulated_and_more: Sequence[ImageRecord], hist: np.ndarray, image_level: Sequence[ImageRecord]
) -> dict[str, float | None]:
    """All named metrics: pixel ones from the label-1 records of the first argument,
    image-level ones from ``image_level``, pooled AUC from ``hist`` (2×bins: GT-positive row
    first)."""
    manip = [r for r in manipulated_and_more if r.label == 1]
    tp, fp, fn = (sum(getattr(r, k) for r in manip) for k in ("tp", "fp", "fn"))
    labels = np.array([r.label for r in image_level])
    scores = np.array([r.score for r in image_level])
    authentic = [r for r in image_level if r.label == 0]
    return {
        "f1@0.5": _mean(r.f1 for r in manip),
        "iou@0.5": _mean(r.iou for r in manip),
        "iou_pooled@0.5": (tp / (tp + fp + fn) if tp + fp + fn else 0.0) if manip else None,
        "f1@best": _mean(r.f1_best for r in manip),
        "auc_pixel": _mean(r.auc for r in manip),
        "auc_pixel_pooled": auc_from_histograms(hist[0], hist[1]),
        "image_auc": binary_auc(scores, labels) if len(labels) else None,
        "image_acc@0.5": float(np.mean(inpainted(scores, THRESHOLD) == (labels == 1))) if len(labels) else None,
        "image_bacc@0.5": _balanced_accuracy(inpainted(scores, THRESHOLD), labels == 1),
        "authentic_fp_area": _mean(r.pred_area for r in authentic),
        "report_iou": report_iou([(r.tp, r.fp, r.fn) for r in manip]),
    }
