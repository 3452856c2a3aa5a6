"""Tiled inference on one RGB uint8 photo: any image size with bounded memory.

A thin numpy front to :func:`inpaintscope.models.inference.run_detector`, the one inference
path of ``detect`` and ``evaluate``. How images are cut, padded and blended, and how far a
tiled result may differ from whole-image inference, is documented in :mod:`inpaintscope.tiling`.

Image-level score of a tiled run: the **maximum over tiles** of the tile's image logit, i.e. the
image is called inpainted if any tile is. We do not rescale the whole image for the image head,
because resampling destroys the very traces detectors look for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..contract import check_image
from ..models.base import Detector
from ..models.inference import DEFAULT_OVERLAP, DEFAULT_TILE, run_detector
from ..tiling import tile_starts

__all__ = ["DEFAULT_OVERLAP", "DEFAULT_TILE", "TiledPrediction", "predict_tiled", "run_model", "tile_starts"]


@dataclass(frozen=True)
class TiledPrediction:
    """Blended mask logits of a whole image (float32 H×W), the image logit (or None when the
    model has no image head) and how many tiles were run."""

    mask_logits: np.ndarray
    image_logit: float | None
    n_tiles: int


def _batch_of_one(image: np.ndarray) -> torch.Tensor:
    pixels = np.ascontiguousarray(check_image(image))
    if not pixels.flags.writeable:  # PIL-backed arrays are read-only; torch wants to own a copy
        pixels = pixels.copy()
    return torch.from_numpy(pixels).permute(2, 0, 1).unsqueeze(0)


def predict_tiled(
    model: Detector,
    image: np.ndarray,
    *,
    tile: int | None = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    device: torch.device | str | None = None,
) -> TiledPrediction:
    """Mask logits (float32 H×W) and image logit of ``image`` (RGB uint8 H×W×3), tile by tile
    (``tile=None``: the whole image in one pass)."""
    pred = run_detector(model, _batch_of_one(image), tile=tile, overlap=overlap, device=device)
    image_logit = None if pred.image_logit is None else float(pred.image_logit.reshape(-1)[0])
    return TiledPrediction(np.ascontiguousarray(pred.mask_logits[0, 0].numpy()), image_logit, pred.n_tiles)


def run_model(
    model: Detector, image: np.ndarray, *, device: torch.device | str | None = None
) -> tuple[np.ndarray, float | None]:
    """One untiled pass on an RGB uint8 image of any size: float32 mask logits H×W and the image logit."""
    pred = predict_tiled(model, image, tile=None, device=device)
    return pred.mask_logits, pred.image_logit
