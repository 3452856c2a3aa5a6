"""Losses against values computed by hand (single pixels with logit 0, i.e. p = 0.5)."""

from __future__ import annotations

import math

import pytest
import torch

from inpaintscope.train.losses import (
    LossSpecError,
    bce_loss,
    build_loss,
    iid_focal_bce,
    image_bce_loss,
    parse_loss_spec,
    sigmoid_focal_loss,
    soft_dice_loss,
)

LN2 = math.log(2)
SIG_HALF = 1 / (1 + math.exp(-0.5))  # σ(0.5) = 0.6225: the second sigmoid of IID-Net's quirk


def px(logit: float, target: float) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.full((1, 1, 1, 1), logit), torch.full((1, 1, 1, 1), target)


def test_bce_and_image_bce():
    assert bce_loss(*px(0.0, 1.0)).item() == pytest.approx(LN2)
    assert image_bce_loss(torch.zeros(2, 1), torch.tensor([1, 0])).item() == pytest.approx(LN2)


def test_focal_hand_values():
    # p = 0.5: CE = ln 2, (1 - p_t)^2 = 1/4; α_t = 0.25 for y = 1 and 0.75 for y = 0
    assert sigmoid_focal_loss(*px(0.0, 1.0)).item() == pytest.approx(0.25 * 0.25 * LN2)
    assert sigmoid_focal_loss(*px(0.0, 0.0)).item() == pytest.approx(0.75 * 0.25 * LN2)
    # mean over elements, and the parameters do what they say (α = -1: no weighting, γ = 1)
    logits, target = torch.zeros(1, 1, 1, 2), torch.tensor([[[[1.0, 0.0]]]])
    assert sigmoid_focal_loss(logits, target).item() == pytest.approx(0.5 * LN2 / 4)
    assert sigmoid_focal_loss(logits, target, alpha=-1, gamma=1).item() == pytest.approx(0.5 * LN2)


def test_focal_matches_formula_on_random_soft_targets():
    g = torch.Generator().manual_seed(0)
    logits, target = torch.randn(2, 1, 5, 5, generator=g) * 3, torch.rand(2, 1, 5, 5, generator=g)
    p = torch.sigmoid(logits)
    ce = -(target * torch.log(p) + (1 - target) * torch.log(1 - p))
    p_t = p * target + (1 - p) * (1 - target)
    expected = ((0.3 * target + 0.7 * (1 - target)) * (1 - p_t) ** 1.5 * ce).mean()
    assert sigmoid_focal_loss(logits, target, alpha=0.3, gamma=1.5).item() == pytest.approx(expected.item(), rel=1e-5)


def test_soft_dice_hand_values():
    logits = torch.zeros(1, 1, 2, 2)  # p = 0.5 everywhere
    target = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    # Σpy = 0.5, Σp = 2, Σy = 1, smooth 1 → dice = 2 / 4 → loss 0.5
    assert soft_dice_loss(logits, target).item() == pytest.approx(0.5)
    # empty target, confident empty prediction → ~0 (smooth keeps it defined)
    assert soft_dice_loss(torch.full((1, 1, 2, 2), -30.0), torch.zeros(1, 1, 2, 2)).item() == pytest.approx(0, abs=1e-6)


def test_iid_faithful_hand_values():
    # y = 1: p_t = σ(σ(0)) = σ(0.5); focal = 0.25 (1 - σ(0.5))² ln 2; plus BCE ln 2
    assert iid_focal_bce(*px(0.0, 1.0), faithful=True).item() == pytest.approx(0.25 * (1 - SIG_HALF) ** 2 * LN2 + LN2)
    # y = 0: p_t = 1 - σ(0.5); α = 0.75
    expected_neg = 0.75 * SIG_HALF**2 * LN2 + LN2
    assert iid_focal_bce(*px(0.0, 0.0), faithful=True).item() == pytest.approx(expected_neg)
    # a soft 0.6 is not "y == 1 exactly": it takes the negative branch (α 0.75, p_t = 1 - σ(p)),
    # and its BCE at p = 0.5 is ln 2 as well, so the value equals the y = 0 one
    assert iid_focal_bce(*px(0.0, 0.6), faithful=True).item() == pytest.approx(expected_neg)


def test_iid_faithful_log_clamp_vs_corrected():
    # p = σ(-200) = 0 in float32: log clamps at -100 → BCE 100; σ(p) = 0.5 → focal 0.25·0.25·100
    assert iid_focal_bce(*px(-200.0, 1.0), faithful=True).item() == pytest.approx(100 + 6.25)
    # the corrected form takes p_t from p itself (p_t = 0.5 at logit 0) and BCE from the logits
    assert iid_focal_bce(*px(0.0, 1.0)).item() == pytest.approx(0.25 * 0.25 * LN2 + LN2)
    corrected = iid_focal_bce(*px(-200.0, 1.0)).item()
    assert corrected == pytest.approx(0.25 * 1.0 * 200 + 200)  # p_t = 0: full focal weight, exact BCE
    logits = torch.randn(2, 1, 4, 4, requires_grad=True)
    iid_focal_bce(logits, (torch.rand(2, 1, 4, 4) > 0.5).float(), faithful=True).backward()
    assert torch.isfinite(logits.grad).all()


def test_spec_parsing_and_combination():
    terms = parse_loss_spec("bce+dice:0.5")
    assert [(t.name, t.weight) for t in terms] == [("bce", 1.0), ("dice", 0.5)]
    logits = torch.zeros(1, 1, 2, 2)
    target = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    assert build_loss("bce+dice:0.5")(logits, target).item() == pytest.approx(LN2 + 0.5 * 0.5)
    spec = parse_loss_spec("focal(alpha=0.5,gamma=1):2")
    assert spec[0].params == {"alpha": 0.5, "gamma": 1.0} and spec[0].weight == 2.0
    # (0.5 · 0.5 · ln 2 per pixel) × 2
    assert build_loss("focal(alpha=0.5,gamma=1):2")(*px(0.0, 1.0)).item() == pytest.approx(2 * 0.25 * LN2)
    assert build_loss("iid_faithful")(*px(0.0, 1.0)).item() == pytest.approx(
        iid_focal_bce(*px(0.0, 1.0), faithful=True).item()
    )


@pytest.mark.parametrize("bad", ["", "foo", "focal(beta=1)", "bce:x", "focal(alpha=a)", "bce++dice"])
def test_bad_specs_raise_user_errors(bad):
    with pytest.raises(LossSpecError):
        parse_loss_spec(bad)


def test_shape_mismatch_is_explained():
    with pytest.raises(ValueError, match="same shape"):
        bce_loss(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 2, 2))
