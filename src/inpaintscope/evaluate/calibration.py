"""Image-score calibration: Platt scaling of a detector's image logit on held-out data.

A detector trained on crops of one image size sees other sizes and photo sources at
inference, and its image logit can rank photos well (high ``image_auc``) while the 0.5
decision is off (low ``image_acc@0.5``). Training sets are also unbalanced (the default data
has 4–6 manipulated images per authentic one), so a head trained with plain BCE learns that
prior and calls nearly everything inpainted. Platt scaling (Platt, "Probabilistic outputs for
support vector machines", 1999) fits ``p = sigmoid(a·z + b)`` to the labels of a validation
split by maximum likelihood; ``a > 0`` keeps the ranking, so ``image_auc`` is unchanged.

``balanced=True`` (the default) weights each class to half of the likelihood, so the
calibrated score is the probability of inpainting **under equal priors** and 0.5 is the
decision that treats a missed edit and a false alarm alike, whatever mix the data had.

The fit is folded into the detector's last image-head layer (:func:`fold_image_calibration`),
so the calibrated model is still a pure function returning logits and ``evaluate``, ``detect``
and ``train`` need no extra step. :func:`calibrate_checkpoint` is the whole workflow of
``inpaintscope calibrate``: score a split, fit, fold, write a new checkpoint.

Two parameters fitted on a handful of images follow those images, not the detector: with fewer
than :data:`MIN_IMAGES_PER_CLASS` (30) authentic or manipulated images the workflow still fits
but warns (:class:`CalibrationWarning`).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import InpaintscopeError
from .fusion import sigmoid

#: below this many images of either class (authentic, manipulated), calibration warns
MIN_IMAGES_PER_CLASS = 30


class CalibrationWarning(UserWarning):
    """The calibration data is too small for a reliable fit."""


@dataclass(frozen=True)
class PlattFit:
    """``calibrated logit = scale · logit + bias``, fitted on ``n`` images (``n_positive``
    manipulated); mean (class-weighted when ``balanced``) negative log-likelihood before and
    after the fit."""

    scale: float
    bias: float
    n: int
    n_positive: int
    nll_before: float
    nll_after: float
    balanced: bool = True

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _nll(z: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    # log(1 + e^z) − y·z, computed stably; w sums to 1
    return float(np.sum(w * (np.logaddexp(0.0, z) - y * z)))


def fit_platt(
    logits: Sequence[float] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    *,
    balanced: bool = True,
    l2: float = 1e-3,
    max_iter: int = 100,
) -> PlattFit:
    """Fit ``scale``, ``bias`` by damped Newton's method on the (weighted) mean logistic loss plus
    ``l2/2·(scale−1)²`` (the small pull towards the identity keeps separable data finite).

    ``balanced``: each class carries half the weight (equal priors, see the module doc);
    otherwise every image weighs the same. Needs both classes; ``scale`` is clamped to stay
    positive so the ranking never flips. When every logit is the same, the slope is irrelevant:
    ``scale`` stays 1 and the calibrated logit is the log-odds of the (weighted) labels, i.e. 0
    with balanced priors and ``log(n_positive / n_negative)`` without.
    """
    z = np.asarray(logits, dtype=np.float64).reshape(-1)
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    if z.shape != y.shape:
        raise InpaintscopeError(f"{z.size} logits but {y.size} labels; give one label per image")
    if not np.isfinite(z).all():
        raise InpaintscopeError("image logits must be finite to calibrate")
    if not set(np.unique(y)) <= {0.0, 1.0}:
        raise InpaintscopeError("labels must be 0 (authentic) or 1 (manipulated)")
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        raise InpaintscopeError("calibration needs authentic and manipulated images; this data has only one kind")
    if balanced:
        wt = np.where(y == 1.0, 0.5 / n_pos, 0.5 / (y.size - n_pos))
    else:
        wt = np.full(y.size, 1.0 / y.size)
    if np.ptp(z) == 0.0:
        # a and b are not identifiable (the Hessian is singular): keep the identity slope and put
        # the weighted log-odds of the labels in the bias, the exact optimum along that line
        p_pos = float(np.sum(wt * y))
        a, b = 1.0, math.log(p_pos / (1.0 - p_pos)) - float(z[0])
    else:
        a, b = _newton_platt(z, y, wt, l2=l2, max_iter=max_iter)
    return PlattFit(
        scale=float(a),
        bias=float(b),
        n=int(y.size),
        n_positive=n_pos,
        nll_before=_nll(z, y, wt),
        nll_after=_nll(a * z + b, y, wt),
        balanced=balanced,
    )


#: smallest slope the fit may reach (a non-positive one would flip or erase the ranking)
_MIN_SCALE = 1e-3


def _newton_platt(z: np.ndarray, y: np.ndarray, wt: np.ndarray, *, l2: float, max_iter: int) -> tuple[float, float]:
    """Minimise the penalised NLL over (a, b) from the identity (1, 0).

    Plain Newton diverges when the logits barely vary (a nearly singular Hessian gives a huge
    step: a model that flags everything); each step here is halved until the objective really
    decreases, and the search stops when no step does, so the result is never worse than the start.
    """

    def objective(a: float, b: float) -> float:
        return _nll(a * z + b, y, wt) + 0.5 * l2 * (a - 1.0) ** 2

    a, b = 1.0, 0.0
    current = objective(a, b)
    for _ in range(max_iter):
        p = sigmoid(a * z + b)
        r = wt * (p - y)
        v = wt * p * (1.0 - p)
        grad = np.array([np.sum(r * z) + l2 * (a - 1.0), np.sum(r)])
        hess = np.array([[np.sum(v * z * z) + l2, np.sum(v * z)], [np.sum(v * z), np.sum(v)]])
        hess += np.eye(2) * (1e-9 * np.trace(hess) + 1e-12)  # Levenberg damping: always solvable
        step = np.linalg.solve(hess, grad)
        if float(grad @ step) <= 0.0:  # not a descent direction (numerically): fall back to the gradient
            step = grad
        t, improved = 1.0, False
        while t > 1e-12:
            na, nb = max(a - t * step[0], _MIN_SCALE), b - t * step[1]
            trial = objective(na, nb)
            if math.isfinite(trial) and trial < current:
                improved = True
                break
            t *= 0.5
        if not improved:
            break
        moved = max(abs(na - a), abs(nb - b))
        a, b, current = na, nb, trial
        if moved < 1e-10:
            break
    return a, b


def check_platt_fit(fit: PlattFit) -> None:
    """Refuse a fit that must not be folded into a model: parameters that are not finite (or a
    slope that is not positive), or a calibrated score that explains the labels worse than the
    uncalibrated one (the fit failed; writing it could make the model flag everything)."""
    finite = all(math.isfinite(v) for v in (fit.scale, fit.bias, fit.nll_before, fit.nll_after))
    if not finite or fit.scale <= 0:
        raise InpaintscopeError(
            f"the calibration fit failed (scale {fit.scale:g}, bias {fit.bias:g}); need more validation "
            "images of both classes (authentic and manipulated) with varied scores; nothing was written"
        )
    if fit.nll_after > fit.nll_before + 1e-9:
        raise InpaintscopeError(
            f"the calibration fit is worse than no calibration (mean NLL {fit.nll_before:.4f} -> "
            f"{fit.nll_after:.4f}); need more validation images of both classes; nothing was written"
        )


def logits_from_scores(scores: Sequence[float]) -> np.ndarray:
    """Invert ``sigmoid`` (for reports that store probabilities), clipping 0/1 to ±36."""
    s = np.clip(np.asarray(scores, dtype=np.float64), 2.3e-16, 1.0 - 2.3e-16)
    return np.log(s) - np.log1p(-s)


def fold_image_calibration(model: torch.nn.Module, fit: PlattFit) -> None:
    """Fold ``fit`` into the model's image head (in place): its last ``nn.Linear`` with one output
    gets ``W ← scale·W`` and ``b ← scale·b + bias``. Raises for models without such a head."""
    head = getattr(model, "image_head", None)
    last = None
    if head is not None:
        linears = [m for m in head.modules() if isinstance(m, torch.nn.Linear)]
        last = linears[-1] if linears else None
    if last is None or last.out_features != 1 or last.bias is None:
        raise InpaintscopeError(
            f"{type(model).__name__} has no image head ending in a Linear layer with one "
            "output and a bias; its image score cannot be recalibrated in place"
        )
    if not (math.isfinite(fit.scale) and math.isfinite(fit.bias) and fit.scale > 0):
        raise InpaintscopeError(f"bad calibration scale {fit.scale} / bias {fit.bias}")
    with torch.no_grad():
        last.weight.mul_(fit.scale)
        last.bias.mul_(fit.scale).add_(fit.bias)


def calibrate_checkpoint(
    checkpoint: str | os.PathLike,
    data: Sequence[str],
    *,
    out: str | os.PathLike,
    split: str = "val",
    modes: Sequence[str] | None = None,
    balanced: bool = True,
    batch_size: int = 8,
    device: str | torch.device = "auto",
    progress: bool = False,
) -> PlattFit:
    """Platt-scale the image score of ``checkpoint`` (a file or a shipped model name, as
    ``detect --model`` reads it) on ``split`` of ``data`` and write the calibrated model to
    ``out``: never the input nor any existing file (checked, with ``out``'s folder, before the
    scoring starts). A failed fit is refused (:func:`check_platt_fit`) and nothing is written.
    Returns the fit, which is also recorded in the new checkpoint's description
    (``image_calibration``). Warns (:class:`CalibrationWarning`) when either class has fewer
    than :data:`MIN_IMAGES_PER_CLASS` images."""
    from ..detection.loader import resolve_model_path
    from ..models import load_detector, save_checkpoint
    from ..models.checkpoint import check_new_checkpoint
    from .evaluator import evaluate
    from .selection import open_evaluation_data

    source = resolve_model_path(checkpoint)
    if Path(out).expanduser().resolve() == source.resolve():
        raise InpaintscopeError("--out must differ from the input checkpoint (inputs are never overwritten)")
    check_new_checkpoint(out)  # before minutes of scoring: a bad -o fails now
    model = load_detector(source)
    dataset = open_evaluation_data(data, split=split, modes=modes, include_authentic=True)
    report = evaluate(
        model, dataset, batch_size=batch_size, device=device, progress=progress, progress_label="calibrate"
    )
    rows = [r for r in report.per_image if r["score"] is not None]
    if not rows:
        raise InpaintscopeError(f"{checkpoint}: the model has no image head; nothing to calibrate")
    fit = fit_platt(logits_from_scores([r["score"] for r in rows]), [r["label"] for r in rows], balanced=balanced)
    n_authentic = fit.n - fit.n_positive
    if min(fit.n_positive, n_authentic) < MIN_IMAGES_PER_CLASS:
        warnings.warn(
            f"calibrating on {fit.n_positive} manipulated and {n_authentic} authentic images; with fewer "
            f"than {MIN_IMAGES_PER_CLASS} of each the fit is unreliable (use a larger split)",
            CalibrationWarning,
            stacklevel=2,
        )
    check_platt_fit(fit)
    model = model.to("cpu")
    fold_image_calibration(model, fit)
    info = dict(model.checkpoint_info)
    info["image_calibration"] = {
        **fit.to_dict(),
        "data": list(data),
        "split": split,
        "image_acc@0.5_before": report.metrics.get("image_acc@0.5"),
    }
    save_checkpoint(out, model.state_dict(), info)
    return fit
