"""Inpainting quality inside the hole: ``hole_psnr`` and ``hole_ssim``.

Whole-image PSNR/SSIM reward an inpainter for the pixels it did not touch; these score only
the hole, where the method had to invent content.

* ``hole_psnr``: ``10·log10(255² / MSE)`` with the MSE over every channel of every hole pixel
  (uint8 scale); ``inf`` when identical.
* ``hole_ssim``: the SSIM map of Wang, Bovik, Sheikh, Simoncelli (IEEE TIP 2004) — Gaussian
  window σ = 1.5, K1 = 0.01, K2 = 0.03, data range 255, computed per channel on the whole
  image so windows straddling the hole edge see real context — averaged over hole pixels
  and channels.
"""

from __future__ import annotations

import numpy as np

from ..contract import check_image, check_mask


def _checked(pred: np.ndarray, target: np.ndarray, hole: np.ndarray) -> np.ndarray:
    check_image(pred, name="pred")
    check_image(target, name="target")
    if pred.shape != target.shape:
        raise ValueError(f"pred {pred.shape} and target {target.shape} must have the same shape")
    hole = check_mask(hole, pred.shape[:2])
    if not hole.any():
        raise ValueError("the hole is empty: there is nothing to score")
    return hole


def hole_psnr(pred: np.ndarray, target: np.ndarray, hole: np.ndarray) -> float:
    hole = _checked(pred, target, hole)
    diff = pred[hole].astype(np.float64) - target[hole].astype(np.float64)
    mse = float(np.mean(diff**2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def hole_ssim(pred: np.ndarray, target: np.ndarray, hole: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    hole = _checked(pred, target, hole)
    _, full = structural_similarity(
        pred,
        target,
        channel_axis=2,
        data_range=255,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        full=True,
    )
    return float(full[hole].mean())
