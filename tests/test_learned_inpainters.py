"""Learned inpainting networks, their trainer, weights files and the any-size runtime."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from inpaintscope.errors import InpaintscopeError
from inpaintscope.inpaint.learned.discriminator import PatchDiscriminator
from inpaintscope.inpaint.learned.gated import contextual_attention
from inpaintscope.inpaint.learned.networks import INPAINT_NETS, create_inpaint_net
from inpaintscope.inpaint.learned.runtime import LearnedInpainter, window_groups
from inpaintscope.inpaint.learned.safepaint import PartialConv, SafePaintNet, domain_distance
from inpaintscope.inpaint.learned.weights import load_inpaint_net, save_inpainter
from inpaintscope.train.inpainter import InpainterTrainConfig, antiforensic_loss, train_inpainter

#: the smallest useful instance of every family (fast tests)
TINY = {
    "gated": {"width": 8},
    "edgeconnect": {"width": 4, "blocks": 1},
    "fourier": {"width": 4, "blocks": 1},
    "safepaint": {"width": 0.0625, "blocks": 1},
}


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_every_registered_network_has_a_tiny_test_config() -> None:
    assert set(INPAINT_NETS.names()) == set(TINY)


def test_safepaint_full_width_reproduces_the_published_parameter_counts() -> None:
    net = SafePaintNet(width=1.0)
    assert n_params(net.coarse) == 10_774_595
    assert n_params(net.domain) == 3_919_376
    assert n_params(net.fine) == 14_146_327
    assert n_params(net) == 28_840_298
    assert n_params(PatchDiscriminator(layout="patchgan70", width=1.0)) == 2_763_776


@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("size", [(32, 48), (40, 64)])
def test_network_contract(name: str, size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    net = create_inpaint_net(name, **TINY[name]).eval()
    h, w = size
    m = net.size_multiple
    h, w = h // m * m, w // m * m
    x = torch.rand(2, 3, h, w)
    hole = torch.zeros(2, 1, h, w)
    hole[:, :, h // 4 : h // 2, w // 4 : 3 * w // 4] = 1
    with torch.no_grad():
        out, stages = net(x, hole)
        # the network never reads what is under the hole
        out2, _ = net(x * (1 - hole) + torch.rand_like(x) * hole, hole)
    assert out.shape == x.shape and all(s.shape == x.shape for s in stages)
    assert stages[-1] is out
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    torch.testing.assert_close(out, out2)


def test_contextual_attention_copies_features_from_outside_the_hole() -> None:
    torch.manual_seed(0)
    f = torch.rand(1, 4, 8, 8)
    hole = torch.zeros(1, 1, 8, 8)
    hole[..., 2:4, 2:4] = 1
    out = contextual_attention(f, hole, softmax_scale=1e4)  # near-argmax attention
    torch.testing.assert_close(out * (1 - hole), f * (1 - hole))  # outside untouched
    # each filled 2×2 block is one of the 2×2 blocks of the known features
    blocks = {
        tuple(np.round(f[0, :, y : y + 2, x : x + 2].numpy().ravel(), 5))
        for y in range(0, 8, 2)
        for x in range(0, 8, 2)
        if not hole[0, 0, y, x]
    }
    assert tuple(np.round(out[0, :, 2:4, 2:4].numpy().ravel(), 5)) in blocks
    everything = torch.ones(1, 1, 8, 8)
    torch.testing.assert_close(contextual_attention(f, everything), f)  # no key: unchanged


def test_partial_conv_equals_a_plain_conv_on_fully_valid_input_and_ignores_invalid_pixels() -> None:
    torch.manual_seed(0)
    pc = PartialConv(3, 5)
    x = torch.rand(1, 3, 9, 9)
    y, valid = pc(x, torch.ones(1, 1, 9, 9))
    torch.testing.assert_close(y, pc.conv(x))
    assert bool(valid.all())
    half = torch.ones(1, 1, 9, 9)
    half[..., :, :5] = 0
    y1, v1 = pc(x, half)
    y2, _ = pc(x + 100 * (1 - half), half)  # garbage where invalid changes nothing
    torch.testing.assert_close(y1, y2)
    assert float(v1[..., 0].detach().abs().sum()) == 0 and float(y1[..., 0].detach().abs().sum()) == 0


def test_domain_distance_is_the_codes_triplet_quirk() -> None:
    torch.manual_seed(0)
    net = SafePaintNet(width=0.0625, blocks=1).eval()
    x, r = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    hole = torch.zeros(2, 1, 64, 64)
    hole[..., 16:48, 16:48] = 1
    with torch.no_grad():
        got = domain_distance(net, x, r, hole, margin=0.1)
        z_bg, z_gt, z_ref = net.domain(x, 1 - hole), net.domain(x, hole), net.domain(r, hole)
    expected = ((z_gt - z_ref).norm(dim=1) + (z_ref - z_bg).norm(dim=1)).mean() + 0.2
    assert abs(float(got) - float(expected)) < 1e-4


def test_antiforensic_term_is_differentiable_through_the_default_detector() -> None:
    from inpaintscope.detection.loader import load_model

    detector = load_model("default", device="cpu").detector
    x = torch.rand(1, 3, 64, 64, requires_grad=True)
    hole = torch.zeros(1, 1, 64, 64)
    hole[..., 20:40, 20:40] = 1
    loss = antiforensic_loss(detector, x, hole)
    loss.backward()
    assert torch.isfinite(loss) and float(loss.detach()) > 0
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


# ---------------------------------------------------------------------------- training runs


@pytest.fixture(scope="module")
def photo_root(tmp_path_factory: pytest.TempPathFactory):
    """Synthetic textured photos and a split file (no third-party data needed)."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    lines = []
    for i in range(8):
        yy, xx = np.mgrid[0:96, 0:96]
        base = np.stack(
            [np.sin(xx / (3 + i) + i) * 60 + 120, np.cos(yy / (4 + i)) * 50 + 110, np.sin((xx + yy) / 7.0) * 40 + 100],
            -1,
        )
        img = np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(root / f"p{i}.png")
        lines.append(f"p{i}.png {'val' if i >= 6 else 'train'}")
    (root / "split.txt").write_text("\n".join(lines) + "\n")
    return root


def _config(name: str, root, out, **kw) -> InpainterTrainConfig:
    base = dict(
        net=name,
        net_kwargs=TINY[name],
        photos=str(root),
        split_file=str(root / "split.txt"),
        crop=32,
        batch_size=4,
        lr=2e-3,
        lr_d=2e-4,
        max_steps=40,
        log_every=5,
        val_every=20,
        checkpoint_every=10,
        val_images=2,
        val_size=32,
        adv_start=25,
        threads=1,
        out=str(out),
        seed=1,
        discriminator_width=0.125,
    )
    if name == "gated":
        base.update(discriminator="deepfill", adv_loss="hinge", adv_target="composite", lr=5e-3)
    if name == "safepaint":
        base.update(l1_form="safepaint", domain_weight=0.01)
    base.update(kw)
    return InpainterTrainConfig.from_dict(base)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TINY))
def test_short_training_run_reduces_the_reconstruction_loss(name: str, photo_root, tmp_path) -> None:
    out = train_inpainter(_config(name, photo_root, tmp_path / name), progress=False)
    logs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    l1 = [h["l1"] for h in logs if h["kind"] == "train"]
    assert np.mean(l1[-2:]) < 0.8 * np.mean(l1[:2]), l1
    assert any(h["kind"] == "train" and "d_loss" in h for h in logs)  # the critic joined after adv_start
    for f in ("generator.safetensors", "best.safetensors", "last.pt", "config.yaml", "curves.png", "samples.png"):
        assert (out / f).is_file(), f
    net, info = load_inpaint_net(out / "generator.safetensors")
    assert info["network"] == name and info["step"] == 40


def test_resumed_training_equals_an_uninterrupted_run(photo_root, tmp_path) -> None:
    straight = train_inpainter(_config("edgeconnect", photo_root, tmp_path / "a", max_steps=20), progress=False)
    cfg = _config("edgeconnect", photo_root, tmp_path / "b", max_steps=10)
    train_inpainter(cfg, progress=False)
    train_inpainter(_config("edgeconnect", photo_root, tmp_path / "b", max_steps=20), resume=True, progress=False)
    a = load_inpaint_net(straight / "generator.safetensors")[0].state_dict()
    b = load_inpaint_net(tmp_path / "b" / "generator.safetensors")[0].state_dict()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)


def test_recipes_name_no_photo_folder_and_training_asks_for_one(tmp_path) -> None:
    # third-party photos do not ship: a recipe without --set photos=... stops with one line
    from pathlib import Path

    from inpaintscope.train.config import ConfigError

    recipes = sorted((Path(__file__).resolve().parents[1] / "configs" / "inpainters").glob("*.yaml"))
    assert recipes
    for recipe in recipes:
        with pytest.raises(ConfigError, match="photos is not set.*--set photos="):
            InpainterTrainConfig.from_yaml(recipe, [f"out={tmp_path / recipe.stem}"])
    assert InpainterTrainConfig.from_yaml(recipes[0], [f"photos={tmp_path}"]).photos == str(tmp_path)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("checkpoint_every=0", "checkpoint_every and val_images must be >= 1"),  # was a ZeroDivisionError
        ("log_every=0", "must be >= 1"),
        ("val_images=0", "must be >= 1"),
        ("betas=[0.5]", r"betas must be \[beta1, beta2\]"),
        ("betas=[2, 3]", r"each in \[0, 1\)"),
        ("discriminator=bogus", "discriminator must be one of"),
        ("discriminator_width=0", "discriminator_width must be > 0"),
        ("adv_weight=-1", "adv_weight must be >= 0"),
        ("style_weight=.nan", "style_weight must be >= 0"),
        ("threads=-1", "threads must be >= 0"),
        ("max_minutes=0", "max_minutes must be > 0"),
    ],
)
def test_bad_recipe_values_are_one_line_before_training(tmp_path, override, message) -> None:
    from pathlib import Path

    from inpaintscope.train.config import ConfigError

    recipe = Path(__file__).resolve().parents[1] / "configs" / "inpainters" / "fourier.yaml"
    with pytest.raises(ConfigError, match=message):
        InpainterTrainConfig.from_yaml(recipe, [f"photos={tmp_path}", override])


def test_a_second_run_in_the_same_folder_is_refused(photo_root, tmp_path) -> None:
    cfg = _config("fourier", photo_root, tmp_path / "r", max_steps=2, val_every=2, checkpoint_every=2)
    train_inpainter(cfg, progress=False)
    with pytest.raises(InpaintscopeError, match="already holds a run"):
        train_inpainter(cfg, progress=False)
    (tmp_path / "r" / "last.pt").write_bytes(b"not a torch file")
    with pytest.raises(InpaintscopeError, match="cannot resume"):
        train_inpainter(cfg, resume=True, progress=False)


def test_vgg_losses_run_with_a_user_given_weight_file(photo_root, tmp_path) -> None:
    from safetensors.torch import save_file

    from inpaintscope.train.perceptual import vgg19_features

    torch.manual_seed(0)
    weights = {f"features.{k}": v for k, v in vgg19_features().state_dict().items()}
    save_file(weights, str(tmp_path / "vgg19.safetensors"))
    cfg = _config(
        "edgeconnect",
        photo_root,
        tmp_path / "v",
        max_steps=2,
        val_every=2,
        checkpoint_every=2,
        vgg19=str(tmp_path / "vgg19.safetensors"),
    )
    out = train_inpainter(cfg, progress=False)
    logs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(h.get("perceptual", 0)) for h in logs)


# ---------------------------------------------------------------------------- weights and runtime


def _tiny_weights(tmp_path, name: str = "edgeconnect"):
    torch.manual_seed(0)
    net = create_inpaint_net(name, **TINY[name])
    return save_inpainter(tmp_path / f"{name}.safetensors", net.state_dict(), {"network": name, "kwargs": TINY[name]})


@pytest.mark.parametrize("blend", ["poisson", "none"])
def test_runtime_fills_any_size_and_never_touches_known_pixels(tmp_path, blend: str) -> None:
    path = _tiny_weights(tmp_path)
    inp = LearnedInpainter(weights=path, hole_width=8, max_side=64, blend=blend)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (70, 91, 3), dtype=np.uint8)
    mask = np.zeros((70, 91), bool)
    mask[5:15, 4:30] = True  # two groups far apart, one large enough to be downscaled
    mask[50:66, 60:88] = True
    out = inp.inpaint(img, mask, rng=rng)
    np.testing.assert_array_equal(out[~mask], img[~mask])
    assert (out[mask] != img[mask]).any()
    np.testing.assert_array_equal(out, inp.inpaint(img, mask, rng=np.random.default_rng(9)))
    assert len(window_groups(mask, gap=16)) == 2


def test_runtime_blending_is_an_option_and_changes_only_the_hole(tmp_path) -> None:
    path = _tiny_weights(tmp_path)
    rng = np.random.default_rng(3)
    img = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    mask = np.zeros((64, 64), bool)
    mask[20:40, 16:48] = True
    blended = LearnedInpainter(weights=path, blend="poisson").inpaint(img, mask, rng=rng)
    raw = LearnedInpainter(weights=path, blend="none").inpaint(img, mask, rng=rng)
    assert (blended[mask] != raw[mask]).any()
    np.testing.assert_array_equal(blended[~mask], raw[~mask])
    with pytest.raises(ValueError, match="blend must be one of"):
        LearnedInpainter(weights=path, blend="seamless")


def test_detail_pass_takes_low_frequencies_from_the_coarse_fill(tmp_path) -> None:
    import cv2

    path = _tiny_weights(tmp_path)
    rng = np.random.default_rng(4)
    img = cv2.GaussianBlur(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8), (0, 0), 1.0)
    hole = np.zeros((96, 96), bool)
    hole[24:72, 24:72] = True  # 48 px wide: coarse pass at 16 px (scale 1/3), fine pass at 48 px (scale 1)
    two = LearnedInpainter(weights=path, hole_width=16, detail_width=48, blend="none")
    coarse = two._network_fill(img, hole, 16 / 48)
    fine = two._network_fill(img, hole, 1.0)
    got = two._fill_window(img, hole).astype(np.float32) / 255.0
    sigma = 0.5 * 3  # DETAIL_SIGMA coarse pixels, in full-resolution pixels
    want = cv2.GaussianBlur(coarse, (0, 0), sigma) + fine - cv2.GaussianBlur(fine, (0, 0), sigma)
    inner = (slice(30, 66), slice(30, 66))  # away from the [0, 1] clip's effect on a blur's edge
    np.testing.assert_allclose(got[inner], np.clip(want, 0, 1)[inner], atol=1 / 255 + 1e-6)
    # low frequencies: the coarse pass's; high frequencies: the fine pass's
    low = cv2.GaussianBlur(got, (0, 0), 4 * sigma)[inner]
    assert (
        np.abs(low - cv2.GaussianBlur(coarse, (0, 0), 4 * sigma)[inner]).mean()
        < np.abs(low - cv2.GaussianBlur(fine, (0, 0), 4 * sigma)[inner]).mean()
    )
    # a detail width no finer than the coarse one, or 0, is one pass; a finer one two
    for detail, passes in ((0, 1), (16, 1), (12, 1), (48, 2)):
        inp = LearnedInpainter(weights=path, hole_width=16, detail_width=detail, blend="none")
        calls: list[float] = []
        fill_at = inp._network_fill
        inp._network_fill = lambda w, h, scale, fill_at=fill_at, calls=calls: (
            calls.append(scale) or fill_at(w, h, scale)
        )
        inp._fill_window(img, hole)
        assert len(calls) == passes, (detail, calls)
    out = two.inpaint(img, hole, rng=rng)
    np.testing.assert_array_equal(out[~hole], img[~hole])
    np.testing.assert_array_equal(out, two.inpaint(img, hole, rng=np.random.default_rng(1)))
    with pytest.raises(ValueError, match="detail_width >= 0"):
        LearnedInpainter(weights=path, detail_width=-1)


def test_shipped_widths_are_recorded_per_network() -> None:
    from inpaintscope.inpaint import create_inpainter

    widths = {"gated": (24, 64), "edgeconnect": (24, 64), "fourier": (24, 64), "safepaint": (16, 32)}
    for name, (coarse, detail) in widths.items():
        options = create_inpainter(name).options
        assert (options["hole_width"], options["detail_width"]) == (coarse, detail), name
    sp = create_inpainter("safepaint", detail_width=0)
    assert (sp.options["hole_width"], sp.options["detail_width"]) == (16, 0)


@pytest.mark.parametrize("damage", ["garbage", "wrong_kwargs", "nan"])
def test_bad_weight_files_give_one_line_errors(tmp_path, damage: str) -> None:
    path = _tiny_weights(tmp_path)
    if damage == "garbage":
        path.write_bytes(b"\x00" * 20)
    elif damage == "wrong_kwargs":
        net = create_inpaint_net("edgeconnect", **TINY["edgeconnect"])
        save_inpainter(path, net.state_dict(), {"network": "edgeconnect", "kwargs": {"width": 8, "blocks": 1}})
    else:
        net = create_inpaint_net("edgeconnect", **TINY["edgeconnect"])
        sd = {k: torch.full_like(v, float("nan")) for k, v in net.state_dict().items()}
        save_inpainter(path, sd, {"network": "edgeconnect", "kwargs": TINY["edgeconnect"]})
    with pytest.raises(InpaintscopeError) as info:
        load_inpaint_net(path)
    assert "\n" not in str(info.value)


def test_weights_are_stored_as_float16_and_run_in_float32(tmp_path) -> None:
    from safetensors.torch import load_file

    torch.manual_seed(0)
    net = create_inpaint_net("edgeconnect", **TINY["edgeconnect"])
    sd = net.state_dict()
    big = next(k for k, v in sd.items() if v.is_floating_point() and v.numel())
    sd = {**sd, big: sd[big] * 0 + 1e6}  # beyond float16's range: must stay float32
    path = save_inpainter(tmp_path / "w.safetensors", sd, {"network": "edgeconnect", "kwargs": TINY["edgeconnect"]})
    stored = load_file(str(path))
    assert stored[big].dtype == torch.float32
    assert all(v.dtype == torch.float16 for k, v in stored.items() if k != big and v.numel())
    loaded, _ = load_inpaint_net(path)
    for k, v in loaded.state_dict().items():
        assert v.dtype == torch.float32
        assert torch.equal(v, sd[k].float() if k == big else sd[k].half().float())


def test_gradient_term_counts_only_differences_touching_the_hole_and_trains(photo_root, tmp_path) -> None:
    from inpaintscope.train.inpainter import gradient_loss

    target = torch.zeros(1, 3, 4, 4)
    hole = torch.zeros(1, 1, 4, 4)
    hole[..., 1, 1] = 1  # one hole pixel: 2 horizontal + 2 vertical differences touch it
    out = target.clone()
    out[..., 1, 1] = 0.5  # each of the 4 differences is off by 0.5 in each of 3 channels
    assert gradient_loss([out], target, hole).item() == pytest.approx(0.5)
    assert gradient_loss([target, out], target, hole).item() == pytest.approx(0.25)  # mean over stages
    out[..., 3, 3] = 1.0  # a change far from the hole costs nothing
    assert gradient_loss([out], target, hole).item() == pytest.approx(0.5)
    # a flat offset has no differences: the term leaves colour to the L1 loss
    assert gradient_loss([target + 0.3], target, hole).item() == pytest.approx(0.0)
    cfg = _config("safepaint", photo_root, tmp_path / "grad", max_steps=6, log_every=3, grad_weight=1.0)
    logs = [
        json.loads(line) for line in (train_inpainter(cfg, progress=False) / "metrics.jsonl").read_text().splitlines()
    ]
    assert all(np.isfinite(h["grad"]) and h["grad"] > 0 for h in logs if h["kind"] == "train")


# ---- bad input to the trainer: one clear line, and nothing of the user's overwritten ----------


@pytest.mark.parametrize(
    "override, message",
    [
        ({"seed": -1}, r"seed must be an integer in \[0, 2\^63\), got -1"),  # failed at the first batch
        ({"lr": float("inf")}, "learning rates must be > 0 and finite"),
        ({"lr_d": float("nan")}, "learning rates must be > 0 and finite"),
    ],
)
def test_bad_numbers_are_refused_by_the_config(photo_root, tmp_path, override, message) -> None:
    from inpaintscope.train.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        _config("fourier", photo_root, tmp_path / "r", **override)


def test_a_new_run_never_overwrites_a_users_folder_and_checks_before_writing(photo_root, tmp_path) -> None:
    from inpaintscope.errors import BadArgumentsError

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.yaml").write_text("# my recipe\nnet: fourier\n")
    with pytest.raises(InpaintscopeError, match=r"is not empty \(config.yaml\) and is not a run folder of ours"):
        train_inpainter(_config("fourier", photo_root, mine, max_steps=2), progress=False)
    assert (mine / "config.yaml").read_text() == "# my recipe\nnet: fourier\n"
    (tmp_path / "afile").write_text("x")
    with pytest.raises(InpaintscopeError, match="afile is a file, not a folder; choose another --set out=DIR"):
        train_inpainter(_config("fourier", photo_root, tmp_path / "afile", max_steps=2), progress=False)
    # a bad keyword is refused before config.yaml is written: no half-made run folder
    bad = _config("fourier", photo_root, tmp_path / "bad", net_kwargs={"width": 4, "bogus": 1})
    with pytest.raises(BadArgumentsError, match="inpainting network 'fourier'.*'bogus'; it accepts: width, blocks"):
        train_inpainter(bad, progress=False)
    assert not (tmp_path / "bad").exists()


def test_a_run_killed_before_its_first_checkpoint_starts_over(photo_root, tmp_path) -> None:
    from inpaintscope.train.inpainter import _config_yaml

    cfg = _config("fourier", photo_root, tmp_path / "r", max_steps=2, val_every=2, checkpoint_every=2)
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "config.yaml").write_text(_config_yaml(cfg))  # what the killed run had written
    assert (train_inpainter(cfg, progress=False) / "last.pt").is_file()


def test_a_recipes_relative_split_file_is_found_from_any_folder(tmp_path, monkeypatch) -> None:
    from pathlib import Path

    from inpaintscope.data.inpainting_crops import PhotoSet

    repo = tmp_path / "repo"
    (repo / "configs" / "inpainters").mkdir(parents=True)
    (repo / "configs" / "splits").mkdir()
    (repo / "configs" / "splits" / "mine.txt").write_text("p0.png train\n")
    recipe = repo / "configs" / "inpainters" / "r.yaml"
    recipe.write_text("net: fourier\nsplit_file: configs/splits/mine.txt\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = InpainterTrainConfig.from_yaml(recipe, [f"photos={tmp_path}"])
    assert Path(cfg.split_file) == repo / "configs" / "splits" / "mine.txt"
    shipped = Path(__file__).resolve().parents[1] / "configs" / "inpainters" / "fourier.yaml"
    assert Path(InpainterTrainConfig.from_yaml(shipped, [f"photos={tmp_path}"]).split_file).is_file()
    # found nowhere: one line saying where it was looked for, not a FileNotFoundError
    with pytest.raises(InpaintscopeError, match=r"split file nope.txt not found \(relative to the current folder"):
        PhotoSet.from_split_file(tmp_path, "nope.txt", ["train"])
