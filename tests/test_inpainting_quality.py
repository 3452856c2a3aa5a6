"""Hole metrics of inpainting quality, checked against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inpaintscope.evaluate.inpainting_quality import hole_psnr, hole_ssim, hole_texture_ratio


def _grey(values: np.ndarray) -> np.ndarray:
    return np.repeat(values.astype(np.uint8)[..., None], 3, axis=2)  # luma equals the value


def _hole(shape=(20, 20)) -> np.ndarray:
    hole = np.zeros(shape, bool)
    hole[5:15, 4:16] = True
    return hole


def test_hole_psnr_counts_only_hole_pixels() -> None:
    target = _grey(np.full((20, 20), 100))
    pred = target.copy()
    hole = _hole()
    pred[hole] += 5  # an error of 5 grey levels everywhere in the hole ...
    pred[0, 0] = 0  # ... and one outside it, which must not count
    assert hole_psnr(pred, target, hole) == pytest.approx(10 * math.log10(255**2 / 25))
    assert hole_psnr(target, target, hole) == math.inf


def test_hole_ssim_is_one_for_identical_images_and_lower_for_a_changed_hole() -> None:
    rng = np.random.default_rng(0)
    target = rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)
    hole = _hole()
    assert hole_ssim(target, target, hole) == pytest.approx(1.0)
    pred = target.copy()
    pred[hole] = 128
    assert hole_ssim(pred, target, hole) < 0.5  # windows at the hole edge still see real pixels


def test_hole_texture_ratio_of_checkerboards_and_a_flat_fill() -> None:
    yy, xx = np.mgrid[0:20, 0:20]
    board = (yy + xx) % 2
    target = _grey(100 * board)  # |4-neighbour Laplacian| = 400 at every pixel
    hole = _hole()
    assert hole_texture_ratio(target, target, hole) == pytest.approx(1.0)
    assert hole_texture_ratio(_grey(50 * board), target, hole) == pytest.approx(0.5)
    assert hole_texture_ratio(_grey(np.full((20, 20), 50)), target, hole) == 0.0


def test_hole_texture_ratio_ignores_the_seam_at_the_holes_edge() -> None:
    target = _grey(100 * ((np.mgrid[0:20, 0:20].sum(axis=0)) % 2))
    hole = _hole()
    pred = target.copy()
    pred[~hole] = 255  # a glaring seam around the hole; the fill itself is the original
    assert hole_texture_ratio(pred, target, hole) == pytest.approx(1.0)


def test_hole_metrics_refuse_what_they_cannot_score() -> None:
    image = _grey(np.full((20, 20), 100))
    with pytest.raises(ValueError, match="empty"):
        hole_psnr(image, image, np.zeros((20, 20), bool))
    with pytest.raises(ValueError, match="flat"):
        hole_texture_ratio(image, image, _hole())
    line = np.zeros((20, 20), bool)
    line[10, 2:18] = True
    with pytest.raises(ValueError, match="too thin"):
        hole_texture_ratio(image, image, line)
