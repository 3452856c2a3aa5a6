"""What a detector's outputs mean: one rule, shared by ``evaluate``, training's validation and ``detect``.

So the numbers a model card reports are computed exactly the way ``detect`` decides what users see.

* **heatmap**: ``sigmoid(mask logits)``, float32 H×W, the per-pixel probability of inpainting.
* **image score**: ``sigmoid(image_logit)`` (in float64) when the model has an image head;
  otherwise the **99.9th percentile of the heatmap** (:data:`FALLBACK_PERCENTILE`, numpy's
  linear interpolation): a region of at least 0.1 % of the image decides, while a few stray hot
  pixels do not (the maximum would let one pixel of a 24 MP photo decide).
* **decision** (:func:`inpainted`): ``value >= threshold``, for pixels (the mask) and for the
  image score alike; at the default :data:`THRESHOLD` 0.5 that is ``logit >= 0``. A probability
  of exactly 0.5 counts as inpainted (the Bochum report's own IoU used ``> 0.5``; the two differ only
  for pixels whose float32 probability rounds to exactly 0.5, ``|logit| < 1e-7``).

The Bochum report: P. Adler, H. Günther, D. Gann, H. Ehringfeld, "Inpainting Detection", student
project report (MPDL project, group 2), Ruhr-Universität Bochum, 2023.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

#: the default decision threshold (a probability) for pixels and images
THRESHOLD = 0.5
#: the image score of a model without an image head is this percentile of its heatmap
FALLBACK_PERCENTILE = 99.9


def inpainted(values: Any, threshold: float = THRESHOLD) -> Any:
    """The decision rule: ``values >= threshold`` (a bool, or a bool array of ``values``' shape)."""
    out = np.greater_equal(values, threshold)
    return bool(out) if np.ndim(out) == 0 else out


def image_score(heatmap: np.ndarray, image_logit: float | None) -> float:
    """The image-level probability of inpainting (see the module doc)."""
    if image_logit is not None:
        return float(torch.sigmoid(torch.tensor(float(image_logit), dtype=torch.float64)))
    return float(np.percentile(heatmap, FALLBACK_PERCENTILE))


@dataclass(frozen=True)
class Scores:
    """A model's outputs for one image, read with the rules of the module doc."""

    heatmap: np.ndarray  # float32 H×W
    mask: np.ndarray  # bool H×W: inpainted(heatmap, pixel_threshold)
    score: float


def score_outputs(
    mask_logits: np.ndarray, image_logit: float | None, *, pixel_threshold: float = THRESHOLD, in_place: bool = False
) -> Scores:
    """Heatmap, mask and image score of one image from its float32 H×W mask logits and image logit.

    ``in_place=True`` turns ``mask_logits`` itself into the heatmap (no second full-size array
    for a 24 MP photo); the caller must not need the logits afterwards.
    """
    logits = np.asarray(mask_logits, dtype=np.float32)
    if logits.ndim != 2:
        raise ValueError(f"expected H×W mask logits of one image, got shape {logits.shape}")
    if in_place and logits is mask_logits and logits.flags.writeable:
        torch.from_numpy(logits).sigmoid_()
        heatmap = logits
    else:
        heatmap = torch.sigmoid(torch.from_numpy(np.ascontiguousarray(logits))).numpy()
    return Scores(heatmap=heatmap, mask=inpainted(heatmap, pixel_threshold), score=image_score(heatmap, image_logit))
