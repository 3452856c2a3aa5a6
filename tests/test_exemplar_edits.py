"""Edits that fill with real pixels: Criminisi, sharp PatchMatch, clone stamp and splice."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from inpaintscope.errors import InpaintscopeError
from inpaintscope.inpaint import create_inpainter
from inpaintscope.inpaint.clone import clone_fill, splice_fill
from inpaintscope.masks import make_mask


def _photo(h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack(
        [np.sin(xx / 5.0) * 70 + 120, np.cos(yy / 7.0 + xx / 11.0) * 60 + 110, (xx * 3 + yy * 2) % 90 + 60], -1
    )
    return np.clip(base + rng.normal(0, 5, base.shape), 0, 255).astype(np.uint8)


def _hole(h: int = 96, w: int = 128) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[30:55, 40:75] = True
    return m


def _colours(img: np.ndarray, where: np.ndarray) -> set[tuple[int, int, int]]:
    return {tuple(int(v) for v in px) for px in img[where]}


@pytest.mark.parametrize("name", ["criminisi", "patchmatch_sharp", "clone"])
def test_copying_methods_fill_only_with_colours_of_known_pixels(name: str) -> None:
    img, hole = _photo(), _hole()
    out = create_inpainter(name, **({"transform_prob": 0.0} if name == "clone" else {})).inpaint(
        img, hole, rng=np.random.default_rng(1)
    )
    np.testing.assert_array_equal(out[~hole], img[~hole])
    assert _colours(out, hole) <= _colours(img, ~hole)  # pixel-exact copies, nothing invented


def test_clone_copies_one_region_at_a_recorded_offset() -> None:
    img, hole = _photo(), _hole()
    out, params = clone_fill(img, hole, rng=np.random.default_rng(3), transform_prob=0.0)
    (stamp,) = params["stamps"]
    dy, dx = stamp["offset"]
    ys, xs = np.nonzero(hole)
    np.testing.assert_array_equal(out[ys, xs], img[ys + dy, xs + dx])
    assert not hole[ys + dy, xs + dx].any()  # the source never overlaps the hole
    assert max(abs(dy), abs(dx)) >= 1


def test_clone_splits_a_long_stroke_into_several_stamps_whose_sources_avoid_the_hole() -> None:
    img = _photo(160, 200)
    hole = make_mask("strokes", img.shape[:2], rng=np.random.default_rng(5), area=(0.15, 0.2)).soft > 0
    out, params = clone_fill(img, hole, rng=np.random.default_rng(5), transform_prob=0.0)
    np.testing.assert_array_equal(out[~hole], img[~hole])
    assert len(params["stamps"]) >= 1
    assert _colours(out, hole) <= _colours(img, ~hole)


def test_clone_with_scale_and_rotation_stays_deterministic() -> None:
    img, hole = _photo(), _hole()
    a = create_inpainter("clone", transform_prob=1.0).inpaint(img, hole, rng=np.random.default_rng(2))
    b = create_inpainter("clone", transform_prob=1.0).inpaint(img, hole, rng=np.random.default_rng(2))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[~hole], img[~hole])


def test_clone_refuses_a_hole_that_leaves_no_source() -> None:
    img = _photo(40, 40)
    hole = np.ones((40, 40), bool)
    hole[0, 0] = False
    with pytest.raises(InpaintscopeError, match="clone"):
        clone_fill(img, hole, rng=np.random.default_rng(0))


def test_splice_takes_the_fill_from_the_donor(tmp_path) -> None:
    img, hole = _photo(), _hole()
    donor = np.zeros((80, 90, 3), np.uint8)
    donor[..., 2] = 255  # pure blue: recognisable after resampling and JPEG
    out, params = splice_fill(img, hole, donor, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(out[~hole], img[~hole])
    if not params["poisson"]:
        assert out[hole][:, 2].mean() > 200 and out[hole][:, 0].mean() < 60
    Image.fromarray(donor).save(tmp_path / "blue.png")
    inp = create_inpainter("splice", donors=tmp_path)
    np.testing.assert_array_equal(
        inp.inpaint(img, hole, rng=np.random.default_rng(4)), inp.inpaint(img, hole, rng=np.random.default_rng(4))
    )


def test_splice_poisson_blending_keeps_nothing_of_the_replaced_content() -> None:
    # OpenCV erodes the blending mask: a mask equal to the hole kept the old content's border
    # (here pure red) inside the fill; the grown mask takes the border from the surroundings
    img, hole = _photo(), _hole()
    img[hole] = (255, 0, 0)
    donor = _photo(seed=5)[..., ::-1].copy()
    seeds = [s for s in range(40) if splice_fill(img, hole, donor, rng=np.random.default_rng(s))[1]["poisson"]]
    assert seeds, "no seed took the Poisson path"
    for seed in seeds[:3]:
        out, _ = splice_fill(img, hole, donor, rng=np.random.default_rng(seed))
        np.testing.assert_array_equal(out[~hole], img[~hole])
        red = np.abs(out[hole].astype(int) - (255, 0, 0)).sum(axis=1)
        assert red.min() > 100, f"seed {seed}: the fill kept pixels of the replaced content"


def test_splice_needs_donors() -> None:
    with pytest.raises(InpaintscopeError, match="donors"):
        create_inpainter("splice")
