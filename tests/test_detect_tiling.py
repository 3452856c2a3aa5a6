"""Tiled inference: the tile grid, exact equality when the image fits one tile, and the
documented tile-border tolerance when it does not."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inpaintscope.detection import detect, predict_tiled, run_model, tile_starts
from inpaintscope.errors import InpaintscopeError
from inpaintscope.tiling import _ramp_window
from test_detect_support import TinyDetector, bright_probability, bright_state, registered


def _random_model(kernel: int = 5, multiple: int = 1, seed: int = 0) -> TinyDetector:
    torch.manual_seed(seed)
    return TinyDetector(kernel=kernel, width=6, multiple=multiple).eval()


def _reference(model: TinyDetector, img: np.ndarray) -> torch.Tensor:
    """Whole-image inference written out by hand (no padding: the model takes any size)."""
    x = torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 255.0
    with torch.inference_mode():
        return model(model.preprocess(x)).mask_logits[0, 0]


def test_tile_starts_hand_computed() -> None:
    assert tile_starts(1024, 1024, 128) == ([0], 0)
    assert tile_starts(2500, 1024, 128) == ([0, 896, 1792], 128)
    # stride (300 - 50 = 250) is rounded down to the 8-px JPEG grid: 248, so overlap grows to 52
    assert tile_starts(1000, 300, 50) == ([0, 248, 496, 744], 52)
    assert tile_starts(6000, 1024, 128)[0][-1] + 1024 >= 6000
    with pytest.raises(InpaintscopeError, match="no room"):
        tile_starts(500, 64, 60)


def test_ramps_sum_to_one() -> None:
    left = _ramp_window(10, 4, left=False, right=True)
    right = _ramp_window(10, 4, left=True, right=False)
    assert left.tolist()[:6] == [1.0] * 6 and right.tolist()[4:] == [1.0] * 6
    np.testing.assert_allclose(left[6:] + right[:4], 1.0)
    assert right[:4].tolist() == [0.125, 0.375, 0.625, 0.875]


def test_single_tile_equals_whole_image_exactly() -> None:
    model = _random_model()
    img = np.random.default_rng(0).integers(0, 256, (100, 90, 3), dtype=np.uint8)
    ref = _reference(model, img)
    pred = predict_tiled(model, img, tile=128, overlap=32)
    assert pred.n_tiles == 1
    np.testing.assert_array_equal(pred.mask_logits, ref.numpy())
    d = detect(img, model=model, tile=128, overlap=32)
    np.testing.assert_array_equal(d.heatmap, torch.sigmoid(ref).numpy())


def test_two_tiles_within_documented_tolerance() -> None:
    model = _random_model(kernel=5)  # two 5×5 convs: receptive radius r = 4
    r = 4
    img = np.random.default_rng(1).integers(0, 256, (96, 200, 3), dtype=np.uint8)
    ref = _reference(model, img).numpy()
    tile, overlap = 128, 32
    (xs, ov) = tile_starts(200, tile, overlap)
    assert xs == [0, 96] and ov == 32  # tiles [0, 128) and [96, 200); band x in [96, 128)
    pred = predict_tiled(model, img, tile=tile, overlap=overlap)
    assert pred.n_tiles == 2
    diff = np.abs(pred.mask_logits - ref)
    # outside the band every pixel is ≥ 32 > r pixels from the other cut: exact up to rounding
    assert diff[:, :96].max() < 1e-5 and diff[:, 128:].max() < 1e-5
    # each tile alone is wrong near its cut (zero padding there) ...
    err0 = np.abs(run_model(model, img[:, 0:128])[0] - ref[:, 0:128])[:, 96:128].max()
    err1 = np.abs(run_model(model, img[:, 96:200])[0] - ref[:, 96:200])[:, 0:32].max()
    assert min(err0, err1) > 1e-2
    # ... and the blend weighs a tile's cut by at most (r + 0.5) / ov
    band = diff[:, 96:128]
    assert band.max() <= (r + 0.5) / ov * max(err0, err1) + 1e-5
    assert band.max() < 0.5 * max(err0, err1)


def test_grid_of_tiles_and_size_multiple() -> None:
    model = _random_model(kernel=3, multiple=16)  # refuses inputs not padded to 16
    img = np.random.default_rng(2).integers(0, 256, (150, 100, 3), dtype=np.uint8)
    pred = predict_tiled(model, img, tile=64, overlap=16)
    assert pred.mask_logits.shape == (150, 100) and pred.mask_logits.dtype == np.float32
    assert pred.n_tiles == 3 * 2  # rows [0,48,96] × cols [0,48]
    assert np.isfinite(pred.mask_logits).all()
    # a single odd-sized tile is reflect-padded to 16 and cropped: equal to doing that by hand
    small = img[:45, :70]
    padded = np.pad(small, ((0, 3), (0, 10), (0, 0)), mode="reflect")
    np.testing.assert_array_equal(
        predict_tiled(model, small, tile=128).mask_logits, _reference(model, padded)[:45, :70].numpy()
    )


def test_tiled_image_score_is_max_over_tiles() -> None:
    with registered():
        model = TinyDetector(kernel=3)
        model.load_state_dict(bright_state(model))
        model.eval()
        img = np.full((80, 200, 3), 20, np.uint8)
        img[10:30, 150:190] = 255  # only in the right-hand tile
        d = detect(img, model=model, tile=128, overlap=32)
        assert d.score == pytest.approx(bright_probability(255), abs=1e-6)
        assert d.regions[0].x0 == 150 and d.regions[0].x1 == 190
        per_tile = [run_model(model, img[:, x0 : x0 + 128])[1] for x0 in (0, 96)]
        assert predict_tiled(model, img, tile=128, overlap=32).image_logit == max(per_tile)


def test_bad_tile_settings() -> None:
    model = _random_model()
    img = np.zeros((300, 300, 3), np.uint8)
    with pytest.raises(InpaintscopeError, match="at least 32"):
        predict_tiled(model, img, tile=16)
    with pytest.raises(InpaintscopeError, match="too large"):
        predict_tiled(model, img, tile=128, overlap=100)
    with pytest.raises(InpaintscopeError, match="overlap must be"):
        predict_tiled(model, img, tile=128, overlap=-1)
