"""Inpainters, compositing modes, TAEF2 autoencoder and post-processing."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
import torch

from inpaintscope.errors import InpaintscopeError, MissingWeightsError, ShapeError
from inpaintscope.inpaint import INPAINTERS, create_inpainter
from inpaintscope.inpaint.autoencoder import (
    LatentAutoencoder,
    build_decoder,
    build_encoder,
    load_autoencoder,
    psnr,
)
from inpaintscope.inpaint.base import Inpainter
from inpaintscope.inpaint.compose import MODES, blend, make_composites
from inpaintscope.inpaint.postprocess import PostProcess, PostProcessSpecError, parse_postprocess
from inpaintscope.io import write_image
from inpaintscope.tiling import tile_starts

MAGENTA = np.array([255, 0, 255], np.uint8)


def _scene(h: int = 64, w: int = 72) -> tuple[np.ndarray, np.ndarray]:
    """Smooth gradient + mild deterministic texture; the hole is painted magenta (a colour found
    nowhere else), so a fill that did nothing is obvious."""
    yy, xx = np.mgrid[:h, :w]
    rng = np.random.default_rng(0)
    img = np.stack([40 + 2 * xx, 60 + 2 * yy, 120 + 20 * np.sin(xx / 5.0) * np.cos(yy / 7.0)], -1)
    img = np.clip(img + rng.normal(0, 4, img.shape), 0, 230).astype(np.uint8)
    mask = np.zeros((h, w), bool)
    mask[20:40, 26:50] = True
    mask[45:50, 10:14] = True
    img[mask] = MAGENTA
    return img, mask


def _make(name: str, request: pytest.FixtureRequest) -> Inpainter:
    if name == "autoencoder":
        root = request.getfixturevalue("shared_data")  # skips when ../shared/data is absent
        if not (root / "weights" / "taef2_encoder.pth").is_file():
            pytest.skip("TAEF2 weights in ../shared/data/weights are not available")
        return create_inpainter(name, weights=root / "weights")
    if name == "diffusers":
        request.getfixturevalue("torch_one_thread")
        # a tiny random pipeline (skips without the diffusers extra); 2 steps keep it fast
        return create_inpainter(name, model=request.getfixturevalue("tiny_sd_pipeline"), steps=2)
    if name == "splice":  # cuts its fill from other photos: one donor, far from the placeholder colour
        donors = request.getfixturevalue("tmp_path") / "donors"
        donors.mkdir()
        yy, xx = np.mgrid[:80, :90]
        write_image(donors / "donor.png", np.stack([60 + xx, 120 + yy // 2, np.full_like(xx, 80)], -1).astype(np.uint8))
        return create_inpainter(name, donors=donors)
    return create_inpainter(name)


# --------------------------------------------------------------------------- every inpainter


@pytest.mark.parametrize("name", INPAINTERS.names())
def test_inpainter_contract(name: str, request: pytest.FixtureRequest) -> None:
    img, mask = _scene()
    inp = _make(name, request)
    out = inp.inpaint(img, mask, rng=np.random.default_rng(3))
    assert out.shape == img.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[~mask], img[~mask])  # bit-identical outside the hole
    # the magenta placeholder is gone: every filled pixel is far from magenta
    dist = np.abs(out[mask].astype(int) - MAGENTA).sum(axis=1)
    assert dist.min() > 100, f"{name} left hole pixels near the placeholder colour"
    again = inp.inpaint(img, mask, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(out, again)
    raw = inp.raw(img, mask, rng=np.random.default_rng(3))
    assert raw.shape == img.shape and raw.dtype == np.uint8
    if not inp.touches_unmasked:
        np.testing.assert_array_equal(raw[~mask], img[~mask])
    assert inp.describe()["name"] == name


def test_registered_names() -> None:
    assert {"telea", "ns", "biharmonic", "patchmatch", "autoencoder"} <= set(INPAINTERS.names())


def test_bad_options() -> None:
    with pytest.raises(InpaintscopeError, match="radius"):
        create_inpainter("telea", radius=-1)
    with pytest.raises(InpaintscopeError, match="patch_size"):
        create_inpainter("patchmatch", patch_size=4)
    with pytest.raises(InpaintscopeError, match="weights="):
        create_inpainter("autoencoder")
    with pytest.raises(MissingWeightsError, match="never downloads"):
        create_inpainter("autoencoder", weights="/nonexistent/taef2")


def _checker_stripes(n: int = 128) -> np.ndarray:
    yy, xx = np.mgrid[:n, :n]
    tex = np.zeros((n, n, 3), np.uint8)
    tex[..., 0] = np.where(((yy // 8) + (xx // 8)) % 2 == 0, 200, 40)  # checkerboard, period 16
    tex[..., 1] = np.where((xx // 4) % 2 == 0, 180, 60)  # vertical stripes, period 8
    tex[..., 2] = 100
    return tex


def test_patchmatch_reproduces_periodic_texture() -> None:
    truth = _checker_stripes()
    mask = np.zeros(truth.shape[:2], bool)
    mask[40:88, 44:92] = True
    holed = truth.copy()
    holed[mask] = 0  # the inpainter must not be able to see the truth
    errs = {}
    for name in ("telea", "patchmatch"):
        out = create_inpainter(name).inpaint(holed, mask, rng=np.random.default_rng(0))
        errs[name] = float(np.abs(out.astype(float) - truth)[mask].mean())
    # Telea blurs the pattern away (~50 levels of error); an exemplar fill continues it.
    assert errs["telea"] > 30
    assert errs["patchmatch"] < 8
    assert errs["patchmatch"] < 0.15 * errs["telea"]


def test_patchmatch_depends_on_seed_only() -> None:
    img, mask = _scene()
    pm = create_inpainter("patchmatch")
    a = pm.inpaint(img, mask, rng=np.random.default_rng(1))
    b = pm.inpaint(img, mask, rng=np.random.default_rng(2))
    c = pm.inpaint(img, mask, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, b)  # random init differs, so some hole pixel differs


def test_patchmatch_tiny_image_falls_back() -> None:
    img = np.full((6, 6, 3), 90, np.uint8)
    mask = np.zeros((6, 6), bool)
    mask[2:4, 2:4] = True  # no fully-known 7×7 patch exists: Telea fallback, still a valid fill
    out = create_inpainter("patchmatch").inpaint(img, mask, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(out, create_inpainter("telea").inpaint(img, mask, rng=np.random.default_rng(0)))
    assert np.abs(out.astype(int) - 90).max() <= 1


def _ramp(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w].astype(float)
    return np.stack([20 + xx, 30 + yy, 40 + 0.5 * (xx + yy)], -1).round().astype(np.uint8)


def test_biharmonic_full_and_reduced_scale() -> None:
    truth = _ramp(96, 96)  # linear functions are biharmonic: the exact fill is the ramp itself
    mask = np.zeros((96, 96), bool)
    mask[28:68, 24:70] = True  # 1840 hole pixels
    holed = truth.copy()
    holed[mask] = 0
    full = create_inpainter("biharmonic")
    out = full.inpaint(holed, mask, rng=np.random.default_rng(0))
    assert full.last_scale == 1.0
    assert np.abs(out.astype(int) - truth)[mask].max() <= 1
    guarded = create_inpainter("biharmonic", max_hole_pixels=200)
    out2 = guarded.inpaint(holed, mask, rng=np.random.default_rng(0))
    assert guarded.last_scale == pytest.approx((200 / 1840) ** 0.5)
    np.testing.assert_array_equal(out2[~mask], holed[~mask])
    # the smooth fill survives the down/up-scaling up to a few grey levels
    assert np.abs(out2.astype(int) - truth)[mask].mean() < 2.0


# --------------------------------------------------------------------------- compositing


def test_blend_hand_computed() -> None:
    base = np.full((1, 4, 3), 10, np.uint8)
    fill = np.full((1, 4, 3), 200, np.uint8)
    soft = np.array([[0, 1, 128, 255]], np.uint8)
    # round(200·s/255 + 10·(255−s)/255): s=1 → 10.75 → 11; s=128 → 105.37 → 105
    np.testing.assert_array_equal(blend(base, fill, soft)[0, :, 0], [10, 11, 105, 200])
    # black→white blend reproduces the alpha itself, for every alpha value
    s = np.arange(256, dtype=np.uint8)[None]
    out = blend(np.zeros((1, 256, 3), np.uint8), np.full((1, 256, 3), 255, np.uint8), s)
    np.testing.assert_array_equal(out[0, :, 1], np.arange(256))
    with pytest.raises(ShapeError):
        blend(base, fill, soft.astype(np.float32))


class _Counting(Inpainter):
    name = "counting-telea"

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self._telea = create_inpainter("telea")

    def _fill(self, image, mask, rng):  # type: ignore[override]
        self.calls += 1
        out = self._telea._fill(image, mask, rng)
        out[~mask] = image[~mask] // 2 + 1  # touch unmasked pixels like an SD pipeline would
        return out


def _soft_mask(h: int, w: int) -> np.ndarray:
    soft = np.zeros((h, w), np.uint8)
    soft[14:50, 18:54] = 90  # blurred band
    soft[20:44, 24:48] = 255  # core
    soft[16, 30] = 1
    return soft


def test_composites() -> None:
    img, _ = _scene()
    soft = _soft_mask(*img.shape[:2])
    inp = _Counting()
    ae = LatentAutoencoder.random_init(seed=0)
    comps = make_composites(img, soft, MODES, inpainter=inp, autoencoder=ae, rng=np.random.default_rng(0))
    assert list(comps) == list(MODES)
    assert inp.calls == 1  # one fill serves 'inpainted' and 'realfake'
    raw = inp.raw(img, soft > 0, rng=np.random.default_rng(0))
    recon = ae.roundtrip(img)
    np.testing.assert_array_equal(comps["inpainted"], raw)
    for mode, fill in (("realfake", raw), ("fakefake", recon)):
        c = comps[mode]
        np.testing.assert_array_equal(c[soft == 0], img[soft == 0])
        np.testing.assert_array_equal(c[soft == 255], fill[soft == 255])
        np.testing.assert_array_equal(c, blend(img, fill, soft))
    assert not np.array_equal(comps["inpainted"][soft == 0], img[soft == 0])


def test_composite_errors() -> None:
    img, _ = _scene()
    soft = _soft_mask(*img.shape[:2])
    rng = np.random.default_rng(0)
    with pytest.raises(InpaintscopeError, match="TAEF2"):
        make_composites(img, soft, ("fakefake",), rng=rng)
    with pytest.raises(InpaintscopeError, match="need an inpainter"):
        make_composites(img, soft, ("realfake",), rng=rng)
    with pytest.raises(InpaintscopeError, match="unknown compositing mode"):
        make_composites(img, soft, ("photoshop",), inpainter=create_inpainter("telea"), rng=rng)
    with pytest.raises(ShapeError, match="resize"):
        make_composites(img, soft[:10], ("realfake",), inpainter=create_inpainter("telea"), rng=rng)


# --------------------------------------------------------------------------- TAEF2


def test_taef2_layout_and_strict_fp16_load(tmp_path) -> None:
    enc, dec = build_encoder(), build_decoder()
    ek, dk = set(enc.state_dict()), set(dec.state_dict())
    assert len(ek) == 79 and len(dk) == 79  # the published files hold 79 tensors each
    assert {"0.weight", "1.conv.0.weight", "2.weight", "11.pool.1.weight", "14.bias"} <= ek
    assert "2.bias" not in ek and "1.skip.weight" not in ek  # strided convs: no bias; 64→64: identity skip
    assert {"1.weight", "3.pool.0.weight", "7.weight", "19.weight", "19.bias"} <= dk
    n_enc = sum(p.numel() for p in enc.parameters())
    assert 1.3e6 < n_enc < 1.4e6
    # save fp16 state dicts the way they are published, load them back strictly as float32
    for mod, fname in ((enc, "taef2_encoder.pth"), (dec, "taef2_decoder.pth")):
        torch.save({k: v.half() for k, v in mod.state_dict().items()}, tmp_path / fname)
    ae = LatentAutoencoder.from_dir(tmp_path)
    w = ae.encoder.state_dict()["0.weight"]
    assert w.dtype == torch.float32
    torch.testing.assert_close(w, enc.state_dict()["0.weight"].half().float())
    (tmp_path / "taef2_decoder.pth").unlink()
    with pytest.raises(MissingWeightsError, match="taef2_decoder.pth"):
        LatentAutoencoder.from_dir(tmp_path)
    torch.save({"bogus": torch.zeros(1)}, tmp_path / "taef2_decoder.pth")
    with pytest.raises(InpaintscopeError, match="TAEF2 layout"):
        LatentAutoencoder.from_dir(tmp_path)


def test_random_init_roundtrip_odd_shapes() -> None:
    ae = LatentAutoencoder.random_init(seed=1)
    rng = np.random.default_rng(0)
    for shape in ((37, 53, 3), (8, 8, 3), (5, 3, 3)):
        img = rng.integers(0, 256, shape, dtype=np.uint8)
        out = ae.roundtrip(img)
        assert out.shape == shape and out.dtype == np.uint8
        np.testing.assert_array_equal(out, ae.roundtrip(img))
    with pytest.raises(ShapeError):
        ae.roundtrip(np.zeros((16, 16), np.uint8))


def test_tiled_roundtrip_uses_the_detectors_tiler() -> None:
    # the autoencoder tiles with inpaintscope.tiling, as detect does: a 70×130 image in 64-px tiles
    # overlapping by 16 has rows [0, 64), [48, 70) and columns [0, 64), [48, 112), [96, 130)
    ae = LatentAutoencoder.random_init(tile=64, overlap=16)
    assert tile_starts(70, 64, 16) == ([0, 48], 16) and tile_starts(130, 64, 16) == ([0, 48, 96], 16)
    img = np.random.default_rng(0).integers(0, 256, (70, 130, 3), dtype=np.uint8)
    out = ae.roundtrip(img)
    assert out.shape == img.shape and out.dtype == np.uint8
    # where one tile alone covers the image (blend weight exactly 1) the result is that tile's own round trip
    np.testing.assert_array_equal(out[:48, :48], ae.roundtrip(img[:64, :64])[:48, :48])
    np.testing.assert_array_equal(out[64:, 112:], ae.roundtrip(img[48:, 96:])[16:, 16:])
    with pytest.raises(InpaintscopeError, match="multiple of 8"):
        LatentAutoencoder.random_init(tile=60)
    with pytest.raises(InpaintscopeError, match="at most half"):
        LatentAutoencoder.random_init(tile=64, overlap=40)


def test_taef2_shared_weights_psnr(shared_data) -> None:
    weights = shared_data / "weights"
    if not (weights / "taef2_encoder.pth").is_file():
        pytest.skip("TAEF2 weights not in ../shared/data/weights")
    from inpaintscope.io import read_image

    photo = read_image(shared_data / "photos" / "bsds500" / "test_100007.jpg")[80:208, 160:288]
    ae = load_autoencoder(weights)
    assert load_autoencoder(weights) is ae  # cached per path
    value = psnr(photo, ae.roundtrip(photo))
    assert 32.0 < value < 40.0  # measured 35.2 dB on this crop; the docs say ~32–33 dB on photos
    tiled = LatentAutoencoder(ae.encoder, ae.decoder, tile=64, overlap=8).roundtrip(photo[:96, :100])
    assert psnr(ae.roundtrip(photo[:96, :100]), tiled) > 33.0  # seams are hidden


# --------------------------------------------------------------------------- post-processing


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("none", PostProcess()),
        ("jpeg:90", PostProcess("jpeg", 90)),
        ("JPG:75", PostProcess("jpeg", 75)),
        ("webp:80", PostProcess("webp", 80)),
        ("resize:0.5", PostProcess(resize=0.5)),
        ("jpeg:75+resize:0.5", PostProcess("jpeg", 75, 0.5)),
        (" resize:1.5 + webp:60 ", PostProcess("webp", 60, 1.5)),
        ("blur:1.5", PostProcess(blur=1.5)),
        ("noise:3+jpeg:90+sharpen:0.5", PostProcess("jpeg", 90, sharpen=0.5, noise=3.0)),
        ("resize:0.5+blur:2+noise:2", PostProcess(resize=0.5, blur=2.0, noise=2.0)),
    ],
)
def test_parse_postprocess(spec: str, expected: PostProcess) -> None:
    p = parse_postprocess(spec)
    assert p == expected
    assert parse_postprocess(p.spec()) == p


def test_postprocess_spec_round_trips_every_combination() -> None:
    """``spec()`` reads back as the same PostProcess for every combination of steps, also for
    values that ``%g`` would round (six significant digits); short values keep their ``%g`` form."""
    steps = {
        "format": (None, "jpeg", "webp"),
        "resize": (None, 0.5, 1.0, 1 / 3),
        "blur": (None, 1.5, 0.1 + 0.2),
        "sharpen": (None, 1.0, 2 / 3),
        "noise": (None, 3.0, 1e-7, 12.3456789),
    }
    for combo in itertools.product(*steps.values()):
        kwargs = dict(zip(steps, combo))
        p = PostProcess(quality=75 if kwargs["format"] else 90, **kwargs)
        assert parse_postprocess(p.spec()) == p, p
    assert PostProcess("jpeg", 75, 0.5, blur=1.5, noise=3).spec() == "jpeg:75+resize:0.5+blur:1.5+noise:3"


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "jpeg",
        "jpeg:0",
        "jpeg:101",
        "jpeg:abc",
        "png:9",
        "resize:-1",
        "resize:x",
        "resize",
        "jpeg:70+webp:80",
        "resize:0.5+resize:2",
        "none+jpeg:9",
        "blur",
        "blur:0",
        "blur:21",
        "sharpen:-1",
        "noise:abc",
        "noise:nan",
        "blur:1+blur:2",
    ],
)
def test_parse_postprocess_errors(spec: str) -> None:
    with pytest.raises(PostProcessSpecError):
        parse_postprocess(spec)


def test_postprocess_validation() -> None:
    with pytest.raises(InpaintscopeError, match="format"):
        PostProcess(format="png")
    with pytest.raises(InpaintscopeError, match="quality"):
        PostProcess(format="jpeg", quality=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        PostProcess().quality = 5  # type: ignore[misc]
    with pytest.raises(InpaintscopeError, match="blur"):
        PostProcess(blur=0.0)
    with pytest.raises(InpaintscopeError, match="noise"):
        PostProcess(noise=True)  # type: ignore[arg-type]


def test_postprocess_filters_hand_computed() -> None:
    """Blur, sharpen and noise against values computed by hand; none of them touches the mask."""
    soft = np.zeros((33, 33), np.uint8)
    soft[:, :16] = 255
    flat = np.full((33, 33, 3), 77, np.uint8)
    for spec in ("blur:3", "sharpen:2"):  # a constant image is a fixed point of both
        out, m = parse_postprocess(spec).apply(flat, soft)
        np.testing.assert_array_equal(out, flat)
        np.testing.assert_array_equal(m, soft)
    # one bright pixel: sharpen gives v + A·(v − v·g0²), with g0 the centre tap of OpenCV's
    # σ = 1 kernel (9 taps for float images), normalised to sum 1
    k = np.arange(-4, 5)
    g0 = 1.0 / np.exp(-(k**2) / 2.0).sum()
    dot = np.zeros((33, 33, 3), np.uint8)
    dot[16, 16] = 100
    out, _ = PostProcess(sharpen=0.5).apply(dot, soft)
    assert out[16, 16, 0] == round(100 + 0.5 * (100 - 100 * g0**2))
    # blur spreads the pixel over its σ-neighbourhood: the centre keeps the 2-D centre weight
    # of a σ = 2 kernel (OpenCV: 2·round(4σ)+1 = 17 taps)
    k = np.arange(-8, 9)
    c0 = 1.0 / np.exp(-(k**2) / 8.0).sum()
    out, _ = PostProcess(blur=2.0).apply(dot * 2, soft)
    assert out[16, 16, 0] == round(200 * c0**2)
    # noise: the same seed, the same noise; its σ as asked; the mask untouched
    grey = np.full((256, 256, 3), 128, np.uint8)
    a, m = PostProcess(noise=4.0).apply(grey, np.zeros((256, 256), np.uint8), seed=5)
    b, _ = PostProcess(noise=4.0).apply(grey, np.zeros((256, 256), np.uint8), seed=5)
    c, _ = PostProcess(noise=4.0).apply(grey, np.zeros((256, 256), np.uint8), seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert abs(a.astype(float).std() - 4.0) < 0.1 and abs(a.astype(float).mean() - 128) < 0.1
    assert not m.any()
    assert not PostProcess(blur=1.0).is_identity and PostProcess(resize=1.0).is_identity


def test_postprocess_apply() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    soft = np.zeros((48, 64), np.uint8)
    soft[:, :31] = 255
    for spec in ("jpeg:50", "webp:50"):
        out, m = parse_postprocess(spec).apply(img, soft)
        assert out.shape == img.shape and out.dtype == np.uint8
        assert np.abs(out.astype(int) - img).mean() > 5  # lossy coding of noise changes pixels
        np.testing.assert_array_equal(m, soft)
    same, m = parse_postprocess("none").apply(img, soft)
    np.testing.assert_array_equal(same, img)
    # resize 0.5: the image is 2×2 area-averaged; the mask bilinear, so the edge column between
    # source columns 30 (255) and 31 (0) becomes the soft value 127.5 → 128
    blocks = np.kron(rng.integers(0, 64, (24, 32, 3)), np.ones((2, 2, 1))).astype(np.uint8) * 4
    out, m = PostProcess(resize=0.5).apply(blocks, soft)
    assert out.shape == (24, 32, 3) and m.shape == (24, 32) and m.dtype == np.uint8
    np.testing.assert_array_equal(out, blocks[::2, ::2])
    np.testing.assert_array_equal(m[:, 15], 128)
    assert (m[:, :15] == 255).all() and (m[:, 16:] == 0).all()
    d = parse_postprocess("jpeg:75+resize:0.5").describe()
    assert d == {"format": "jpeg", "quality": 75, "resize": 0.5, "spec": "jpeg:75+resize:0.5"}
