"""The detect library: Detection fields with hand-computed values, the four input types,
regions, saving, and what ``model=`` accepts."""

from __future__ import annotations

import io
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import inpaintscope
from inpaintscope.detection import (
    Detection,
    Region,
    clear_model_cache,
    default_min_region_area,
    detect,
    find_regions,
    load_model,
    loader as loader_mod,
)
from inpaintscope.detection.render import _BOX_FLAGGED_RGB, caption_height, colour_bar_width
from inpaintscope.errors import InpaintscopeError, MissingWeightsError
from inpaintscope.io import encode_image
from inpaintscope.models import MODELS, create_model, save_checkpoint
from test_detect_support import TinyDetector, bright_probability, make_checkpoint, registered, square_image

P_WHITE, P_DARK = bright_probability(255), bright_probability(20)


@pytest.fixture(scope="module")
def tiny_name():
    with registered() as name:
        yield name


@pytest.fixture(scope="module")
def bright_ckpt(tiny_name: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("ck") / "bright.safetensors")


def test_detection_fields_hand_computed(bright_ckpt: Path) -> None:
    img = square_image(96, box=(20, 30, 50, 70))
    d = detect(img, model=bright_ckpt)
    assert isinstance(d, Detection)
    assert d.mask.dtype == bool and d.mask.shape == (96, 96)
    assert d.heatmap.dtype == np.float32 and d.heatmap.shape == (96, 96)
    assert (d.width, d.height) == (96, 96)
    # per-pixel model: white → sigmoid(10·tanh(1) − 3.8), dark (20) → sigmoid(10·tanh(20/255) − 3.8)
    assert d.heatmap[40, 30] == pytest.approx(P_WHITE, abs=1e-6)
    assert d.heatmap[0, 0] == pytest.approx(P_DARK, abs=1e-6)
    expected_mask = np.zeros((96, 96), bool)
    expected_mask[30:70, 20:50] = True
    np.testing.assert_array_equal(d.mask, expected_mask)
    assert d.area_fraction == pytest.approx(1200 / 96**2)
    # image logit = max mask logit → score = P_WHITE
    assert isinstance(d.score, float) and d.score == pytest.approx(P_WHITE, abs=1e-6)
    assert d.decision is True and (d.pixel_threshold, d.image_threshold) == (0.5, 0.5)
    assert d.regions_below_image_threshold == []
    white = pytest.approx(P_WHITE, abs=1e-5)
    assert d.regions == [Region(20, 30, 50, 70, 1200, white, white)]
    assert d.model.startswith("_test_detect_tiny:bright.safetensors@") and d.version == inpaintscope.__version__
    assert 0 < d.seconds < 10


def test_clean_image_and_thresholds(bright_ckpt: Path) -> None:
    dark = np.full((64, 64, 3), 20, np.uint8)
    d = detect(dark, model=bright_ckpt)
    assert d.decision is False and d.regions == [] and d.area_fraction == 0.0 and not d.mask.any()
    assert d.score == pytest.approx(P_DARK, abs=1e-6)
    # a pixel threshold below P_DARK shows every pixel, but the decision is the image threshold's:
    # the faint area is a candidate region, not a detection
    low = detect(dark, model=bright_ckpt, pixel_threshold=P_DARK - 0.01)
    assert low.decision is False and low.score == d.score and low.area_fraction == 1.0
    assert low.regions == [] and [r.area for r in low.regions_below_image_threshold] == [64 * 64]
    # an image threshold below the score flags it
    flagged = detect(dark, model=bright_ckpt, pixel_threshold=P_DARK - 0.01, image_threshold=P_DARK - 0.01)
    assert flagged.decision is True and flagged.regions[0].area == 64 * 64
    assert flagged.regions_below_image_threshold == []
    # the deprecated single threshold sets both, with a warning
    with pytest.warns(DeprecationWarning, match="threshold= is deprecated"):
        old = detect(dark, model=bright_ckpt, threshold=P_DARK - 0.01)
    assert (old.pixel_threshold, old.image_threshold, old.decision) == (P_DARK - 0.01, P_DARK - 0.01, True)
    with pytest.raises(InpaintscopeError, match="either threshold"):
        detect(dark, model=bright_ckpt, threshold=0.4, image_threshold=0.3)
    for bad in (-0.1, 1.5, "0.5", True, float("nan")):
        for kw in ("pixel_threshold", "image_threshold"):
            with pytest.raises(InpaintscopeError, match=kw):
                detect(dark, model=bright_ckpt, **{kw: bad})  # type: ignore[arg-type]


def test_detection_repr_is_short(bright_ckpt: Path) -> None:
    d = detect(square_image(96, box=(20, 30, 50, 70)), model=bright_ckpt)
    text = repr(d)
    assert text.startswith("Detection(inpainted, score=") and "1 region(s)" in text and "96×96" in text
    assert "array" not in text and len(text) < 300
    clean = detect(np.full((64, 64, 3), 20, np.uint8), model=bright_ckpt, pixel_threshold=P_DARK - 0.01)
    assert "Detection(clean" in repr(clean) and "(+1 below the image threshold)" in repr(clean)


def test_four_input_types_identical(bright_ckpt: Path, tmp_path: Path) -> None:
    img = square_image(80, box=(5, 10, 40, 30), noise_seed=3)
    data = encode_image(img, "png")
    path = tmp_path / "photo.png"
    path.write_bytes(data)
    results = [detect(src, model=bright_ckpt) for src in (path, data, Image.open(io.BytesIO(data)), img)]
    for d in results[1:]:
        np.testing.assert_array_equal(d.heatmap, results[0].heatmap)
        np.testing.assert_array_equal(d.mask, results[0].mask)
        assert d.score == results[0].score and d.regions == results[0].regions
    assert results[0].source == str(path) and results[3].source is None
    # the package-level function is the same call
    assert inpaintscope.detect(img, model=bright_ckpt).score == results[3].score


def test_fallback_score_without_image_head(tiny_name: str, tmp_path: Path) -> None:
    ck = make_checkpoint(tmp_path / "nohead.safetensors", image_head=False)
    # one hot pixel is 1/4096 < 0.1 % of the image: the 99.9th percentile ignores it, max would not
    img = np.full((64, 64, 3), 20, np.uint8)
    img[10, 10] = 255
    d = detect(img, model=ck)
    assert d.heatmap.max() == pytest.approx(P_WHITE, abs=1e-6)
    assert d.score == pytest.approx(P_DARK, abs=1e-6) and d.decision is False
    assert d.mask.sum() == 1 and d.regions == []  # 1 px < min area 16
    # a 10×10 region (2.4 %) decides
    img[20:30, 20:30] = 255
    d = detect(img, model=ck)
    assert d.score == pytest.approx(P_WHITE, abs=1e-6) and d.decision is True
    assert [r.area for r in d.regions] == [100]


def test_regions_min_area_and_order() -> None:
    heat = np.zeros((50, 60), np.float32)
    heat[2:12, 3:13] = 0.8  # 100 px
    heat[30:45, 40:55] = 0.9  # 225 px
    heat[30, 40] = 1.0
    heat[48, 2:5] = 0.7  # 3-pixel speck
    mask = heat >= 0.5
    regions = find_regions(mask, heat, min_area=16)
    assert [(r.x0, r.y0, r.x1, r.y1, r.area) for r in regions] == [(40, 30, 55, 45, 225), (3, 2, 13, 12, 100)]
    assert regions[0].max_probability == pytest.approx(1.0)
    assert regions[0].mean_probability == pytest.approx((224 * 0.9 + 1.0) / 225, abs=1e-6)
    assert regions[1].mean_probability == pytest.approx(0.8, abs=1e-6)
    assert len(find_regions(mask, heat, min_area=1)) == 3
    # diagonal neighbours join (8-connectivity)
    diag = np.eye(20, dtype=bool)
    assert [r.area for r in find_regions(diag, diag.astype(np.float32), min_area=1)] == [20]
    assert default_min_region_area(96, 96) == 16 and default_min_region_area(4000, 6000) == 2400


def test_save_writes_all_files(bright_ckpt: Path, tmp_path: Path) -> None:
    src = tmp_path / "in" / "shot.png"
    src.parent.mkdir()
    src.write_bytes(encode_image(square_image(64, box=(8, 8, 40, 24)), "png"))
    d = detect(src, model=bright_ckpt)
    paths = d.save(tmp_path / "out")
    assert {k: p.name for k, p in paths.items()} == {  # named after the full file name, as detect names them
        "mask": "shot.png.mask.png",
        "heatmap": "shot.png.heatmap.png",
        "overlay": "shot.png.overlay.png",
    }
    mask = np.asarray(Image.open(paths["mask"]))
    assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 255}
    np.testing.assert_array_equal(mask == 255, d.mask)
    heat = np.asarray(Image.open(paths["heatmap"]))
    np.testing.assert_array_equal(heat, np.rint(d.heatmap * 255).astype(np.uint8))
    over = np.asarray(Image.open(paths["overlay"]).convert("RGB"))
    top = caption_height(64 + colour_bar_width(64), 64)
    assert over.shape == (top + 64, 64 + colour_bar_width(64), 3)  # caption band above, colour bar right
    # the image is called inpainted: its box is outlined in red at the region's corner
    assert over[top + 8, 8].tolist() == list(_BOX_FLAGGED_RGB)
    assert not any(p.name.startswith(".tmp-") for p in (tmp_path / "out").iterdir())
    # explicit stem, no overlay
    paths2 = d.save(tmp_path / "out2", "x", overlay=False)
    assert sorted(p.name for p in (tmp_path / "out2").iterdir()) == ["x.heatmap.png", "x.mask.png"]
    assert "overlay" not in paths2
    with pytest.raises(InpaintscopeError, match="stem"):
        d.save(tmp_path, "a/b")


def test_save_never_overwrites_and_same_stem_photos_do_not_collide(bright_ckpt: Path, tmp_path: Path) -> None:
    photos = tmp_path / "in"
    photos.mkdir()
    for name, fmt in (("good.png", "png"), ("good.jpg", "jpeg")):
        (photos / name).write_bytes(encode_image(square_image(64, box=(8, 8, 40, 24)), fmt))
    out = tmp_path / "out"
    png = detect(photos / "good.png", model=bright_ckpt).save(out)
    jpg = detect(photos / "good.jpg", model=bright_ckpt).save(out)  # was good.mask.png for both
    assert set(png.values()).isdisjoint(jpg.values()) and len(list(out.iterdir())) == 6
    det = detect(photos / "good.png", model=bright_ckpt)
    mine = out / "good.png.overlay.png"
    mine.write_bytes(b"the user's own picture")
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(
        InpaintscopeError, match=r"good\.png\.(mask|heatmap|overlay)\.png already exists.*overwrite=True"
    ):
        det.save(out)
    assert mine.read_bytes() == b"the user's own picture" and sorted(p.name for p in out.iterdir()) == before
    assert det.save(out, overwrite=True)["overlay"].read_bytes() != b"the user's own picture"


def test_save_into_a_place_that_cannot_be_written_fails_clearly(bright_ckpt: Path, tmp_path: Path) -> None:
    det = detect(square_image(32), model=bright_ckpt)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(InpaintscopeError, match="afile is a file, not a folder"):
        det.save(tmp_path / "afile")
    with pytest.raises(InpaintscopeError, match="afile, which is a file, not a folder"):
        det.save(tmp_path / "afile" / "sub")
    if Path("/sys/kernel").is_dir():  # Linux: nothing can be created there, not even by root
        with pytest.raises(InpaintscopeError, match="cannot write into /sys/x"):
            det.save("/sys/x")


def test_default_model_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(loader_mod, "DEFAULT_MODEL", tmp_path / "weights" / "default.safetensors")
    monkeypatch.setattr(loader_mod, "WEIGHTS_DIR", tmp_path / "weights")
    for spec in (None, "default"):
        with pytest.raises(MissingWeightsError, match="default model is not installed"):
            detect(np.zeros((8, 8, 3), np.uint8), model=spec)
    assert loader_mod.DEFAULT_MODEL.name == "default.safetensors"


def test_model_names_mean_shipped_weights(tiny_name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    weights = tmp_path / "weights"
    monkeypatch.setattr(loader_mod, "WEIGHTS_DIR", weights)
    monkeypatch.setattr(loader_mod, "DEFAULT_MODEL", weights / "default.safetensors")
    with pytest.raises(MissingWeightsError, match="known architecture but no trained weights"):
        load_model(tiny_name)
    with pytest.raises(InpaintscopeError, match="neither a checkpoint file nor a shipped model"):
        load_model("no_such_model")
    with pytest.raises(MissingWeightsError, match="checkpoint not found"):
        load_model(str(tmp_path / "missing.safetensors"))
    # once weights of that name ship, the name loads them
    make_checkpoint(weights / f"{tiny_name}.safetensors")
    make_checkpoint(weights / "default.safetensors")
    assert load_model(tiny_name).label.startswith(f"{tiny_name}:{tiny_name}.safetensors@")
    assert load_model(None).label.startswith(f"{tiny_name}:default.safetensors@")


def test_loader_cache(bright_ckpt: Path, tmp_path: Path, tiny_name: str) -> None:
    clear_model_cache()
    a = load_model(bright_ckpt, device="cpu")
    assert load_model(str(bright_ckpt), device="cpu") is a  # same file, same device: loaded once
    ck = make_checkpoint(tmp_path / "c.safetensors")
    b = load_model(ck)
    os.utime(ck, ns=(time.time_ns(), time.time_ns() + 10**9))  # the file changed: reload
    assert load_model(ck) is not b


def test_detector_instance_and_errors(tiny_name: str) -> None:
    torch.manual_seed(0)
    model = TinyDetector().train()
    d = detect(np.zeros((16, 16, 3), np.uint8), model=model)
    assert not model.training and d.model == "TinyDetector"
    with pytest.raises(InpaintscopeError, match="not an inpaintscope Detector"):
        detect(np.zeros((16, 16, 3), np.uint8), model=torch.nn.Conv2d(3, 1, 1))
    with pytest.raises(InpaintscopeError, match="model must be"):
        load_model(3.5)
    with pytest.raises(InpaintscopeError, match="unknown device"):
        load_model(model, device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InpaintscopeError, match="CUDA is not available"):
            load_model(model, device="cuda")


@pytest.mark.skipif("iid_net" not in MODELS, reason="iid_net is not registered in this build")
def test_official_pth_goes_to_iid_net(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model("iid_net", bayar_mode="official")
    pth = tmp_path / "IID_weights.pth"
    # official checkpoints are DataParallel state dicts: every key carries "module."
    torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, pth)
    loaded = load_model(pth)
    assert loaded.label.startswith("iid_net:IID_weights.pth@")
    assert getattr(loaded.detector, "bayar_mode", "official") == "official"
    d = detect(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8), model=pth)
    assert d.heatmap.shape == (64, 64) and 0.0 <= d.score <= 1.0
    # a file that is neither safetensors nor a torch state dict says so in one line
    junk = tmp_path / "junk.pth"
    junk.write_text("not weights")
    with pytest.raises(InpaintscopeError, match="cannot load as a torch state dict"):
        load_model(junk)


@pytest.mark.parametrize("name", [n for n in ("scope_tiny",) if n in MODELS])
def test_scope_checkpoint_runs(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model(name)
    ck = save_checkpoint(tmp_path / f"{name}.safetensors", model.state_dict(), {"model": name, "kwargs": {}})
    img = np.random.default_rng(0).integers(0, 256, (72, 88, 3), dtype=np.uint8)
    d = detect(img, model=ck)
    assert d.heatmap.shape == (72, 88) and d.mask.shape == (72, 88)
    assert 0.0 <= d.score <= 1.0 and math.isfinite(d.score)


def test_detection_record_schema(bright_ckpt: Path) -> None:
    from inpaintscope.detection import RECORD_KEYS, InputFingerprint, detection_record

    d = detect(square_image(64, box=(8, 8, 40, 24)), model=bright_ckpt, pixel_threshold=0.4)
    fp = InputFingerprint.of(b"abc")
    rec = detection_record(
        "dir/x.png",
        d,
        outputs={"mask": "dir/x.png.mask.png"},
        output_sha256={"mask": "00"},
        input_fingerprint=fp,
        seconds=1.23456,
    )
    assert tuple(rec) == RECORD_KEYS
    assert rec["status"] == "ok" and rec["error"] is None and rec["decision"] is True
    assert (rec["pixel_threshold"], rec["image_threshold"]) == (0.4, 0.5) and rec["seconds"] == 1.2346
    assert rec["regions"][0]["area"] == 32 * 16 and rec["regions_below_image_threshold"] == []
    assert rec["mask"] == "dir/x.png.mask.png" and rec["overlay"] is None and rec["output_sha256"] == {"mask": "00"}
    assert (rec["input_size"], rec["input_mtime_ns"]) == (3, None)
    assert rec["input_sha256"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    json.dumps(rec, allow_nan=False)
    err = detection_record(
        os.fsdecode(b"caf\xe9.png"), error="broken\nin two lines", model="m", pixel_threshold=0.5, image_threshold=0.5
    )
    assert err["file"] == "caf\\xe9.png" and err["error"] == "broken in two lines" and err["score"] is None
    err["file"].encode("utf-8")
    with pytest.raises(ValueError, match="exactly one"):
        detection_record("x", d, error="both")
    d.score = float("nan")
    with pytest.raises(ValueError, match="finite"):
        detection_record("x", d)


def test_detection_record_wants_a_name_not_the_image(bright_ckpt: Path) -> None:
    from inpaintscope.detection import detection_record

    image = square_image(64, box=(8, 8, 40, 24))
    d = detect(image, model=bright_ckpt)
    with pytest.raises(InpaintscopeError, match="file must be the image's name or path .* got a ndarray"):
        detection_record(image, d)
    assert detection_record("image", d)["file"] == "image"


def test_output_names_depend_on_the_path_alone(tmp_path: Path) -> None:
    from pathlib import PurePosixPath

    from inpaintscope.detection.outputs import output_base, output_paths

    assert output_base("photos/a.jpg", cwd=tmp_path) == PurePosixPath("photos/a.jpg")
    assert output_base(tmp_path / "photos" / "a.jpg", cwd=tmp_path) == PurePosixPath("photos/a.jpg")
    assert output_base("/data/x/a.jpg", cwd=tmp_path) == PurePosixPath("data/x/a.jpg")
    assert output_base("../up/a.jpg", cwd=tmp_path / "w") == PurePosixPath(*(tmp_path / "up" / "a.jpg").parts[1:])
    assert output_base(None) == PurePosixPath("stdin")
    assert output_base(os.fsdecode(b"in/caf\xe9.png"), cwd=tmp_path) == PurePosixPath("in/caf\\xe9.png")
    assert output_paths(PurePosixPath("in/a.png"), ("mask", "overlay")) == {
        "mask": PurePosixPath("in/a.png.mask.png"),
        "overlay": PurePosixPath("in/a.png.overlay.png"),
    }


def test_overlay_draws_boxes_only_for_flagged_images(bright_ckpt: Path) -> None:
    from inpaintscope.detection.render import _BOX_FLAGGED_RGB, _CAPTION_CLEAN_RGB, _CAPTION_FLAGGED_RGB

    img = np.full((64, 64, 3), 20, np.uint8)
    img[10:40, 10:40] = 100  # probability just under 0.5: a faint area
    clean = detect(img, model=bright_ckpt, pixel_threshold=0.3)
    assert clean.decision is False and clean.regions == [] and len(clean.regions_below_image_threshold) == 1
    flagged = detect(img, model=bright_ckpt, pixel_threshold=0.3, image_threshold=0.4)
    assert flagged.decision is True and len(flagged.regions) == 1
    red = np.array(_BOX_FLAGGED_RGB, np.uint8)
    top = caption_height(64 + colour_bar_width(64), 64)
    over_clean, over_flagged = clean.picture("overlay"), flagged.picture("overlay")
    assert not (over_clean == red).all(axis=-1).any()  # candidates of a clean image are not drawn
    assert (over_flagged[top:] == red).all(axis=-1).sum() >= 4 * 29  # the box's four sides
    # the caption says the decision and the score, on a band whose colour says it too
    assert over_clean[1, -1].tolist() == list(_CAPTION_CLEAN_RGB)
    assert over_flagged[1, -1].tolist() == list(_CAPTION_FLAGGED_RGB)
    assert clean.caption().startswith(f"CLEAN  score {clean.score:.3f} < 0.5")
    assert flagged.caption().startswith(f"INPAINTED  score {flagged.score:.3f} >= 0.4")
