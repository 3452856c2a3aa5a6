"""Detection cues: the copy (self-similarity) cue and the autoencoder reconstruction-ratio cue."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inpaintscope.models.cues.autoencoder import reconstruction_ratio
from inpaintscope.models.cues.copy import copy_cue, descriptors
from inpaintscope.scoring import inpainted


def _texture(h: int = 160, w: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # smooth random texture: noise blurred at two scales, so patches are distinctive but not white
    import cv2

    noise = rng.normal(0, 1, (h, w, 3)).astype(np.float32)
    tex = cv2.GaussianBlur(noise, (0, 0), 1.5) * 60 + cv2.GaussianBlur(noise, (0, 0), 6) * 200 + 128
    return np.clip(tex, 0, 255).astype(np.uint8)


def _tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 255


@pytest.mark.parametrize("offset", [(60, 70), (61, 73)])  # even and odd offsets
def test_copy_cue_marks_both_ends_of_a_copied_region(offset: tuple[int, int]) -> None:
    img = _texture()
    dy, dx = offset
    img[80:120, 100:140] = img[80 - dy : 120 - dy, 100 - dx : 140 - dx]
    maps = copy_cue(_tensor(img))[0].numpy()
    assert maps.shape == (2, *img.shape[:2])
    coherence = maps[1]
    target = coherence[86:114, 106:134].mean()
    source = coherence[86 - dy : 114 - dy, 106 - dx : 134 - dx].mean()
    elsewhere = np.delete(coherence, np.s_[70:130], axis=0)[:, :].mean()
    assert target > 0.6 and source > 0.6, (target, source)
    assert elsewhere < 0.35, elsewhere
    assert maps[0][86:114, 106:134].mean() > maps[0].mean()  # exact copies match strongly


def test_copy_cue_is_a_pure_function_and_handles_tiny_images() -> None:
    x = _tensor(_texture(64, 72))
    torch.testing.assert_close(copy_cue(x), copy_cue(x))
    batch = torch.cat([x, x.flip(-1)])
    torch.testing.assert_close(copy_cue(batch)[1:], copy_cue(x.flip(-1)))  # images searched independently
    tiny = torch.rand(1, 3, 20, 20)
    assert float(copy_cue(tiny).abs().sum()) == 0.0


def test_dct_descriptors_ignore_brightness_and_measure_contrast() -> None:
    g = torch.from_numpy(_texture(40, 40)[..., 0].astype(np.float32))
    d1, c1 = descriptors(g)
    d2, c2 = descriptors(g + 17.0)
    torch.testing.assert_close(d1, d2, atol=1e-3, rtol=0)  # AC coefficients only
    torch.testing.assert_close(c1, c2, atol=1e-2, rtol=1e-4)
    flat_d, flat_c = descriptors(torch.full((40, 40), 90.0))
    assert float(flat_d.abs().max()) < 1e-3 and float(flat_c.max()) < 1e-3


def _lattice(x: torch.Tensor) -> torch.Tensor:
    """An idempotent 'autoencoder': AE(AE(x)) = AE(x)."""
    return torch.round(x * 4) / 4


def test_reconstruction_ratio_hand_computed_on_an_idempotent_autoencoder() -> None:
    torch.manual_seed(0)
    x = torch.rand(1, 3, 64, 64)
    x[..., :, 32:] = _lattice(x[..., :, 32:])  # the right half already is "decoder output"
    ratio = reconstruction_ratio(x, _lattice, window=8)[0, 0]
    # left: e2 = 0 and e1 > 0 → log(eps / e1) ≪ 0; right (away from the seam): e1 = e2 = 0 → log(1) = 0
    assert float(ratio[:, 40:].abs().max()) < 1e-6
    assert float(ratio[:, :24].max()) < -5.0
    ident = reconstruction_ratio(x, lambda t: t, window=8)
    assert float(ident.abs().max()) < 1e-6


def test_warm_start_grows_scope_fast_into_scope_cue_without_changing_its_outputs(tmp_path) -> None:
    from inpaintscope.models import create_model, save_checkpoint
    from inpaintscope.train.warm_start import warm_start

    torch.manual_seed(0)
    base = create_model("scope_fast").eval()
    path = save_checkpoint(tmp_path / "base.safetensors", base.state_dict(), {"model": "scope_fast", "kwargs": {}})
    grown = create_model("scope_cue").eval()
    report = warm_start(grown, path)
    assert report["widened"] == ["stem.conv.weight"] and not report["fresh"]
    x = torch.rand(1, 3, 80, 96)
    with torch.no_grad():
        a, b = base(x), grown(x)
    torch.testing.assert_close(a.mask_logits, b.mask_logits)
    torch.testing.assert_close(a.image_logit, b.image_logit)


def test_cached_cue_maps_are_cropped_flipped_and_batched_with_their_image() -> None:
    from inpaintscope.data.batching import collate_samples
    from inpaintscope.train.augment import AugmentedDataset
    from inpaintscope.train.config import AugmentConfig

    yy, xx = torch.meshgrid(torch.arange(40.0), torch.arange(56.0), indexing="ij")
    image = torch.stack([yy / 40, xx / 56, (yy + xx) / 96])
    item = {
        "image": image,
        "mask": torch.zeros(1, 40, 56),
        "label": 0,
        "meta": {},
        "cues": torch.stack([yy, xx]),
    }  # cue planes that record where each pixel came from
    data = AugmentedDataset([item], AugmentConfig(crop=24, hflip=True, vflip=True, rot90=True), seed=3)
    for epoch in range(4):
        data.set_epoch(epoch)
        out = data[0]
        assert out["cues"].shape == (2, 24, 24) and out["image"].shape == (3, 24, 24)
        torch.testing.assert_close(out["cues"][0] / 40, out["image"][0])  # the same pixels, the same place
        torch.testing.assert_close(out["cues"][1] / 56, out["image"][1])
    batch = collate_samples([data[0], data[0]])
    assert batch["cues"].shape == (2, 2, 24, 24)


def test_fit_logistic_recovers_known_weights_and_regenerated_threshold_hand_values() -> None:
    from inpaintscope.evaluate.fusion import fit_logistic, regenerated_threshold

    rng = np.random.default_rng(0)
    x = rng.normal(size=(20000, 2))
    p = 1 / (1 + np.exp(-(1.5 * x[:, 0] - 2.0 * x[:, 1] + 0.25)))
    y = (rng.random(20000) < p).astype(float)
    w = fit_logistic(x, y, balanced=False, l2=0.0)
    np.testing.assert_allclose(w, [1.5, -2.0, 0.25], atol=0.1)
    assert regenerated_threshold([-0.6, -0.5, -0.4], [-0.2, -0.1]) == pytest.approx(-0.3)  # separated: midpoint
    # overlapping: the candidate with the best balanced accuracy (0.75 at -0.3)
    assert regenerated_threshold([-0.6, -0.3], [-0.3, -0.1]) == pytest.approx(-0.3)


def test_autoencoder_fusion_pixel_forms_hand_computed() -> None:
    from inpaintscope.errors import InpaintscopeError
    from inpaintscope.models.cues.autoencoder import AutoencoderFusion

    logits = np.array([[4.0, -6.0], [-6.0, -1.0]], np.float32)
    ratio = np.array([[-0.5, -0.1], [-0.6, -0.2]], np.float32)
    image = (1.0, 0.0, 0.0, 0.0)
    # max: the cue 10·ratio + 2 = [[-3, 1], [-4, 0]] joins the detector's logits pixel by pixel
    as_max = AutoencoderFusion(pixel=(1.0, 10.0, 2.0), image=image, regenerated_threshold=0.0, pixel_form="max")
    fused, *_ = as_max.fuse(logits, 2.5, ratio)
    np.testing.assert_allclose(fused, [[4.0, 1.0], [-4.0, 0.0]])
    # linear: 0.5·logit + 10·ratio + 2 = [[-1, -2], [-7, -0.5]]: the detector's hit at (0, 0) is outvoted
    fused, image_logit, _, _ = AutoencoderFusion(pixel=(0.5, 10.0, 2.0), image=image, regenerated_threshold=0.0).fuse(
        logits, 2.5, ratio
    )
    np.testing.assert_allclose(fused, [[-1.0, -2.0], [-7.0, -0.5]])
    assert image_logit == pytest.approx(2.5)
    # a fusion written before the form was recorded reads as linear; an unknown form is refused
    record = {"pixel": [1, 2, 3], "image": [1, 2, 3, 4], "regenerated_threshold": -0.5}
    assert AutoencoderFusion.from_dict(record).pixel_form == "linear"
    assert AutoencoderFusion.from_dict({**record, "pixel_form": "max"}).pixel_form == "max"
    with pytest.raises(InpaintscopeError, match="unknown pixel_form 'noisy_or'"):
        AutoencoderFusion.from_dict({**record, "pixel_form": "noisy_or"})


def test_fit_cue_logit_caps_the_area_the_cue_adds_on_authentic_pixels() -> None:
    from inpaintscope.errors import InpaintscopeError
    from inpaintscope.evaluate.fusion import fit_cue_logit

    # 1000 authentic pixels the detector leaves clean (ratio -1 … -0.5), 50 authentic pixels it
    # already flags (ratio -0.5: not the cue's doing, so not counted; counted, their tie at the
    # top would leave nothing flagged), 1000 decoded pixels (-0.7 … 0)
    quiet = np.linspace(-1.0, -0.5, 1000)
    ratio = np.concatenate([quiet, np.full(50, -0.5), np.linspace(-0.7, 0.0, 1000)])
    logits = np.concatenate([np.full(1000, -5.0), np.full(50, 3.0), np.full(1000, -5.0)])
    truth = np.concatenate([np.zeros(1050, bool), np.ones(1000, bool)])
    b, c, added = fit_cue_logit(logits, ratio, truth, max_added_area=0.005)
    # the plain logistic boundary lies inside the authentic range; the cap moves it up to the
    # 99.5th percentile of the quiet ratios: exactly the top 5 of 1000 stay flagged
    assert b > 0 and added == pytest.approx(0.005)
    assert np.sum(b * quiet + c >= 0) == 5
    # a loose cap leaves the logistic fit alone
    b2, c2, added2 = fit_cue_logit(logits, ratio, truth, max_added_area=0.9)
    assert (b2, c2) == pytest.approx((b, c2)) and c2 > c and added2 < 0.9
    with pytest.raises(InpaintscopeError, match="does not rise"):
        fit_cue_logit(logits, -ratio, truth)
    # flat, clipped areas: most quiet pixels share the ratio 0, where the cap's quantile lands.
    # detect flags probability >= 0.5, so the boundary must leave them below 0.5, not on it
    flat = np.concatenate([np.linspace(-1.0, -0.01, 600), np.zeros(400), np.linspace(-0.5, 1.0, 1000)])
    flat_truth = np.concatenate([np.zeros(1000, bool), np.ones(1000, bool)])
    b3, c3, added3 = fit_cue_logit(np.full(2000, -5.0), flat, flat_truth, max_added_area=0.005)
    probability = torch.sigmoid(torch.tensor(b3 * flat[:1000] + c3, dtype=torch.float32))
    assert added3 == 0.0 and not inpainted(probability.numpy()).any()
    assert inpainted(torch.sigmoid(torch.tensor(b3 * 0.01 + c3)).item())  # just above 0 is the cue's


def test_detect_with_the_autoencoder_cue_uses_the_fusion_stored_in_the_checkpoint(tmp_path) -> None:
    import inpaintscope
    from inpaintscope.errors import InpaintscopeError
    from inpaintscope.inpaint.autoencoder import load_autoencoder
    from inpaintscope.models import create_model, save_checkpoint
    from inpaintscope.models.cues.autoencoder import AutoencoderFusion, ratio_map

    torch.manual_seed(0)
    model = create_model("scope_tiny")
    plain = save_checkpoint(tmp_path / "plain.safetensors", model.state_dict(), {"model": "scope_tiny", "kwargs": {}})
    fusion = AutoencoderFusion(pixel=(0.0, 1.0, 0.0), image=(0.0, 0.0, 1.0, 0.0), regenerated_threshold=-0.3)
    cued = save_checkpoint(
        tmp_path / "cued.safetensors",
        model.state_dict(),
        {"model": "scope_tiny", "kwargs": {}, "autoencoder_cue": {"fusion": fusion.to_dict()}},
    )
    img = _texture(64, 80)
    with pytest.raises(InpaintscopeError, match="no fitted autoencoder-cue fusion"):
        inpaintscope.detect(img, model=plain, cues=["autoencoder"])
    det = inpaintscope.detect(img, model=cued, cues=["autoencoder"])
    ratio = ratio_map(img, load_autoencoder("taef2"))
    # pixel logits = the ratio map itself, image logit = its median (hand-set fusion)
    np.testing.assert_allclose(det.heatmap, 1 / (1 + np.exp(-ratio)), atol=1e-5)
    assert det.score == pytest.approx(1 / (1 + np.exp(-np.median(ratio))), abs=1e-5)
    assert det.cues == ("autoencoder",) and det.regenerated == bool(np.median(ratio) >= -0.3)
    assert inpaintscope.detect(img, model=cued).regenerated is None
    with pytest.raises(InpaintscopeError, match="unknown cue"):
        inpaintscope.detect(img, model=cued, cues=["nope"])


def test_attach_autoencoder_cue_writes_a_checkpoint_detect_can_use(tmp_path) -> None:
    import inpaintscope
    from inpaintscope.data.builder import BuildConfig, build_dataset
    from inpaintscope.errors import InpaintscopeError
    from inpaintscope.evaluate.fusion import attach_autoencoder_cue
    from inpaintscope.io import write_image
    from inpaintscope.models import create_model, read_checkpoint_info, save_checkpoint

    photos = tmp_path / "photos"
    import skimage.data

    # crops of real photos: on the smooth synthetic texture the ratio has nothing to fit
    samples = (skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea(), skimage.data.rocket())
    for i, photo in enumerate(samples):
        write_image(photos / f"p{i}.png", photo[100:196, 100:196])
    cfg = BuildConfig(
        masks=("rectangle",),
        inpainters=("autoencoder",),
        modes=("inpainted", "realfake"),
        size=64,
        split="val=1.0",
        autoencoder="taef2",
        authentic=True,
        seed=1,
    )
    build_dataset([photos], tmp_path / "data", cfg, workers=1, progress=False)
    torch.manual_seed(0)
    model = create_model("scope_tiny")
    src = save_checkpoint(tmp_path / "plain.safetensors", model.state_dict(), {"model": "scope_tiny", "kwargs": {}})
    with pytest.raises(InpaintscopeError, match="must differ"):
        attach_autoencoder_cue(src, src, data=[str(tmp_path / "data")])
    out = tmp_path / "cued.safetensors"
    record = attach_autoencoder_cue(src, out, data=[str(tmp_path / "data")], progress=False)
    # 4 authentic + 4 realfake + 4 whole re-decoded frames; the pixel fit skips the re-decoded ones
    assert (record["n_images"], record["n_regenerated"]) == (12, 4)
    info = read_checkpoint_info(out)
    assert info["autoencoder_cue"]["fusion"]["autoencoder"] == "taef2" and info["model"] == "scope_tiny"
    # the max form: the detector's logit passes unchanged, and the cue alone flags at most
    # max_added_area (0.5 %) of the authentic pixels sampled where the detector is quiet
    assert info["autoencoder_cue"]["fusion"]["pixel_form"] == "max"
    assert info["autoencoder_cue"]["fusion"]["pixel"][0] == 1.0 and info["autoencoder_cue"]["fusion"]["pixel"][1] > 0
    added = info["autoencoder_cue"]["cue_added_authentic_area"]
    assert added is None or added <= 0.005
    det = inpaintscope.detect(_texture(64, 64, seed=9), model=out, cues=["autoencoder"])
    assert det.regenerated is not None and 0.0 <= det.score <= 1.0
    # the command line does the same: calibrate --cues autoencoder
    from click.testing import CliRunner

    from inpaintscope.cli.main import cli

    res = CliRunner().invoke(
        cli,
        [
            "calibrate",
            str(src),
            "--cues",
            "autoencoder",
            "--data",
            str(tmp_path / "data"),
            "--limit",
            "6",
            "-o",
            str(tmp_path / "cli.safetensors"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "fitted on 6 images" in res.output
    assert read_checkpoint_info(tmp_path / "cli.safetensors")["autoencoder_cue"]["n_images"] == 6
