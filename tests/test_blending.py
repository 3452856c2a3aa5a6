"""Gradient-domain blending of generated fills: hand-computed solutions and the properties it promises."""

from __future__ import annotations

import numpy as np
import pytest

from inpaintscope.errors import ShapeError
from inpaintscope.inpaint.blending import harmonic_fill, poisson_blend


def test_harmonic_fill_of_one_pixel_is_the_mean_of_its_four_neighbours() -> None:
    values = np.zeros((3, 3, 1))
    values[0, 1], values[2, 1], values[1, 0], values[1, 2] = 4.0, 8.0, 1.0, 3.0
    hole = np.zeros((3, 3), bool)
    hole[1, 1] = True
    assert harmonic_fill(values, hole)[1, 1, 0] == pytest.approx((4 + 8 + 1 + 3) / 4)


def test_harmonic_fill_of_two_pixels_solves_the_coupled_equations() -> None:
    # a 1×4 strip [10, u, v, 40] with a zero-flux top and bottom: u = (10 + v) / 2, v = (u + 40) / 2
    values = np.array([[[10.0], [0.0], [0.0], [40.0]]])
    hole = np.array([[False, True, True, False]])
    np.testing.assert_allclose(harmonic_fill(values, hole)[0, 1:3, 0], [20.0, 30.0])


def test_harmonic_fill_reproduces_a_linear_ramp_exactly() -> None:
    yy, xx = np.mgrid[0:20, 0:30].astype(np.float64)
    ramp = np.stack([2 * xx + yy, 5 - xx, 0.5 * yy], axis=-1)
    hole = np.zeros((20, 30), bool)
    hole[4:15, 6:25] = True
    damaged = np.where(hole[..., None], 0.0, ramp)
    np.testing.assert_allclose(harmonic_fill(damaged, hole), ramp, atol=1e-9)


@pytest.mark.parametrize("max_unknowns", [40_000, 50])  # solved at full size, and on a downscaled grid
def test_a_fill_off_by_a_constant_colour_is_blended_back_to_the_photo(max_unknowns: int) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(40, 200, (48, 64, 3), dtype=np.uint8)
    hole = np.zeros((48, 64), bool)
    hole[10:30, 12:50] = True
    cast = np.array([25, -20, 10])
    fill = (image.astype(np.int16) + cast).clip(0, 255).astype(np.uint8)
    out = poisson_blend(fill, image, hole, max_unknowns=max_unknowns)
    # the fill's texture is the photo's; only its colour was off, and blending removes exactly that
    np.testing.assert_array_equal(out, image)


@pytest.mark.parametrize("max_unknowns", [40_000, 60])  # full size, and a grid of ~60 unknowns
@pytest.mark.parametrize("where", ["inside", "border"])
def test_a_fill_off_by_a_ramp_is_blended_back_to_the_photo(max_unknowns: int, where: str) -> None:
    # a linear ramp is harmonic, so the correction must reproduce it, not just its mean
    rng = np.random.default_rng(2)
    image = rng.integers(60, 190, (60, 80, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:60, 0:80]
    hole = np.zeros((60, 80), bool)
    if where == "inside":
        ramp = 0.6 * xx - 0.4 * yy
        hole[12:48, 15:70] = True
    else:
        # the image border has no data: a zero-flux border, which a ramp along it satisfies
        ramp = 0.6 * xx
        hole[0:40, 15:70] = True
    fill = (image.astype(np.int16) - np.round(ramp).astype(np.int16)[..., None]).clip(0, 255).astype(np.uint8)
    out = poisson_blend(fill, image, hole, max_unknowns=max_unknowns)
    # rounding the ramp to integers leaves ±1; the coarse grid's bilinear upsampling one more
    assert np.abs(out.astype(int) - image.astype(int)).max() <= (1 if max_unknowns > 1000 else 2)


def test_a_known_ring_thinner_than_a_grid_cell_still_bounds_the_downscaled_solve() -> None:
    image = np.zeros((200, 200, 3), np.uint8)
    image[:, :100], image[:, 100:] = 40, 200  # dark left, bright right
    hole = np.ones((200, 200), bool)
    hole[1:-1, 1:-1] = True
    hole[0, :] = hole[-1, :] = hole[:, 0] = hole[:, -1] = False  # a 1-px known frame
    fill = np.full_like(image, 120)
    out = poisson_blend(fill, image, hole, max_unknowns=400)  # cells of ~10 px
    left, right = out[50:150, 5:40].astype(float).mean(), out[50:150, 160:195].astype(float).mean()
    assert left < 90 and right > 150  # the frame's two colours reach in from their sides


def test_blending_keeps_the_fills_texture_and_never_touches_known_pixels() -> None:
    rng = np.random.default_rng(1)
    image = np.full((40, 40, 3), 120, np.uint8)
    hole = np.zeros((40, 40), bool)
    hole[10:30, 10:30] = True
    texture = rng.integers(-30, 30, (40, 40, 1))
    fill = (60 + texture).repeat(3, axis=2).astype(np.uint8)  # textured and far too dark
    out = poisson_blend(fill, image, hole)
    np.testing.assert_array_equal(out[~hole], image[~hole])
    inside = out[hole].astype(float)
    assert abs(inside.mean() - 120) < 3  # the colour now matches the surround ...
    assert inside.std() > 0.8 * fill[hole].astype(float).std()  # ... and the texture is still there


def test_blending_checks_shapes() -> None:
    image = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ShapeError):
        poisson_blend(image, image, np.zeros((8, 9), bool))
    with pytest.raises(ShapeError):
        poisson_blend(image[:, :7], image, np.zeros((8, 8), bool))
    np.testing.assert_array_equal(poisson_blend(image + 5, image, np.zeros((8, 8), bool)), image)
    with pytest.raises(ValueError, match="max_unknowns"):
        poisson_blend(image, image, np.zeros((8, 8), bool), max_unknowns=0)


def test_a_hole_covering_the_whole_frame_keeps_the_fill() -> None:
    fill = np.random.default_rng(4).integers(0, 255, (30, 30, 3), dtype=np.uint8)
    np.testing.assert_array_equal(poisson_blend(fill, np.zeros_like(fill), np.ones((30, 30), bool)), fill)
