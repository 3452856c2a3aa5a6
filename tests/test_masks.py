"""Mask generators: the contract every registered kind must meet, and each kind's own behaviour."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from inpaintscope.contract import ground_truth
from inpaintscope.errors import InpaintscopeError
from inpaintscope.masks import MASKS, MaskUnavailable, find_label_file, make_mask
from inpaintscope.masks.folder import folder, mask_index
from inpaintscope.masks.objects import objects, rasterize, read_labels
from inpaintscope.masks.rectangle import rectangle
from inpaintscope.masks.shapes import shapes
from inpaintscope.masks.strokes import default_brush, strokes

SHAPE = (96, 128)  # non-square, so an h/w mix-up shows


class StubRng:
    """Stands in for ``np.random.Generator`` where a test fixes the uniforms by hand."""

    def __init__(self, values: list[float]) -> None:
        self.values = list(values)
        self.calls = 0

    def random(self) -> float:
        if not self.values:
            raise AssertionError("generator drew more uniforms than the test supplied")
        self.calls += 1
        return self.values.pop(0)


# --- fixtures: a synthetic YOLO layout and a synthetic mask folder ---------------------------

SQUARE = "3 0.2 0.2 0.7 0.2 0.7 0.7 0.2 0.7"  # 0.25 of the image
TRIANGLE = "7 0.05 0.9 0.6 0.9 0.05 0.3"  # 0.5·0.55·0.6 = 0.165
TINY = "3 0.9 0.9 0.95 0.9 0.95 0.95 0.9 0.95"  # 0.0025: below every default range
BOX = "1 0.5 0.5 0.3 0.4"  # YOLO box cx cy w h: 0.12


@pytest.fixture()
def yolo_tree(tmp_path: Path) -> tuple[Path, Path]:
    """(image path, label path) in the Ultralytics layout images/<split>/, labels/<split>/."""
    image = tmp_path / "coco" / "images" / "train" / "img.jpg"
    label = tmp_path / "coco" / "labels" / "train" / "img.txt"
    image.parent.mkdir(parents=True)
    label.parent.mkdir(parents=True)
    Image.new("RGB", (128, 96)).save(image)
    label.write_text("\n".join([SQUARE, TRIANGLE, TINY, BOX]) + "\n")
    return image, label


@pytest.fixture()
def mask_dir(tmp_path: Path) -> Path:
    """64×64 masks with known, asymmetric holes (so flips/rotations show) of different sizes."""
    root = tmp_path / "masks"
    (root / "sub").mkdir(parents=True)

    def save(name: str, hole: np.ndarray, rgb: bool = False) -> None:
        arr = hole.astype(np.uint8) * 255
        Image.fromarray(np.dstack([arr, arr // 2, arr * 0]) if rgb else arr).save(root / name)

    a = np.zeros((64, 64), bool)
    a[8:48, 8:24] = True
    a[32:48, 8:56] = True  # an L: (40·16 + 16·32) / 4096 = 0.28125
    b = np.zeros((64, 64), bool)
    b[4:44, 10:40] = True  # off-centre block: 1200 / 4096 = 0.293
    c = np.zeros((64, 64), bool)
    c[10:58, 0:40] = True  # 1920 / 4096 = 0.469, stored as RGB (red = hole)
    e = np.zeros((64, 64), bool)
    e[40:60, 30:52] = True  # 440 / 4096 = 0.107, in a subfolder
    save("a.png", a)
    save("b.png", b)
    save("c.png", c, rgb=True)
    save("blank.png", np.zeros((64, 64), bool))  # no hole: must never be chosen
    save("sub/e.png", e)
    return root


@pytest.fixture()
def options(yolo_tree: tuple[Path, Path], mask_dir: Path) -> dict[str, dict[str, Any]]:
    return {"objects": {"labels": yolo_tree[1]}, "folder": {"directory": mask_dir}}


#: Area ranges each kind must honour, with the documented tolerance (folder: resampling drift).
AREA_CASES: dict[str, tuple[tuple[float, float], float]] = {
    "rectangle": ((0.05, 0.2), 0.0),
    "strokes": ((0.10, 0.20), 0.0),
    "shapes": ((0.10, 0.20), 0.0),
    "objects": ((0.10, 0.30), 0.0),
    "folder": ((0.20, 0.35), 0.02),
}


def test_all_kinds_registered() -> None:
    assert set(MASKS.names()) >= {"rectangle", "strokes", "shapes", "objects", "folder"}
    assert set(AREA_CASES) >= set(MASKS.names()), "a new mask kind needs an AREA_CASES entry"


# --- the contract, for every registered kind ------------------------------------------------


@pytest.mark.parametrize("kind", MASKS.names())
def test_contract_and_ground_truth(kind: str, options: dict[str, dict[str, Any]]) -> None:
    for seed in range(3):
        m = make_mask(kind, SHAPE, rng=np.random.default_rng(seed), **options.get(kind, {}))
        assert m.hole.shape == SHAPE and m.hole.dtype == bool
        assert m.soft.shape == SHAPE and m.soft.dtype == np.uint8
        assert m.hole.any() and not m.hole.all()
        core, anyp, soft = (ground_truth(m.soft, mode) for mode in ("core", "any", "soft"))
        assert core.any() and not anyp.all()
        assert not (core & ~anyp).any()  # core ⊂ any
        assert not (m.hole & ~anyp).any()  # the blur never shrinks the support
        assert soft.dtype == np.float32 and soft.min() >= 0.0 and soft.max() <= 1.0
        np.testing.assert_array_equal(soft == 1.0, core)
        np.testing.assert_array_equal(soft > 0.0, anyp)
        assert m.params["area_fraction"] == pytest.approx(m.hole.mean(), abs=1e-6)
        json.dumps(m.params)  # recorded in the manifest


@pytest.mark.parametrize("kind", MASKS.names())
def test_same_seed_same_mask_and_seeds_vary(kind: str, options: dict[str, dict[str, Any]]) -> None:
    opts = options.get(kind, {})
    first = make_mask(kind, SHAPE, rng=np.random.default_rng(7), **opts)
    again = make_mask(kind, SHAPE, rng=np.random.default_rng(7), **opts)
    np.testing.assert_array_equal(first.hole, again.hole)
    np.testing.assert_array_equal(first.soft, again.soft)
    assert first.params == again.params
    distinct = {make_mask(kind, SHAPE, rng=np.random.default_rng(s), **opts).hole.tobytes() for s in range(12)}
    assert len(distinct) >= 3, f"{kind}: 12 seeds gave only {len(distinct)} distinct masks"


@pytest.mark.parametrize("kind", MASKS.names())
def test_area_range_honoured(kind: str, options: dict[str, dict[str, Any]]) -> None:
    (lo, hi), tol = AREA_CASES[kind]
    for seed in range(5):
        m = make_mask(kind, SHAPE, rng=np.random.default_rng(seed), area=(lo, hi), **options.get(kind, {}))
        assert lo - tol <= m.hole.mean() <= hi + tol, (kind, seed, m.hole.mean())


@pytest.mark.parametrize("fn", [rectangle, strokes, shapes])
def test_bad_area_range_is_a_user_error(fn: Any) -> None:
    with pytest.raises(InpaintscopeError, match="0 < lo <= hi < 1"):
        fn(SHAPE, rng=np.random.default_rng(0), area=(0.4, 0.2))


# --- rectangle: the Bochum report's generator ------------------------------------------------


def test_rectangle_hand_computed() -> None:
    # (H, W) = (256, 512): minsize 64 across, 32 down.
    # x: cx = round(0.5·(512−64) + 32) = 256; cw = round(0.5·(256−64)) + 64 = 160;
    #    x0 = round(256 − 80) = 176; x1 = min(512, 176 + 160) = 336.
    # y: cy = round(0.25·(256−32) + 16) = 72; ch = round(1.0·(128−32)) + 32 = 128;
    #    y0 = round(72 − 64) = 8; y1 = min(256, 8 + 128) = 136.
    rng = StubRng([0.5, 0.25, 0.5, 1.0])  # order: cx, cy, cw, ch
    hole, params = rectangle((256, 512), rng=rng)  # type: ignore[arg-type]
    assert rng.calls == 4
    assert (params["x0"], params["y0"], params["x1"], params["y1"]) == (176, 8, 336, 136)
    assert hole.sum() == (136 - 8 + 1) * (336 - 176 + 1)  # inclusive of both end pixels
    assert hole[8, 176] and hole[136, 336]
    assert not hole[7, 176] and not hole[137, 336] and not hole[8, 175] and not hole[8, 337]


def test_rectangle_clipped_at_the_far_border() -> None:
    # x: cx = round(1.0·448 + 32) = 480; cw = 192 + 64 = 256; x0 = round(480 − 128) = 352;
    #    x1 = min(512, 608) = 512 → drawn columns 352..511.
    # y: cy = round(0·224 + 16) = 16; ch = 0 + 32 = 32; y0 = max(0, 0) = 0; y1 = 32.
    hole, params = rectangle((256, 512), rng=StubRng([1.0, 0.0, 1.0, 0.0]))  # type: ignore[arg-type]
    assert (params["x0"], params["y0"], params["x1"], params["y1"]) == (352, 0, 512, 32)
    assert hole.sum() == 33 * 160
    assert hole[:33, 352:].all()


def test_rectangle_blur_band_is_8px() -> None:
    # 128²: minsize 16, cx = round(0.5·112 + 8) = 64, cw = round(1.0·(64 − 16)) + 16 = 64,
    # x0 = 32, x1 = 96 (same for y). The report measured: core = rectangle eroded by 8 px,
    # support (soft > 0) = rectangle grown by 8 px.
    m = make_mask("rectangle", (128, 128), rng=StubRng([0.5, 0.5, 1.0, 1.0]))  # type: ignore[arg-type]
    ys, xs = np.nonzero(m.hole)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (32, 96, 32, 96)
    ys, xs = np.nonzero(m.core)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (40, 88, 40, 88)
    assert m.core.sum() == 49 * 49  # the core is itself a full rectangle
    ys, xs = np.nonzero(m.support)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (24, 104, 24, 104)


def test_rectangle_unreachable_area_fails_fast() -> None:
    with pytest.raises(InpaintscopeError, match="misses the requested area"):
        rectangle((128, 128), rng=np.random.default_rng(0), area=(0.6, 0.9))


# --- strokes and shapes ----------------------------------------------------------------------


def test_default_brush_is_thick_enough_for_a_core() -> None:
    assert default_brush((512, 512)) == (20, 46)
    assert default_brush((64, 80)) == (20, 24)
    assert default_brush((2048, 1024)) == (41, 92)


def test_strokes_params_and_width_option() -> None:
    hole, params = strokes((128, 128), rng=np.random.default_rng(3), width=(22, 22))
    assert params["strokes"] and all(s["width"] == 22 for s in params["strokes"])
    assert 0.05 <= hole.mean() <= 0.30
    assert 0.05 <= params["target_area"] <= 0.30
    with pytest.raises(InpaintscopeError, match="brush width"):
        strokes((128, 128), rng=np.random.default_rng(0), width=(30, 10))


def test_strokes_impossible_area_is_a_clear_error() -> None:
    # a 20 px brush cannot cover 1 % ± a hair of a 32×32 image (one dab is ~30 %)
    with pytest.raises(InpaintscopeError, match="could not draw strokes"):
        strokes((32, 32), rng=np.random.default_rng(0), area=(0.01, 0.02))


def test_shapes_kinds_option() -> None:
    for seed in range(4):
        _, params = shapes((128, 128), rng=np.random.default_rng(seed), kinds=("ellipse",))
        assert {s["kind"] for s in params["shapes"]} == {"ellipse"}
        assert len(params["shapes"]) >= 1
    with pytest.raises(InpaintscopeError, match="subset of"):
        shapes((128, 128), rng=np.random.default_rng(0), kinds=("hexagon",))


# --- objects ---------------------------------------------------------------------------------


def test_read_labels_and_rasterize_hand_computed(yolo_tree: tuple[Path, Path]) -> None:
    polys = read_labels(yolo_tree[1])
    assert [c for c, _ in polys] == [3, 7, 3, 1]
    np.testing.assert_allclose(polys[3][1], [[0.35, 0.3], [0.65, 0.3], [0.65, 0.7], [0.35, 0.7]])  # box → corners
    # Square 0.2–0.7 on 96×128: x·w − 0.5 = 25.1 … 89.1, y·h − 0.5 = 18.7 … 66.7; fillPoly fills
    # inclusively between the rounded vertices → columns 25..89, rows 19..67.
    sq = rasterize(polys[0][1], SHAPE)
    ys, xs = np.nonzero(sq)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (19, 67, 25, 89)
    assert sq.sum() == 49 * 65
    grown = rasterize(polys[0][1], SHAPE, dilate=3)
    assert not (sq & ~grown).any()
    ys, xs = np.nonzero(grown)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (16, 70, 22, 92)


def test_objects_choice_filters_and_params(yolo_tree: tuple[Path, Path]) -> None:
    label = yolo_tree[1]
    chosen = set()
    for seed in range(12):
        hole, params = objects(SHAPE, rng=np.random.default_rng(seed), labels=label)
        # the tiny square (index 2) is below the default 2 % and never offered
        assert params["object_index"] in (0, 1, 3) and params["candidates"] == 3
        assert params["label_file"] == "img.txt"
        assert params["class_id"] == [3, 7, 3, 1][params["object_index"]]
        chosen.add(params["object_index"])
    assert chosen == {0, 1, 3}  # uniform among candidates: 12 draws hit all three
    hole, params = objects(SHAPE, rng=np.random.default_rng(0), labels=label, classes=[7])
    assert (params["class_id"], params["object_index"], params["candidates"]) == (7, 1, 1)
    assert hole.mean() == pytest.approx(0.165, abs=0.02)


def test_objects_polygons_option_matches_file(yolo_tree: tuple[Path, Path]) -> None:
    polys = read_labels(yolo_tree[1])
    from_file, _ = objects(SHAPE, rng=np.random.default_rng(0), labels=yolo_tree[1], classes=[7])
    from_list, params = objects(SHAPE, rng=np.random.default_rng(0), polygons=[polys[1]])
    np.testing.assert_array_equal(from_file, from_list)
    assert params["label_file"] is None and params["class_id"] == 7


def test_objects_unavailable(yolo_tree: tuple[Path, Path]) -> None:
    label = yolo_tree[1]
    with pytest.raises(MaskUnavailable, match="no object"):
        make_mask("objects", SHAPE, rng=np.random.default_rng(0), labels=label, area=(0.6, 0.9))
    with pytest.raises(MaskUnavailable, match=r"classes \[99\]"):
        objects(SHAPE, rng=np.random.default_rng(0), labels=label, classes=[99])
    assert issubclass(MaskUnavailable, InpaintscopeError)
    # an object too thin to keep a core after blurring is not a candidate either
    thin = [(0, np.array([[0.1, 0.4], [0.9, 0.4], [0.9, 0.55], [0.1, 0.55]]))]  # ~14 px tall
    with pytest.raises(MaskUnavailable):
        objects(SHAPE, rng=np.random.default_rng(0), polygons=thin)
    hole, _ = objects(SHAPE, rng=np.random.default_rng(0), polygons=thin, min_core_radius=0)
    assert hole.any()


def test_objects_user_errors(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(InpaintscopeError, match="exactly one of labels"):
        objects(SHAPE, rng=rng)
    bad = tmp_path / "bad.txt"
    bad.write_text(SQUARE + "\n0 0.1 0.2 0.3\n")
    with pytest.raises(InpaintscopeError, match=r"bad\.txt:2:"):
        objects(SHAPE, rng=rng, labels=bad)
    with pytest.raises(InpaintscopeError, match="not found"):
        objects(SHAPE, rng=rng, labels=tmp_path / "missing.txt")
    with pytest.raises(InpaintscopeError, match=r"polygons\[0\]"):
        objects(SHAPE, rng=rng, polygons=[(0, np.zeros((2, 2)))])


def test_find_label_file(yolo_tree: tuple[Path, Path], tmp_path: Path) -> None:
    image, label = yolo_tree
    assert find_label_file(image) == label
    assert find_label_file(str(image)) == label
    assert find_label_file(image.with_name("other.jpg")) is None  # no label written for it
    assert find_label_file(tmp_path / "photos" / "img.jpg") is None  # not a YOLO layout


# --- folder ----------------------------------------------------------------------------------


def test_folder_index_and_rebuild_from_params(mask_dir: Path) -> None:
    names, fractions = mask_index(mask_dir)
    assert names == ("a.png", "b.png", "blank.png", "c.png", "sub/e.png")
    np.testing.assert_allclose(fractions, [1152 / 4096, 1200 / 4096, 0.0, 1920 / 4096, 440 / 4096], atol=0.02)
    # At the files' own size and without augmentation, the hole is the file itself.
    hole, params = folder((64, 64), rng=np.random.default_rng(1), directory=mask_dir, augment=False)
    assert params["file"] != "blank.png"
    src = np.asarray(Image.open(mask_dir / params["file"]).convert("RGB"))[..., 0] > 127
    np.testing.assert_array_equal(hole, src)
    # With augmentation, the recorded transforms rebuild the mask.
    for seed in range(6):
        hole, params = folder((64, 64), rng=np.random.default_rng(seed), directory=mask_dir)
        src = np.asarray(Image.open(mask_dir / params["file"]).convert("RGB"))[..., 0] > 127
        if params["flip_h"]:
            src = src[:, ::-1]
        if params["flip_v"]:
            src = src[::-1, :]
        np.testing.assert_array_equal(hole, np.rot90(src, params["rot90"]))


def test_folder_area_filter_and_invert(mask_dir: Path) -> None:
    for seed in range(6):
        _, params = folder(SHAPE, rng=np.random.default_rng(seed), directory=mask_dir, area=(0.05, 0.15))
        assert params["file"] == "sub/e.png"  # the only file with 5–15 % hole
    hole, params = folder(
        (64, 64), rng=np.random.default_rng(0), directory=mask_dir, augment=False, invert=True, area=(0.5, 0.95)
    )
    src = np.asarray(Image.open(mask_dir / params["file"]).convert("RGB"))[..., 0] > 127
    np.testing.assert_array_equal(hole, ~src)


def test_folder_errors(tmp_path: Path, mask_dir: Path) -> None:
    rng = np.random.default_rng(0)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a mask")
    with pytest.raises(InpaintscopeError, match="holds no mask images"):
        make_mask("folder", SHAPE, rng=rng, directory=empty)
    with pytest.raises(InpaintscopeError, match="does not exist"):
        folder(SHAPE, rng=rng, directory=tmp_path / "nowhere")
    with pytest.raises(InpaintscopeError, match="need directory="):
        folder(SHAPE, rng=rng)
    with pytest.raises(MaskUnavailable, match="hole fraction in 0.6"):
        folder(SHAPE, rng=rng, directory=mask_dir, area=(0.6, 0.9))


def test_folder_skips_unreadable_masks_and_reports_them_once(mask_dir: Path) -> None:
    from inpaintscope.masks.folder import UnreadableMasksWarning

    (mask_dir / "broken.png").write_bytes(b"not a png")
    (mask_dir / "sub" / "cut.png").write_bytes((mask_dir / "a.png").read_bytes()[:40])  # truncated
    with pytest.warns(UnreadableMasksWarning, match=r"skipping 2 unreadable file\(s\) of 7: broken.png, sub/cut.png"):
        names, _ = mask_index(mask_dir)
    assert names == ("a.png", "b.png", "blank.png", "c.png", "sub/e.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnreadableMasksWarning)  # once per folder, not per draw
        for seed in range(5):
            hole, params = folder(SHAPE, rng=np.random.default_rng(seed), directory=mask_dir)
            assert hole.any() and params["file"] not in ("broken.png", "sub/cut.png")


def test_folder_with_no_readable_mask_says_so(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.png").write_bytes(b"not a png")
    (bad / "y.jpg").write_bytes(b"")
    with pytest.raises(InpaintscopeError, match=r"none of its 2 image file\(s\) can be read as a mask \(e.g. x.png\)"):
        folder(SHAPE, rng=np.random.default_rng(0), directory=bad)


def test_folder_index_refreshes_when_files_are_added(mask_dir: Path) -> None:
    before, _ = mask_index(mask_dir)
    hole = np.zeros((64, 64), np.uint8)
    hole[:20, :20] = 255
    Image.fromarray(hole).save(mask_dir / "z.png")
    after, _ = mask_index(mask_dir)
    assert after == before + ("z.png",)


# --- real data (skipped when ../shared/data is absent) ---------------------------------------


@pytest.mark.shared_data
def test_real_coco_labels_and_irregular_masks(shared_data: Path) -> None:
    images = sorted((shared_data / "photos" / "coco128" / "images" / "train2017").glob("*.jpg"))[:8]
    assert images, "coco128 images missing from the shared data"
    made = 0
    for i, image in enumerate(images):
        label = find_label_file(image)
        assert label is not None and label.name == image.stem + ".txt"
        try:
            m = make_mask("objects", (128, 128), rng=np.random.default_rng(i), labels=label)
        except MaskUnavailable:
            continue  # only small or thin objects in this photo: callers fall back
        made += 1
        assert 0.02 <= m.hole.mean() <= 0.5 and m.core.any()
        assert m.params["label_file"] == label.name
    assert made >= 4, f"only {made} of {len(images)} COCO photos gave an object mask"

    irregular = shared_data / "masks" / "irregular"
    for seed in range(3):
        m = make_mask("folder", (128, 128), rng=np.random.default_rng(seed), directory=irregular, area=(0.1, 0.2))
        assert 0.1 - 0.02 <= m.hole.mean() <= 0.2 + 0.02
        assert (irregular / m.params["file"]).is_file()
