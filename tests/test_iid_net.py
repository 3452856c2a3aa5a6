"""IID-Net: layout vs the official state dict, Bayar constraint, attention, head, loading."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from inpaintscope.errors import InpaintscopeError, ShapeError, UnknownNameError
from inpaintscope.models import Preprocessing, count_parameters, create_model, list_models
from inpaintscope.models.iid_net import (
    LOCAL_ATTENTION_KERNEL,
    IIDNet,
    bayar_constrain,
    cosine_topk,
    global_attention,
    load_official,
    median3x3,
    neighbour_count,
)

torch.set_num_threads(1)


def _shared_docs() -> Path:
    """Where third-party test data lives beside the repository (never in it): here
    ``iid_net_state_dict.json``, the key names and shapes of the official IID-Net weights,
    listed from the official release; tests that need it skip when it is absent."""
    env = os.environ.get("INPAINTSCOPE_SHARED_DATA")
    if env:
        return Path(env).resolve().parent / "docs"
    return Path(__file__).resolve().parents[1].parent / "shared" / "docs"


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def model() -> IIDNet:
    torch.manual_seed(0)
    return IIDNet().eval()


# --------------------------------------------------------------------------- layout


def test_registered_and_parameter_counts(model: IIDNet) -> None:
    assert "iid_net" in list_models()
    assert count_parameters(model) == 5_781_142
    assert count_parameters(model, trainable_only=False) == 5_787_567
    frozen = IIDNet(freeze_pf=True)
    assert count_parameters(frozen) == 5_781_142 - 9 * 3 * 3 * 3
    assert not frozen.pf_conv.weight.requires_grad
    assert not model.att.local_att.weight.requires_grad and not model.median.weight.requires_grad


def test_state_dict_keys_and_shapes_equal_official(model: IIDNet) -> None:
    path = _shared_docs() / "iid_net_state_dict.json"
    if not path.is_file():
        pytest.skip(f"{path} not found (third-party test data kept outside the repository)")
    ref = json.loads(path.read_text())
    sd = model.state_dict()
    assert set(sd) == set(ref["keys"])
    for key, shape in ref["keys"].items():
        assert list(sd[key].shape) == shape, key
    assert ref["trainable_parameters"] == count_parameters(model)
    assert ref["all_parameters"] == count_parameters(model, trainable_only=False)


def test_frozen_constants_and_pf_init(model: IIDNet) -> None:
    local = model.att.local_att.weight
    assert local.shape == (256, 1, 5, 5)
    assert torch.equal(local[0, 0], torch.tensor(LOCAL_ATTENTION_KERNEL))
    assert torch.equal(local[255, 0], local[0, 0])
    assert local[0, 0, 2, 2].item() == pytest.approx(0.07146)
    assert torch.all(model.median.weight == 0.04)
    # PF: output channels 0-8 are PF1, PF2, PF3 ×3 and equal on every input channel.
    w = IIDNet().pf_conv.weight
    pf1 = torch.tensor([[0, 0, 0], [0, -1, 0], [0, 1, 0]], dtype=torch.float32)
    pf2 = torch.tensor([[0, 0, 0], [0, -1, 1], [0, 0, 0]], dtype=torch.float32)
    pf3 = torch.tensor([[0, 0, 0], [0, -1, 0], [0, 0, 1]], dtype=torch.float32)
    for idx, pf in enumerate([pf1, pf2, pf3] * 3):
        for c in range(3):
            assert torch.equal(w[idx, c], pf)
    # PF1 on a vertical ramp x(i, j) = i in each channel: 3 × (x(i+1, j) − x(i, j)) = 3 inside.
    ramp = torch.arange(6.0).view(1, 1, 6, 1).expand(1, 3, 6, 5)
    out = F.conv2d(ramp, w, padding=1)
    assert torch.all(out[0, 0, :-1] == 3.0)
    assert torch.all(out[0, 1, :, :-1] == 0.0)  # horizontal difference of a vertical ramp


def test_feature_and_output_sizes_odd(model: IIDNet) -> None:
    x = torch.randn(1, 3, 67, 75, generator=_gen(1))
    with torch.no_grad():
        feats = model.features(x)
        out = model(x)
    # ⌈n/2⌉ per stride-2 stage: 67 → 34 → 17 → 9, 75 → 38 → 19 → 10.
    assert feats.shape == (1, 256, 9, 10)
    assert out.mask_logits.shape == (1, 1, 67, 75)
    assert out.image_logit is None


def test_preprocessing_is_bgr_minus_one_one() -> None:
    assert IIDNet.preprocessing == Preprocessing("bgr", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    red = torch.zeros(1, 3, 2, 2)
    red[:, 0] = 1.0
    x = IIDNet.preprocessing.apply(red)
    assert torch.equal(x[0, :, 0, 0], torch.tensor([-1.0, -1.0, 1.0]))


# --------------------------------------------------------------------------- Bayar


def _official_inplace_constraint(weight: torch.Tensor) -> None:
    """Independent re-statement of the official code's in-place Bayar rewrite (docs/references.md §1):
    a (kH, kW, out, in) view, ×1e4, zero centres, then kernels [:, :, 0, k] normalised."""
    view = weight.permute(2, 3, 0, 1)
    view.mul_(10000.0)
    view[2, 2, :, :] = 0.0
    for k in range(view.shape[3]):
        flat = view[:, :, 0, k].reshape(25)
        flat = flat / flat.sum()
        flat[12] = -1.0
        view[:, :, 0, k] = flat.view(5, 5)


def test_bayar_official_matches_reference_and_never_mutates() -> None:
    torch.manual_seed(3)
    net = IIDNet(bayar_mode="official").eval()
    stored = net.bayar_conv.weight.detach().clone()
    expected = stored.clone()
    _official_inplace_constraint(expected)
    eff = net.effective_bayar_weight().detach()
    torch.testing.assert_close(eff, expected, rtol=1e-5, atol=1e-5)
    # Output channel 0: centre −1, off-centre sum exactly normalised to 1.
    assert torch.all(eff[0, :, 2, 2] == -1)
    assert torch.allclose(eff[0].sum(dim=(-2, -1)), torch.zeros(3), atol=1e-4)
    # Output channels 1-2: 1e4·W with a zero centre (the official indexing bug).
    assert torch.all(eff[1:, :, 2, 2] == 0)
    torch.testing.assert_close(eff[1:, :, 0, 0], stored[1:, :, 0, 0] * 1e4)
    x = torch.randn(1, 3, 32, 32, generator=_gen(4))
    with torch.no_grad():
        outs = [net(x).mask_logits for _ in range(3)]
    assert torch.equal(net.bayar_conv.weight, stored)
    # The official code on one device compounded ×1e4 per call; here outputs stay identical.
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[1], outs[2])


def test_bayar_gradient_is_straight_through() -> None:
    w = torch.randn(3, 3, 5, 5, generator=_gen(5), requires_grad=True)
    r = torch.randn(3, 3, 5, 5, generator=_gen(6))
    for mode in ("official", "bayar"):
        w.grad = None
        (bayar_constrain(w, mode=mode) * r).sum().backward()
        assert torch.equal(w.grad, r)


def test_bayar_mode_all_kernels_constrained() -> None:
    w = torch.randn(3, 3, 5, 5, generator=_gen(7))
    eff = bayar_constrain(w, mode="bayar")
    centre = eff[:, :, 2, 2]
    assert torch.all(centre == -1)
    off_sum = eff.sum(dim=(-2, -1)) - centre
    torch.testing.assert_close(off_sum, torch.ones(3, 3), rtol=0, atol=1e-5)
    # Ratios inside each kernel are preserved: W_eff = W / Σ_off W off the centre.
    torch.testing.assert_close(eff[1, 2, 0, 0], w[1, 2, 0, 0] / (w[1, 2].sum() - w[1, 2, 2, 2]))
    # A kernel whose off-centre weights are all zero stays finite (epsilon on the divisor).
    z = torch.zeros(1, 1, 5, 5)
    z[0, 0, 2, 2] = 0.3
    ez = bayar_constrain(z, mode="bayar")
    assert torch.isfinite(ez).all() and ez[0, 0, 2, 2] == -1 and ez[0, 0, 0, 0] == 0
    with pytest.raises(UnknownNameError, match="bayar_mode"):
        bayar_constrain(w, mode="keras")


# --------------------------------------------------------------------------- attention


def test_neighbour_count_hand_values() -> None:
    # Sample 0 column means: [1, .8, .6, .5] → largest t with mean ≥ 0.5 is 3 → T = 3.
    # Sample 1 column means: [1, .4, .2, .1] → t = 0 → T = max(0, 2) = 2.
    v = torch.tensor([[[1.0, 0.9, 0.7, 0.6], [1.0, 0.7, 0.5, 0.4]], [[1.0, 0.5, 0.3, 0.1], [1.0, 0.3, 0.1, 0.1]]])
    assert neighbour_count(v, t_mode="sample").tolist() == [3, 2]
    # Batch means: [1, .6, .4, .3] → t = 1 → T = 2 for both (the official, batch-dependent rule).
    assert neighbour_count(v, t_mode="batch").tolist() == [2, 2]
    # No column reaches 0.5 → T stays k (15 in the official code).
    low = torch.full((1, 3, 15), 0.1)
    assert neighbour_count(low).tolist() == [15]
    all_high = torch.ones(1, 3, 15)
    assert neighbour_count(all_high).tolist() == [14]


def _one_hot_attention(x: torch.Tensor, t_mode: str) -> torch.Tensor:
    """The official formulation: full N×N cosine, top-15, T loop, one-hot N×N bmm."""
    b, c, h, w = x.shape
    n = h * w
    f = x.permute(0, 2, 3, 1).reshape(b, n, c)
    dot = torch.einsum("bic,bjc->bij", f, f)
    sq = torch.einsum("bic,bic->bi", f, f)
    cos = dot / (torch.sqrt(torch.einsum("bi,bj->bij", sq, sq)) + 1e-8)
    top_v, top_i = torch.topk(cos, 15, dim=2)
    groups = [list(range(b))] if t_mode == "batch" else [[i] for i in range(b)]
    out = torch.empty_like(f)
    for g in groups:
        big_t = 15
        for t in range(15):
            if top_v[g, :, t].mean() >= 0.5:
                big_t = t
        big_t = max(2, big_t)
        acc = f[g].clone()
        for t in range(1, big_t):
            one_hot = torch.zeros(len(g), n, n)
            one_hot.scatter_(2, top_i[g, :, t : t + 1], 1.0)
            acc = acc + torch.bmm(one_hot, f[g])
        out[g] = acc / big_t
    return out.reshape(b, h, w, c).permute(0, 3, 1, 2)


def _two_kinds_of_features() -> torch.Tensor:
    gen = _gen(8)
    # Sample 0: four tight clusters (many similar neighbours, large T);
    # sample 1: independent Gaussian vectors in 32-d (small T).
    centres = torch.randn(4, 32, generator=gen)
    clustered = centres.repeat_interleave(9, dim=0) + 0.1 * torch.randn(36, 32, generator=gen)
    scattered = torch.randn(36, 32, generator=gen)
    return torch.stack([clustered, scattered]).view(2, 6, 6, 32).permute(0, 3, 1, 2).contiguous()


@pytest.mark.parametrize("t_mode", ["sample", "batch"])
def test_gather_attention_equals_one_hot_reference(t_mode: str) -> None:
    x = _two_kinds_of_features()
    values, _ = cosine_topk(x.permute(0, 2, 3, 1).reshape(2, 36, 32))
    big_t = neighbour_count(values, t_mode="sample").tolist()
    assert big_t[0] > big_t[1]  # the two samples really need different T
    ref = _one_hot_attention(x, t_mode)
    torch.testing.assert_close(global_attention(x, t_mode=t_mode), ref, rtol=1e-5, atol=1e-6)
    # Row chunking (here 3 rows per block) does not change the result.
    small = global_attention(x, t_mode=t_mode, chunk_bytes=3 * 36 * 4)
    torch.testing.assert_close(small, ref, rtol=1e-5, atol=1e-6)


def test_attention_gradient_flows_through_gathered_features() -> None:
    x = _two_kinds_of_features().requires_grad_(True)
    global_attention(x).sum().backward()
    # Each position contributes 1/T for itself plus 1/T per time it is someone's neighbour.
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert torch.all(x.grad > 0)


def test_zero_feature_vectors_give_no_nan() -> None:
    x = torch.randn(1, 8, 5, 5, generator=_gen(9))
    x[:, :, 1, 2] = 0.0
    values, _ = cosine_topk(x.permute(0, 2, 3, 1).reshape(1, 25, 8))
    assert torch.isfinite(values).all()
    assert torch.all(values[0, 1 * 5 + 2] == 0)  # a zero vector is dissimilar to everything
    out = global_attention(x)
    assert torch.isfinite(out).all()
    assert torch.isfinite(global_attention(torch.zeros(2, 8, 4, 4))).all()


def test_attention_on_maps_smaller_than_fifteen_positions() -> None:
    x = torch.randn(1, 4, 2, 2, generator=_gen(10))  # N = 4 < 15 (a 16×16 input)
    assert global_attention(x).shape == x.shape
    one = torch.randn(1, 4, 1, 1, generator=_gen(11))  # N = 1: only itself
    torch.testing.assert_close(global_attention(one), one)


# --------------------------------------------------------------------------- head


def test_median3x3_hand_values() -> None:
    x = torch.arange(16.0).view(1, 1, 4, 4)
    assert median3x3(x).view(-1).tolist() == [5.0, 6.0, 9.0, 10.0]
    spike = torch.zeros(1, 1, 3, 3)
    spike[0, 0, 1, 1] = 100.0
    assert median3x3(spike).item() == 0.0  # an isolated outlier is removed
    with pytest.raises(ShapeError):
        median3x3(torch.zeros(1, 2, 4, 4))


def test_box_smoothing_option() -> None:
    torch.manual_seed(12)
    med, box = IIDNet(smoothing="median").eval(), IIDNet(smoothing="box").eval()
    box.load_state_dict(med.state_dict())
    x = torch.randn(1, 3, 40, 40, generator=_gen(13))
    with torch.no_grad():
        a, b = med(x).mask_logits, box(x).mask_logits
        decoded = med.decision(med.att(med.features(x)))
    assert a.shape == b.shape == (1, 1, 40, 40)
    # 40 → 5 at stride 8, decoded back to 40: median output is 38×38, box output 40×40.
    torch.testing.assert_close(b, F.conv2d(decoded, torch.full((1, 1, 5, 5), 0.04), padding=2))
    torch.testing.assert_close(a, F.interpolate(median3x3(decoded), size=(40, 40)))


# --------------------------------------------------------------------------- batch behaviour


def test_sample_t_equals_batch_t_at_batch_one_and_no_leakage(model: IIDNet) -> None:
    x = torch.randn(2, 3, 64, 64, generator=_gen(14))
    x[1] = x[1] * 0.2 + 0.5  # a clearly different second image
    with torch.no_grad():
        alone = [model(x[i : i + 1]).mask_logits for i in range(2)]
        together = model(x).mask_logits
        model.att.t_mode = "batch"
        try:
            batch_t_alone = model(x[:1]).mask_logits
        finally:
            model.att.t_mode = "sample"
    assert torch.equal(batch_t_alone, alone[0])
    for i in range(2):
        torch.testing.assert_close(together[i : i + 1], alone[i], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("size", [(64, 64), (57, 71)])
def test_forward_backward(size: tuple[int, int]) -> None:
    torch.manual_seed(15)
    net = IIDNet().train()
    x = torch.randn(2, 3, *size, generator=_gen(16))
    out = net(x).mask_logits
    assert out.shape == (2, 1, *size)
    assert torch.isfinite(out).all()
    target = torch.zeros_like(out)
    target[..., : size[0] // 2, :] = 1.0
    F.binary_cross_entropy_with_logits(out, target).backward()
    for name, p in net.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
        else:
            assert p.grad is None, name
    assert net.bayar_conv.weight.grad.abs().sum() > 0


def test_input_checks(model: IIDNet) -> None:
    with pytest.raises(ShapeError, match="H, W ≥ 16"):
        model(torch.zeros(1, 3, 15, 64))
    with pytest.raises(ShapeError, match="B×3×H×W"):
        model(torch.zeros(1, 1, 64, 64))
    with pytest.raises(UnknownNameError, match="t_mode"):
        IIDNet(t_mode="gpu")
    with pytest.raises(UnknownNameError, match="smoothing"):
        IIDNet(smoothing="gauss")
    # The smallest allowed size works (a 2×2 map: fewer than 15 neighbours).
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 16, 16)).mask_logits.shape == (1, 1, 16, 16)


# --------------------------------------------------------------------------- checkpoints


def _random_official_state_dict(seed: int) -> dict[str, torch.Tensor]:
    gen = _gen(seed)
    sd = {}
    for key, value in IIDNet().state_dict().items():
        if key.endswith("num_batches_tracked"):
            sd["module." + key] = torch.tensor(123)
        elif key.endswith("running_var"):
            sd["module." + key] = torch.rand(value.shape, generator=gen) + 0.5
        else:
            sd["module." + key] = torch.randn(value.shape, generator=gen) * 0.05
    return sd


def test_official_checkpoint_loads_strictly(tmp_path: Path) -> None:
    sd = _random_official_state_dict(17)
    path = tmp_path / "IID_weights.pth"
    torch.save(sd, path)
    net = create_model("iid_net", checkpoint=path, bayar_mode="official")
    assert isinstance(net, IIDNet) and not net.training and net.bayar_mode == "official"
    loaded = net.state_dict()
    for key, value in sd.items():
        assert torch.equal(loaded[key[len("module.") :]], value), key
    x = torch.randn(1, 3, 48, 48, generator=_gen(18))
    with torch.no_grad():
        out = net(x).mask_logits
        again = load_official(path)(x).mask_logits
    assert out.shape == (1, 1, 48, 48) and torch.isfinite(out).all()
    assert torch.equal(out, again)
    # The one-liner: a third-party .pth gets the official Bayar mode automatically.
    plain = create_model("iid_net", checkpoint=path)
    assert plain.bayar_mode == "official"
    with torch.no_grad():
        assert torch.equal(plain(x).mask_logits, out)
    # Saved without the frozen constants (trainable tensors only): still loads strictly.
    partial = {k: v for k, v in sd.items() if k not in ("module.median.weight", "module.att.local_att.weight")}
    torch.save(partial, tmp_path / "partial.pth")
    net2 = create_model("iid_net", checkpoint=tmp_path / "partial.pth", **IIDNet.checkpoint_kwargs)
    assert torch.equal(net2.median.weight, torch.full((1, 1, 5, 5), 0.04))
    # A tensor the network does not have is an error the user sees as one message.
    torch.save({**sd, "module.extra.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(InpaintscopeError, match="do not match"):
        create_model("iid_net", checkpoint=tmp_path / "bad.pth")
