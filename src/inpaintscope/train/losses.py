"""Training losses: pure functions of mask logits ``B×1×H×W`` and targets in [0, 1].

Every function takes *logits* (never probabilities), computes in float32 (so autocast never
runs a log in half precision) and returns a scalar mean. Combinations are written as a spec
string and built by :func:`build_loss`:

* ``"focal"``: :func:`sigmoid_focal_loss` with α = 0.25, γ = 2 (torchvision's defaults, the
  loss of the Bochum report's FCN-ResNet50 and NIX-Net; docs/references.md, §2, §3 and §5);
* ``"bce"``: :func:`bce_loss`; ``"dice"``: :func:`soft_dice_loss`;
* ``"iid"`` / ``"iid_faithful"``: IID-Net's focal term + BCE (Wu & Zhou 2022), corrected or
  exactly as the official code computes it (:func:`iid_focal_bce`);
* terms are joined with ``+`` and take an optional weight after ``:`` and optional
  parameters in brackets: ``"bce+dice:0.5"``, ``"focal(alpha=0.5,gamma=1)+dice:2"``.

The Bochum report: P. Adler, H. Günther, D. Gann, H. Ehringfeld, "Inpainting Detection", student
project report (MPDL project, group 2), Ruhr-Universität Bochum, 2023.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..errors import InpaintscopeError

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class LossSpecError(InpaintscopeError, ValueError):
    """A loss spec string that cannot be parsed."""


def _check(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if logits.shape != target.shape:
        raise ValueError(
            f"logits {tuple(logits.shape)} and target {tuple(target.shape)} must have the same shape; "
            "the model must return mask logits at input size"
        )
    return logits.float(), target.float()


def bce_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy on logits (numerically stable; soft targets allowed)."""
    logits, target = _check(logits, target)
    return F.binary_cross_entropy_with_logits(logits, target)


def sigmoid_focal_loss(
    logits: torch.Tensor, target: torch.Tensor, *, alpha: float = 0.25, gamma: float = 2.0
) -> torch.Tensor:
    """Sigmoid focal loss (Lin et al., ICCV 2017), mean over all elements.

    ``FL = α_t (1 − p_t)^γ · BCE`` with ``p_t = p·y + (1−p)(1−y)`` and
    ``α_t = α·y + (1−α)(1−y)``; ``alpha < 0`` disables the weighting. Same definition and
    defaults as ``torchvision.ops.sigmoid_focal_loss`` (which the Bochum report used).
    """
    logits, target = _check(logits, target)
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * target + (1 - alpha) * (1 - target)) * loss
    return loss.mean()


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, *, smooth: float = 1.0) -> torch.Tensor:
    """``1 − (2Σpy + s)/(Σp + Σy + s)`` per image, averaged over the batch.

    Per image (not pooled over the batch) so a small hole weighs as much as a large one;
    ``smooth`` keeps images with an empty target and an empty prediction at loss 0.
    """
    logits, target = _check(logits, target)
    p = torch.sigmoid(logits).flatten(1)
    y = target.flatten(1)
    inter = (p * y).sum(1)
    dice = (2 * inter + smooth) / (p.sum(1) + y.sum(1) + smooth)
    return (1 - dice).mean()


def _log_clamped(x: torch.Tensor) -> torch.Tensor:
    # PyTorch's binary_cross_entropy clamps log at -100; the official IID-Net loss inherits it.
    return torch.clamp(torch.log(x), min=-100.0)


def iid_focal_bce(logits: torch.Tensor, target: torch.Tensor, *, faithful: bool = False) -> torch.Tensor:
    """IID-Net's loss: focal term + BCE, weight 1 : 1 (docs/references.md, §1, the loss row).

    ``faithful=True`` reproduces the official code exactly: both terms on the probability map
    ``p = σ(logits)`` with the −100 log clamp; α = 0.25 where ``y == 1`` exactly, else 0.75;
    and ``p_t`` built from a *second* sigmoid ``σ(p)`` (the double-sigmoid quirk that limits
    the modulation to [0.072, 0.25] for positives). ``faithful=False`` keeps the balance
    (same α split, γ = 2, BCE 1 : 1) but takes ``p_t`` from ``p`` itself and the BCE from the
    logits, which is the evident intent and numerically stable.
    """
    logits, target = _check(logits, target)
    p = torch.sigmoid(logits)
    positive = target == 1.0
    alpha = torch.where(positive, 0.25, 0.75)
    if faithful:
        bce = -(target * _log_clamped(p) + (1 - target) * _log_clamped(1 - p))
        s = torch.sigmoid(p)
        p_t = torch.where(positive, s, 1 - s)
    else:
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        p_t = torch.where(positive, p, 1 - p)
    focal = alpha * (1 - p_t) ** 2 * bce
    return focal.mean() + bce.mean()


def image_bce_loss(image_logit: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """BCE of the image-level logit ``B×1`` (or ``B``) against the label (1 = manipulated)."""
    return F.binary_cross_entropy_with_logits(image_logit.float().reshape(-1), label.float().reshape(-1))


_TERMS: dict[str, tuple[Callable[..., torch.Tensor], dict[str, type]]] = {
    "focal": (sigmoid_focal_loss, {"alpha": float, "gamma": float}),
    "bce": (bce_loss, {}),
    "dice": (soft_dice_loss, {"smooth": float}),
    "iid": (lambda lo, t: iid_focal_bce(lo, t, faithful=False), {}),
    "iid_faithful": (lambda lo, t: iid_focal_bce(lo, t, faithful=True), {}),
}

_TERM_RE = re.compile(r"^(?P<name>[a-z_]+)(?:\((?P<params>[^)]*)\))?(?::(?P<weight>[-+0-9.eE]+))?$")


@dataclass(frozen=True)
class LossTerm:
    name: str
    weight: float = 1.0
    params: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class CombinedLoss:
    """A weighted sum of loss terms; callable as ``loss(logits, target)``."""

    terms: tuple[LossTerm, ...]
    spec: str

    def __call__(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        total = logits.new_zeros((), dtype=torch.float32)
        for term in self.terms:
            fn = _TERMS[term.name][0]
            total = total + term.weight * fn(logits, target, **term.params)
        return total


def parse_loss_spec(spec: str) -> tuple[LossTerm, ...]:
    """Parse ``"focal+bce"``, ``"bce+dice:0.5"``, ``"focal(alpha=0.5,gamma=1):2"`` into terms."""
    if not spec or not spec.strip():
        raise LossSpecError("empty loss spec; use e.g. 'focal', 'bce+dice:0.5' or 'iid_faithful'")
    terms = []
    for raw in spec.replace(" ", "").split("+"):
        m = _TERM_RE.match(raw)
        if m is None:
            raise LossSpecError(f"cannot parse loss term {raw!r} in {spec!r}; write name[(k=v,...)][:weight]")
        name = m["name"]
        if name not in _TERMS:
            raise LossSpecError(f"unknown loss {name!r} in {spec!r}; choose from {', '.join(sorted(_TERMS))}")
        allowed = _TERMS[name][1]
        params: dict[str, float] = {}
        for item in filter(None, (m["params"] or "").split(",")):
            key, _, value = item.partition("=")
            if key not in allowed:
                raise LossSpecError(f"loss {name!r} has no parameter {key!r}; it takes {sorted(allowed) or 'none'}")
            try:
                params[key] = allowed[key](value)
            except ValueError:
                raise LossSpecError(f"loss {name!r}: {key}={value!r} is not a number") from None
        try:
            weight = float(m["weight"]) if m["weight"] is not None else 1.0
        except ValueError:
            raise LossSpecError(f"loss term {raw!r}: weight {m['weight']!r} is not a number") from None
        terms.append(LossTerm(name, weight, params))
    return tuple(terms)


def build_loss(spec: str) -> CombinedLoss:
    """Build a callable weighted loss from a spec string (see the module docstring)."""
    return CombinedLoss(parse_loss_spec(spec), spec)
