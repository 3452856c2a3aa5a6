"""Inpainting quality inside the hole: ``hole_psnr``, ``hole_ssim`` and ``hole_texture_ratio``.

Whole-image PSNR/SSIM reward an inpainter for the pixels it did not touch; these score only
the hole, where the method had to invent content.

* ``hole_psnr``: ``10·log10(255² / MSE)`` with the MSE over every channel of every hole pixel
  (uint8 scale); ``inf`` when identical.
* ``hole_ssim``: the SSIM map of Wang, Bovik, Sheikh, Simoncelli (IEEE TIP 2004) — Gaussian
  window σ = 1.5, K1 = 0.01, K2 = 0.03, data range 255, computed per channel on the whole
  image so windows straddling the hole edge see real context — averaged over hole pixels
  and channels.
* ``hole_texture_ratio``: how much fine detail the fill has compared with the photo it
  replaced: the mean absolute 4-neighbour Laplacian of the luma (ITU-R BT.601 weights) of the
  fill over the mean of the original's, both over the hole pixels whose four neighbours are
  also in the hole (so the seam at the hole's edge is not counted as texture). A smooth
  diffusion fill scores near 0, a fill as detailed as the photo near 1, noise above 1. PSNR
  and SSIM reward smooth fills (the mean is the MSE-optimal guess); this says whether a fill
  has texture at all.
"""

from __future__ import annotations

import cv2
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


_LUMA = np.array([0.299, 0.587, 0.114])
_CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)


def hole_texture_ratio(pred: np.ndarray, target: np.ndarray, hole: np.ndarray) -> float:
    hole = _checked(pred, target, hole)
    # the image border counts as outside the hole, so the Laplacian never reads a padded pixel
    inner = cv2.erode(np.pad(hole, 1).astype(np.uint8), _CROSS)[1:-1, 1:-1].astype(bool)
    if not inner.any():
        raise ValueError("the hole has no pixel whose four neighbours are in the hole: too thin to score texture")

    def detail(image: np.ndarray) -> float:
        luma = image.astype(np.float64) @ _LUMA
        return float(np.abs(cv2.Laplacian(luma, cv2.CV_64F, ksize=1))[inner].mean())

    reference = detail(target)
    if reference == 0:
        raise ValueError("the original is flat inside the hole: there is no texture to compare with")
    return detail(pred) / reference
