"""Contract tests for every registered detector, plus model-specific checks of the NIX-Net,
FCN-ResNet50 and SCOPE implementations.

The 40–85 M-parameter models are slow on a 2-core CPU, so each model is built once per module
(``_model``) and inputs are 64 px; the heaviest forward+backward runs once per model.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from inpaintscope.errors import InpaintscopeError, ShapeError
from inpaintscope.models import (
    Detector,
    DetectorOutput,
    count_parameters,
    create_model,
    list_models,
    load_detector,
    save_checkpoint,
)
from inpaintscope.models.nix_net import SRMResidual, srm_kernels
from inpaintscope.models.scope import bayar_constrain, highpass_kernels

MODEL_NAMES = list_models()
OURS = {"nix_net_40", "nix_net_60", "nix_net_85", "fcn_resnet50", "scope_tiny", "scope_small", "scope_fast"}
EXACT_PARAMETERS = {  # the Bochum report's counts for its NIX-Net variants and FCN-ResNet50 (no aux head)
    "nix_net_40": 39_442_053,
    "nix_net_60": 60_046_853,
    "nix_net_85": 85_226_501,
    "fcn_resnet50": 32_946_753,
}


@pytest.fixture(autouse=True)
def _one_thread():
    # the suite shares 2 cores with other work; results must not depend on the thread count
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _sizes(model: Detector) -> list[tuple[int, int]]:
    m = int(model.size_multiple)
    if m == 1:
        return [(64, 64), (50, 70)]  # the second one exercises odd, non-square sizes
    up = lambda n: m * math.ceil(n / m)  # noqa: E731
    return [(up(64), up(64)), (up(48), up(72))]


def _pair(h: int, w: int) -> torch.Tensor:
    """Two very different images (noise, smooth ramp) so any batch leak shows."""
    g = torch.Generator().manual_seed(1)
    noise = torch.rand(1, 3, h, w, generator=g)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    ramp = torch.stack([yy, xx, 0.5 * (yy + xx)])[None]
    return torch.cat([noise, ramp])


class Entry:
    """One model built once per module (module-scoped params make pytest run all tests of one
    model before building the next, so only one 40–85 M model is in memory at a time)."""

    def __init__(self, name: str) -> None:
        torch.manual_seed(0)
        self.name = name
        self.model = create_model(name).eval()
        self.size = _sizes(self.model)[0]
        self.x = self.model.preprocess(_pair(*self.size))
        with torch.no_grad():
            self.ref = self.model(self.x)  # eval output for the batch of two, reused by the tests


@pytest.fixture(scope="module", params=MODEL_NAMES)
def entry(request) -> Entry:
    torch.set_num_threads(1)
    return Entry(request.param)


# ---- contract, every registered model ----------------------------------------------------------


def test_zoo_registers_our_models():
    assert set(MODEL_NAMES) >= OURS


def test_unknown_keywords_name_the_model_and_what_it_accepts():
    from inpaintscope.errors import BadArgumentsError
    from inpaintscope.models import MODELS

    with pytest.raises(BadArgumentsError, match="model 'scope_tiny': got an unexpected keyword argument 'bogus'") as e:
        create_model("scope_tiny", bogus=1)  # was a bare TypeError traceback from `--set model_kwargs.bogus=1`
    assert str(e.value).endswith("it accepts: depths, bayar_channels, clip, head_hidden")
    assert isinstance(e.value, InpaintscopeError) and isinstance(e.value, TypeError)  # old except clauses still work

    def buggy(*, width: int = 1) -> torch.nn.Module:
        return len(width)  # a TypeError inside the factory: a bug, not the user's keyword

    MODELS.register("test_buggy_factory")(buggy)
    try:
        with pytest.raises(TypeError) as bug:
            create_model("test_buggy_factory", width=2)
        assert not isinstance(bug.value, InpaintscopeError)
    finally:
        MODELS.unregister("test_buggy_factory")


def test_forward_contract_at_two_sizes(entry):
    model = entry.model
    assert isinstance(model, Detector) and int(model.size_multiple) >= 1
    (h, w), (h2, w2) = _sizes(model)
    with torch.no_grad():
        other = model(model.preprocess(_pair(h2, w2)[1:]))
    for out, shape in ((entry.ref, (2, 1, h, w)), (other, (1, 1, h2, w2))):
        assert isinstance(out, DetectorOutput)
        assert out.mask_logits.shape == shape
        assert out.mask_logits.dtype == torch.float32
        assert torch.isfinite(out.mask_logits).all()
        if out.image_logit is not None:
            assert out.image_logit.shape == (shape[0], 1)
            assert torch.isfinite(out.image_logit).all()


def test_parameter_count(entry):
    n = count_parameters(entry.model)
    if entry.name in EXACT_PARAMETERS:
        assert n == EXACT_PARAMETERS[entry.name]
    if entry.name.startswith("nix_net"):  # the SRM bank is a buffer, not a parameter
        assert count_parameters(entry.model, trainable_only=False) == n
        assert "srm.weight" in dict(entry.model.named_buffers())
    if entry.name.startswith("scope"):
        assert 4 * count_parameters(entry.model, trainable_only=False) < 15e6  # fp32 bytes
    assert n > 0


def test_backward_gives_finite_grads(entry):
    model = entry.model
    # keep BN running statistics untouched for the other tests that share this instance
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    try:
        out = model(entry.x[:1])
        loss = out.mask_logits.square().mean()
        if out.image_logit is not None:
            loss = loss + out.image_logit.square().mean()
        loss.backward()
        params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        with_grad = [(n, p.grad) for n, p in params if p.grad is not None]
        assert all(torch.isfinite(g).all() for _, g in with_grad), "non-finite gradients"
        assert sum(float(g.abs().sum()) for _, g in with_grad) > 0
        if entry.name in OURS:  # every parameter of our models is used by forward
            assert [n for n, p in params if p.grad is None] == []
        else:
            assert len(with_grad) >= 0.9 * len(params)
    finally:
        model.zero_grad(set_to_none=True)
        model.load_state_dict(saved)
        model.eval()


def test_eval_batch_independent_and_deterministic(entry):
    model = entry.model
    with torch.no_grad():
        alone = [model(entry.x[i : i + 1]) for i in range(2)]
        again = model(entry.x[:1])
    torch.testing.assert_close(again.mask_logits, alone[0].mask_logits, rtol=0, atol=0)
    both = entry.ref
    for i in range(2):
        torch.testing.assert_close(alone[i].mask_logits, both.mask_logits[i : i + 1], rtol=1e-4, atol=1e-4)
        if both.image_logit is not None:
            torch.testing.assert_close(alone[i].image_logit, both.image_logit[i : i + 1], rtol=1e-4, atol=1e-4)
    # the two images really are different, so the equalities above are not vacuous
    assert not torch.allclose(both.mask_logits[0], both.mask_logits[1])


def test_preprocess_accepts_batches_in_unit_range(entry):
    model = entry.model
    x01 = _pair(32, 48)
    y = model.preprocess(x01)
    assert y.shape == x01.shape and y.dtype == torch.float32 and torch.isfinite(y).all()
    pre = model.preprocessing
    order = [2, 1, 0] if pre.channel_order == "bgr" else [0, 1, 2]
    for c in range(3):  # hand check of one pixel per channel
        expect = (float(x01[1, order[c], 5, 7]) - pre.mean[c]) / pre.std[c]
        assert float(y[1, c, 5, 7]) == pytest.approx(expect, abs=1e-6)
    with pytest.raises(ValueError):
        model.preprocess(x01[0])  # 3-D: batch dimension missing


def test_base_class_checks_input_and_predict_pads_any_size(entry):
    model = entry.model
    with pytest.raises(ShapeError, match="B×3×H×W"):
        model(torch.zeros(1, 1, 32, 32))
    # an odd size (and, for IID-Net, a side below its minimum): predict reflect-pads it to what
    # forward accepts and crops the outputs back, exactly as padding by hand
    x01 = _pair(13, 37)[1:]
    m, low = int(model.size_multiple), int(model.min_size)
    up = lambda n: m * math.ceil(max(n, low) / m)  # noqa: E731
    by_hand = torch.from_numpy(
        np.pad(x01.numpy(), ((0, 0), (0, 0), (0, up(13) - 13), (0, up(37) - 37)), mode="reflect")
    )
    with torch.no_grad():
        out = model.predict(x01)
        ref = model(model.preprocess(by_hand))
    assert out.mask_logits.shape == (1, 1, 13, 37)
    torch.testing.assert_close(out.mask_logits, ref.mask_logits[..., :13, :37], rtol=0, atol=0)
    if ref.image_logit is not None:
        torch.testing.assert_close(out.image_logit, ref.image_logit, rtol=0, atol=0)


def test_checkpoint_round_trip(entry, tmp_path):
    model = entry.model
    path = save_checkpoint(
        tmp_path / f"{entry.name}.safetensors",
        model.state_dict(),
        {"model": entry.name, "kwargs": {}, "preprocessing": model.preprocessing.to_dict()},
    )
    loaded = load_detector(path)  # a freshly (differently) initialised model, then our weights
    assert type(loaded) is type(model) and not loaded.training
    with torch.no_grad():
        b = loaded(entry.x)
    torch.testing.assert_close(b.mask_logits, entry.ref.mask_logits, rtol=0, atol=0)
    if entry.ref.image_logit is not None:
        torch.testing.assert_close(b.image_logit, entry.ref.image_logit, rtol=0, atol=0)


# ---- model-specific ------------------------------------------------------------------------------

# ---- NIX-Net --------------------------------------------------------------------------------------


def test_srm_kernels_match_spec():
    w = srm_kernels()
    assert w.shape == (3, 3, 5, 5)
    for c in (1, 2):  # identical weights on R, G, B
        assert torch.equal(w[:, c], w[:, 0])
    assert float(w[0, 0, 2, 2]) == pytest.approx(-1.0)  # KV centre −12/12
    assert float(w[0, 0, 0, 0]) == pytest.approx(-1 / 12)
    assert float(w[1, 0, 2, 2]) == pytest.approx(-1.0) and float(w[1, 0, 1, 1]) == pytest.approx(-0.25)
    assert w[1, 0, 0].abs().sum() == 0 and w[1, 0, :, 0].abs().sum() == 0  # 3×3 inside 5×5
    assert w[2, 0, 1:4, 2].tolist() == [0.5, -1.0, 0.5]  # vertical in the report
    assert srm_kernels(vertical_s3=False)[2, 0, 2, 1:4].tolist() == [0.5, -1.0, 0.5]
    assert torch.allclose(w.sum(dim=(2, 3)), torch.zeros(3, 3), atol=1e-6)  # all high-pass


def test_report_residual_hand_computed():
    # an impulse of 0.5 grey levels in the blue channel keeps every response inside the clip:
    # channel k of r is x01_k − S_k(255·x), i.e. −0.5·kernel_k around the impulse
    x = torch.zeros(1, 3, 17, 17)
    x[0, 2, 8, 8] = 0.5 / 255
    r = SRMResidual("report")(x)
    hi = 0.5 + 0.5 / 255  # blue channel, centre: x − (−0.5·2/2)
    lo = -0.5 * 8 / 12  # KV's largest positive tap
    norm = lambda v: (v - lo) / (hi - lo)  # noqa: E731
    assert float(r[0, 2, 8, 8]) == pytest.approx(1.0)
    assert float(r[0, 0, 8, 9]) == pytest.approx(0.0, abs=1e-6)  # the minimum, KV at (2, 3)
    assert float(r[0, 0, 8, 8]) == pytest.approx(norm(0.5), abs=1e-6)
    assert float(r[0, 1, 7, 7]) == pytest.approx(norm(0.5 * 0.25), abs=1e-6)
    assert float(r[0, 2, 7, 8]) == pytest.approx(norm(-0.25), abs=1e-6)  # vertical neighbour
    assert float(r[0, 2, 8, 7]) == pytest.approx(norm(0.0), abs=1e-6)  # horizontal: untouched
    assert float(r[0, 1, 0, 0]) == pytest.approx(norm(0.0), abs=1e-6)


def test_report_residual_saturates_and_handles_flat_images():
    x = torch.zeros(2, 3, 16, 16)
    x[1, :, :, 8:] = 1.0  # a hard edge: responses of hundreds of grey levels are clipped to ±1
    r = SRMResidual("report")(x)
    assert torch.equal(r[0], torch.zeros(3, 16, 16))  # flat image: no division by zero
    assert float(r[1].min()) == 0.0 and float(r[1].max()) == 1.0


def test_rgbn_residual_is_plain_srm_on_unit_range():
    x = torch.zeros(1, 3, 11, 11)
    x[0, 0, 5, 5] = 1.0
    r = SRMResidual("rgbn")(x)
    assert r[0, 2, 5, 4:7].tolist() == [0.5, -1.0, 0.5]  # horizontal second difference
    assert float(r[0, 0, 5, 5]) == pytest.approx(-1.0) and float(r[0, 0, 5, 7]) == pytest.approx(-2 / 12)
    with pytest.raises(InpaintscopeError, match="residual mode"):
        SRMResidual("srm")  # type: ignore[arg-type]


def test_nix_rejects_sizes_not_divisible_by_8():
    model = create_model("nix_net_40")
    with pytest.raises(ShapeError, match="divisible by 8"):
        model(torch.rand(1, 3, 60, 64))


# ---- FCN-ResNet50 -----------------------------------------------------------------------------------


def test_fcn_is_dilated_with_output_stride_8_and_torchvision_names():
    model = create_model("fcn_resnet50")
    bb = model.backbone
    assert [b.conv2.dilation[0] for b in bb.layer3] == [1, 2, 2, 2, 2, 2]
    assert [b.conv2.dilation[0] for b in bb.layer4] == [2, 4, 4]
    with torch.no_grad():
        c3, c4 = bb(torch.rand(1, 3, 64, 48))
    assert c3.shape == (1, 1024, 8, 6) and c4.shape == (1, 2048, 8, 6)
    keys = set(model.state_dict())
    for k in (
        "backbone.conv1.weight",
        "backbone.layer1.0.conv1.weight",
        "backbone.layer3.0.downsample.0.weight",
        "classifier.0.weight",
        "classifier.1.running_var",
        "classifier.4.bias",
    ):
        assert k in keys
    assert model.classifier[4].out_channels == 1 and model.classifier[3].p == 0.1


def test_fcn_aux_head_count_and_loading_a_torch_state_dict_with_module_prefix(tmp_path):
    torch.manual_seed(3)
    with_aux = create_model("fcn_resnet50", aux=True)
    assert count_parameters(with_aux) == 35_306_818  # the report's total, aux head included
    assert count_parameters(with_aux.aux_classifier) == 35_306_818 - 32_946_753
    path = tmp_path / "converted.pth"
    torch.save({f"module.{k}": v for k, v in with_aux.state_dict().items()}, path)
    plain = create_model("fcn_resnet50", checkpoint=path)  # aux keys are dropped, not an error
    x = torch.rand(1, 3, 40, 56)
    with torch.no_grad():
        main, aux = with_aux.forward_aux(x)
        torch.testing.assert_close(plain(x).mask_logits, main.mask_logits, rtol=0, atol=0)
    assert aux.shape == (1, 1, 40, 56)
    with pytest.raises(InpaintscopeError, match="aux=True"):
        plain.forward_aux(x)


def test_fcn_imagenet_norm_flag_survives_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = create_model("fcn_resnet50", imagenet_norm=True)
    y = model.preprocess(torch.full((1, 3, 2, 2), 0.5))
    assert float(y[0, 0, 0, 0]) == pytest.approx((0.5 - 0.485) / 0.229)
    assert float(y[0, 2, 1, 1]) == pytest.approx((0.5 - 0.406) / 0.225)
    assert create_model("fcn_resnet50").preprocessing.mean == (0.0, 0.0, 0.0)  # flag is per instance
    path = save_checkpoint(
        tmp_path / "fcn.safetensors",
        model.state_dict(),
        {"model": "fcn_resnet50", "kwargs": {"imagenet_norm": True}, "preprocessing": model.preprocessing.to_dict()},
    )
    assert load_detector(path).preprocessing == model.preprocessing


# ---- SCOPE -------------------------------------------------------------------------------------------


def test_bayar_constraint_is_a_pure_projection():
    w = torch.randn(4, 3, 5, 5, dtype=torch.float64)
    original = w.clone()
    c = bayar_constrain(w)
    assert torch.equal(w, original)  # no in-place mutation
    assert torch.all(c[:, :, 2, 2] == -1)
    assert torch.allclose(c.sum(dim=(2, 3)), torch.zeros(4, 3, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(bayar_constrain(c), c, atol=1e-12)  # constrained weights are a fixed point
    # hand example, 3×3: off-centre weights 1..8 (sum 36) → each minus 36/8 plus 1/8
    k = torch.arange(9, dtype=torch.float64).view(1, 1, 3, 3)
    k[0, 0, 1, 1] = 7.0
    v = torch.tensor([0, 1, 2, 3, 5, 6, 7, 8], dtype=torch.float64)
    expect = v - v.sum() / 8 + 1 / 8
    got = bayar_constrain(k)[0, 0].flatten()
    assert torch.allclose(torch.cat([got[:4], got[5:]]), expect) and float(got[4]) == -1.0


def test_scope_forward_leaves_parameters_untouched():
    model = create_model("scope_tiny")
    before = model.front.bayar_weight.detach().clone()
    with torch.no_grad():
        model(torch.rand(1, 3, 32, 32))
    assert torch.equal(model.front.bayar_weight, before)
    assert torch.allclose(highpass_kernels().sum(dim=(1, 2)), torch.zeros(4), atol=1e-6)


def test_scope_front_end_channels_hand_computed():
    front = create_model("scope_tiny", clip=8.0).front
    x = torch.full((1, 3, 15, 15), 0.5)
    x[0, 1, 4, 4] = 0.5 + 4 / 255  # +4 grey levels in green at the centre
    with torch.no_grad():
        f = front(x)
    assert f.shape == (1, 18, 15, 15)
    assert float(f[0, 0, 4, 4]) == pytest.approx(math.tanh(0.25), abs=1e-6)  # image: tanh(x / 2)
    assert float(f[0, 1, 4, 4]) == pytest.approx(math.tanh((0.5 + 4 / 255) / 2), abs=1e-6)
    # green's kernels are channels 7..10: ∂x at (4, 3) sees +4 → tanh(4 / 8); KV centre −4 → tanh(−0.5)
    assert float(f[0, 7, 4, 3]) == pytest.approx(math.tanh(0.5), abs=1e-5)
    assert float(f[0, 7, 4, 4]) == pytest.approx(math.tanh(-0.5), abs=1e-5)
    assert float(f[0, 9, 4, 4]) == pytest.approx(math.tanh(-0.5), abs=1e-5)
    assert float(f[0, 3, 4, 4]) == pytest.approx(0.0, abs=1e-6)  # red's ∂x: flat
    # Bayar kernels sum to zero: 0 on the flat part (≥ 3 px from the impulse and the border)...
    assert torch.allclose(f[0, 15:, 7:13, 7:13], torch.zeros(3, 6, 6), atol=1e-5)
    # ...and −4 grey levels at the impulse (only green's centre tap −1 sees a non-flat input)
    assert torch.allclose(f[0, 15:, 4, 4], torch.full((3,), math.tanh(-0.5)), atol=1e-5)


@pytest.mark.parametrize("name", ["scope_tiny", "scope_fast"])  # stride-1 and stride-2 stems
@pytest.mark.parametrize("hw", [(17, 33), (5, 7), (128, 96)])
def test_scope_any_size(name, hw):
    torch.manual_seed(0)
    model = create_model(name)
    with torch.no_grad():
        out = model(torch.rand(2, 3, *hw))
    assert out.mask_logits.shape == (2, 1, *hw) and out.image_logit.shape == (2, 1)
    assert out.mask_logits.is_contiguous()


def _noise_trace_batch(rng: np.random.Generator, n: int, s: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth random colours + Gaussian noise (σ = 3 grey levels); inside a random rectangle the
    noise is 3×3 box-blurred away, the trace that generative inpainting leaves. Content carries
    no information, so only a detector that reads the noise can find the rectangle."""
    images = np.empty((n, 3, s, s), np.float32)
    masks = np.zeros((n, 1, s, s), np.float32)
    for i in range(n):
        grid = torch.from_numpy(rng.uniform(40, 215, (1, 3, 4, 4)).astype(np.float32))
        img = F.interpolate(grid, size=(s, s), mode="bilinear", align_corners=False)[0].numpy()
        img = img + rng.normal(0, 3, (3, s, s))
        padded = np.pad(img, ((0, 0), (1, 1), (1, 1)), mode="edge")
        blur = sum(padded[:, 1 + dy : s + 1 + dy, 1 + dx : s + 1 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9
        h, w = rng.integers(s // 4, s // 2 + 1, 2)
        y, x = rng.integers(0, s - h), rng.integers(0, s - w)
        img[:, y : y + h, x : x + w] = blur[:, y : y + h, x : x + w]
        masks[i, 0, y : y + h, x : x + w] = 1
        images[i] = np.clip(np.round(img), 0, 255) / 255
    return torch.from_numpy(images), torch.from_numpy(masks)


@pytest.mark.parametrize("name", ["scope_tiny", "scope_fast"])
def test_scope_learns_a_noise_trace(name):
    # for scope_fast this also checks that pixel (un)shuffle puts each logit on its own pixel
    torch.manual_seed(0)
    model = create_model(name).train()
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    rng = np.random.default_rng(0)
    for _ in range(40):
        x, y = _noise_trace_batch(rng, 8, 48)
        loss = F.binary_cross_entropy_with_logits(model(model.preprocess(x)).mask_logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    x, y = _noise_trace_batch(np.random.default_rng(123), 16, 48)
    with torch.no_grad():
        pred = model(model.preprocess(x)).mask_logits > 0
    truth = y > 0
    iou = ((pred & truth).sum(dim=(1, 2, 3)) / (pred | truth).sum(dim=(1, 2, 3)).clamp_min(1)).mean()
    assert float(iou) > 0.75  # 0.87 here; an untrained or content-only model scores far lower
