"""Named-metric evaluation: ``evaluate(model, dataset) -> EvalReport`` and cross-method tables.

Every metric has one name and one definition (:data:`METRIC_DEFINITIONS`, module
:mod:`inpaintscope.evaluate.metrics`); reports carry the definitions with the numbers.
"""

from ..models.inference import forward_padded
from .evaluator import EvalReport, binarise_gt, evaluate, resolve_device, score_batch
from .metrics import (
    METRIC_DEFINITIONS,
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
from .tables import CrossTable, cross_method_table

__all__ = [
    "METRIC_DEFINITIONS",
    "N_BINS",
    "CrossTable",
    "EvalReport",
    "MetricAccumulator",
    "auc_from_histograms",
    "binarise_gt",
    "binary_auc",
    "confusion",
    "cross_method_table",
    "evaluate",
    "f1_at",
    "f1_best",
    "forward_padded",
    "iou_at",
    "pixel_auc",
    "report_iou",
    "resolve_device",
    "score_batch",
    "score_histogram",
]
