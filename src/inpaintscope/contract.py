"""The one data contract of inpaintscope, written once and checked at every edge.

* **Images** at the edges (files, library calls, inpainters, datasets): ``numpy.ndarray``
  of dtype ``uint8``, shape ``H×W×3``, **RGB** channel order.
* **Masks** at the edges: ``H×W`` arrays; ``1`` (or ``255``) means *inpainted / hole*.
  Hard masks are ``bool`` (or ``uint8`` 0/1, 0/255); soft masks are ``uint8`` 0–255 where 255
  is fully inpainted and intermediate values are the blurred band around a hole.
* **Inside models**: float tensors ``B×C×H×W``; each model documents its own normalisation
  (see ``inpaintscope.models``). Models return mask *logits* ``B×1×H×W`` at input size.

Ground truth from a soft mask is taken in one of three modes (:func:`ground_truth`):
``core`` (== 255, the best mode of the Bochum report, docs/references.md §4.1), ``any`` (> 0)
and ``soft`` (value / 255).

The Bochum report: P. Adler, H. Günther, D. Gann, H. Ehringfeld, "Inpainting Detection", student
project report (MPDL project, group 2), Ruhr-Universität Bochum, 2023.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from .errors import ShapeError

GroundTruthMode = Literal["core", "any", "soft"]
GROUND_TRUTH_MODES: tuple[str, ...] = ("core", "any", "soft")


def check_image(image: np.ndarray, *, name: str = "image") -> np.ndarray:
    """Return ``image`` if it is RGB uint8 H×W×3, else raise a :class:`ShapeError` saying how to fix it."""
    if not isinstance(image, np.ndarray):
        raise ShapeError(
            f"{name} must be a numpy array, got {type(image).__name__}; "
            "use inpaintscope.io.read_image() to load files, bytes or PIL images"
        )
    if image.ndim != 3 or image.shape[2] != 3:
        raise ShapeError(
            f"{name} must have shape H×W×3 (RGB), got {image.shape}; "
            "convert grayscale/RGBA with inpaintscope.io.to_rgb()"
        )
    if image.dtype != np.uint8:
        raise ShapeError(
            f"{name} must be uint8 (0–255), got {image.dtype}; scale floats with (x * 255).round().astype(np.uint8)"
        )
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ShapeError(f"{name} is empty: shape {image.shape}")
    return image


def check_mask(mask: np.ndarray, shape: tuple[int, int] | None = None, *, name: str = "mask") -> np.ndarray:
    """Validate an H×W mask and return it as ``bool`` (True = inpainted).

    Accepts bool, or integer masks holding 0/1 or 0/255 (any value > 0 counts as hole for
    integer masks that are not soft; use :func:`ground_truth` for soft masks).
    """
    if not isinstance(mask, np.ndarray):
        raise ShapeError(f"{name} must be a numpy array, got {type(mask).__name__}")
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[..., 0]
    if mask.ndim != 2:
        raise ShapeError(f"{name} must have shape H×W, got {mask.shape}")
    if shape is not None and mask.shape != tuple(shape):
        raise ShapeError(
            f"{name} has shape {mask.shape} but the image is {tuple(shape)}; "
            "resize the mask with nearest-neighbour interpolation first"
        )
    if mask.dtype == bool:
        return mask
    if not np.issubdtype(mask.dtype, np.integer):
        raise ShapeError(f"{name} must be bool or integer (0/1 or 0/255), got {mask.dtype}")
    return mask > 0


def ground_truth(soft_mask: np.ndarray, mode: GroundTruthMode = "core") -> np.ndarray:
    """Ground truth from a soft 0–255 mask: ``core`` → bool (== 255), ``any`` → bool (> 0),
    ``soft`` → float32 in [0, 1]."""
    if soft_mask.dtype == bool:
        return soft_mask.astype(np.float32) if mode == "soft" else soft_mask
    if soft_mask.dtype != np.uint8:
        raise ShapeError(f"soft mask must be uint8 0–255 (or bool), got {soft_mask.dtype}")
    if mode == "core":
        return soft_mask == 255
    if mode == "any":
        return soft_mask > 0
    if mode == "soft":
        return soft_mask.astype(np.float32) / 255.0
    raise ValueError(f"unknown ground-truth mode {mode!r}; choose one of {GROUND_TRUTH_MODES}")
