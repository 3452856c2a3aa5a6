"""Fitting how an opt-in cue joins a detector: the autoencoder-trace cue's fusion parameters.

The detector is trained without the autoencoder cue (four autoencoder passes per training
crop would cost more than the training itself on a CPU), so its map enters afterwards, by
logistic regression on validation photos — the cheap "late fusion" path: the detector's
logits and the cue's features are the inputs, the ground truth the target.

* **pixels** (``pixel_form="max"``): the cue's own logit ``b·ratio + c``, fitted on up to
  ``pixels_per_image`` pixels per image drawn at random (authentic photos: all negative;
  manipulated ones: their ``core`` ground truth), classes weighted equally, joins the detector's
  as ``max(mask_logit, b·ratio + c)``; then ``c`` is lowered, if needed, until the cue alone
  flags at most ``max_added_area`` of the authentic pixels the detector leaves clean, so the
  opt-in cue costs a bounded false-positive area. (``pixel_form="linear"``, the first form:
  ``a·mask_logit + b·ratio + c`` by one logistic regression; it let the ratio outvote the
  detector on the pasted fills it had found: realfake f1 0.75 → 0.40 in the thorough mode.)
* **image**: ``α·image_logit + β·q99(ratio) + δ·median(ratio) + γ`` on every image, classes
  weighted equally (the calibrated score keeps meaning "as likely inpainted as not");
* **regenerated**: the threshold on the median ratio halfway between the largest authentic
  median and the smallest median of a fully re-decoded frame (the ``inpainted`` mode of an
  autoencoder inpainter) when they separate, else the one with the best balanced accuracy.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InpaintscopeError


def sigmoid(t: np.ndarray) -> np.ndarray:
    """σ(t) = (1 + tanh(t/2)) / 2: no overflow for the ±40-ish logits of confident images."""
    return 0.5 * (1.0 + np.tanh(0.5 * t))


def fit_logistic(
    x: np.ndarray, y: np.ndarray, *, balanced: bool = True, l2: float = 1e-4, max_iter: int = 100
) -> np.ndarray:
    """Weights ``w`` (one per column of ``x``) and bias, last, maximising the (class-balanced)
    logistic likelihood with a small L2 penalty on the weights (Newton's method)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if x.ndim != 2 or x.shape[0] != y.size:
        raise InpaintscopeError(f"need an N×K feature matrix and N labels, got {x.shape} and {y.size}")
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        raise InpaintscopeError("fusion needs both classes (authentic and manipulated)")
    weight = np.where(y == 1, 0.5 / n_pos, 0.5 / (y.size - n_pos)) if balanced else np.full(y.size, 1 / y.size)
    a = np.hstack([x, np.ones((x.shape[0], 1))])
    w = np.zeros(a.shape[1])
    reg = np.full(a.shape[1], l2)
    reg[-1] = 0.0  # the bias is not penalised
    for _ in range(max_iter):
        p = sigmoid(a @ w)
        grad = a.T @ (weight * (p - y)) + reg * w
        hess = (a * (weight * p * (1 - p))[:, None]).T @ a + np.diag(reg)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    return w


def regenerated_threshold(authentic: Iterable[float], regenerated: Iterable[float]) -> float:
    """A median-ratio threshold separating authentic photos from fully re-decoded frames."""
    neg, pos = np.sort(np.asarray(list(authentic), float)), np.sort(np.asarray(list(regenerated), float))
    if not neg.size or not pos.size:
        raise InpaintscopeError("the regenerated threshold needs authentic photos and fully re-decoded frames")
    if neg[-1] < pos[0]:
        return float((neg[-1] + pos[0]) / 2)
    candidates = np.unique(np.concatenate([neg, pos]))
    bacc = [0.5 * ((neg < t).mean() + (pos >= t).mean()) for t in candidates]
    return float(candidates[int(np.argmax(bacc))])


#: the share of authentic pixels (those the detector leaves clean) the cue may flag on its own
#: (chosen on validation data: benchmarks/autoencoder_fusion_sweep.py)
DEFAULT_MAX_ADDED_AREA = 0.005
#: how far below 0 the cue's logit sits at the cap's boundary ratio. ``detect`` flags a pixel at
#: probability >= 0.5, so a boundary at logit 0 itself would flag every pixel tied on it (flat,
#: clipped areas all share one ratio); 1e-3 is far above float32's rounding of the sigmoid at 0.5
CUE_LOGIT_MARGIN = 1e-3


@dataclass(frozen=True)
class FusionInput:
    """What the fusion is fitted on, for one item: the detector's outputs, the ratio map and the truth."""

    mode: str | None
    label: int
    mask_logits: np.ndarray
    image_logit: float
    ratio: np.ndarray
    truth: np.ndarray


def fusion_inputs(
    loaded: Any,
    dataset: Any,
    round_trip: Any,
    *,
    window: int = 32,
    skip_modes: Sequence[str] = (),
    progress: bool = True,
) -> Iterator[FusionInput]:
    """The detector's maps and the ratio map of each item of ``dataset``, in order (items of a
    mode in ``skip_modes`` are passed over before any work)."""
    from tqdm.auto import tqdm

    from ..detection.tiling import predict_tiled
    from ..models.cues.autoencoder import ratio_map

    for item in tqdm(dataset, desc="fusion", unit="image", disable=not progress):
        mode = item["meta"].get("mode")
        if mode in skip_modes:
            continue
        rgb = (item["image"].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        pred = predict_tiled(loaded.detector, rgb, device=loaded.device)
        ratio = ratio_map(rgb, round_trip, window=window)
        label = int(item["label"])
        truth = np.zeros(ratio.shape, bool) if label == 0 else item["mask"][0].numpy() > 0.5
        logit = 0.0 if pred.image_logit is None else float(pred.image_logit)
        yield FusionInput(mode, label, pred.mask_logits, logit, ratio, truth)


def sample_pixels(x: FusionInput, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``n`` random pixels of one item: (N×2 [mask_logit, ratio], their N truth values)."""
    pick = rng.choice(x.truth.size, size=min(n, x.truth.size), replace=False)
    features = np.stack([x.mask_logits.reshape(-1)[pick], x.ratio.reshape(-1)[pick]], axis=1)
    return features, x.truth.reshape(-1)[pick]


def fit_cue_logit(
    mask_logits: np.ndarray, ratio: np.ndarray, truth: np.ndarray, *, max_added_area: float = DEFAULT_MAX_ADDED_AREA
) -> tuple[float, float, float | None]:
    """The cue's own pixel logit ``b·ratio + c`` for the ``max`` form, from sampled pixels:
    class-balanced logistic regression on the ratio, then ``c`` lowered (never raised) until
    the cue flags at most ``max_added_area`` of the authentic pixels the detector leaves clean
    (``mask_logit < 0``), counted with ``detect``'s rule (logit >= 0). Pixels tied on the boundary
    ratio stay clean (:data:`CUE_LOGIT_MARGIN`). Returns ``(b, c, that share)`` (None: no such pixel)."""
    mask_logits, ratio = np.asarray(mask_logits, float).reshape(-1), np.asarray(ratio, float).reshape(-1)
    truth = np.asarray(truth, bool).reshape(-1)
    b, c = fit_logistic(ratio[:, None], truth.astype(float))
    if b <= 0:
        raise InpaintscopeError(
            "the autoencoder ratio does not rise on the decoded regions of this data "
            f"(fitted slope {b:.3g}); fit on authentic photos and pasted-back decoded regions"
        )
    quiet = ~truth & (mask_logits < 0)
    if not quiet.any():
        return float(b), float(c), None
    # the (1 − area) quantile of the quiet pixels' ratio and everything tied on it must stay clean
    c = min(c, -b * float(np.quantile(ratio[quiet], 1.0 - max_added_area)) - CUE_LOGIT_MARGIN)
    return float(b), float(c), float(np.mean(b * ratio[quiet] + c >= 0))


def fit_autoencoder_fusion(
    loaded: Any,
    dataset: Any,
    autoencoder: str = "taef2",
    *,
    window: int = 32,
    pixels_per_image: int = 2048,
    pixel_form: str = "max",
    max_added_area: float = DEFAULT_MAX_ADDED_AREA,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Fit :class:`~inpaintscope.models.cues.autoencoder.AutoencoderFusion` for ``loaded`` (a
    :class:`~inpaintscope.detection.loader.LoadedModel`) on ``dataset`` (a reader of
    :mod:`inpaintscope.data.readers`: authentic, realfake/fakefake and, for the regenerated
    threshold, ``inpainted`` items), with ``autoencoder`` ('taef2' or a local autoencoder folder,
    recorded in the fusion so ``detect`` loads the same one). Returns the fusion and what it was
    fitted on."""
    from ..inpaint.autoencoder import load_autoencoder
    from ..models.cues.autoencoder import PIXEL_FORMS, AutoencoderFusion, ratio_statistics

    if pixel_form not in PIXEL_FORMS:
        raise InpaintscopeError(f"unknown pixel_form {pixel_form!r}; known: {', '.join(PIXEL_FORMS)}")
    if not 0.0 < max_added_area < 1.0:
        raise InpaintscopeError(f"max_added_area must be in (0, 1), got {max_added_area}")
    round_trip = load_autoencoder(autoencoder)
    rng = np.random.default_rng(seed)
    pix_x, pix_y, img_x, img_y = [], [], [], []
    medians: dict[str, list[float]] = {"authentic": [], "regenerated": []}
    for x in fusion_inputs(loaded, dataset, round_trip, window=window, progress=progress):
        q99, median = ratio_statistics(x.ratio)
        if x.mode == "authentic":
            medians["authentic"].append(median)
        if x.mode == "inpainted":
            medians["regenerated"].append(median)
        img_x.append([x.image_logit, q99, median])
        img_y.append(x.label)
        if x.mode == "inpainted":
            continue  # a re-decoded frame has no region to localise
        features, truth = sample_pixels(x, rng, pixels_per_image)
        pix_x.append(features)
        pix_y.append(truth)
    if not pix_x:
        raise InpaintscopeError("no authentic or pasted-back items to fit the pixel fusion on")
    px, py = np.concatenate(pix_x), np.concatenate(pix_y)
    added_area = None
    if pixel_form == "max":
        b, c, added_area = fit_cue_logit(px[:, 0], px[:, 1], py, max_added_area=max_added_area)
        pixel = np.array([1.0, b, c])
    else:
        pixel = fit_logistic(px, py.astype(float))
    image = fit_logistic(np.asarray(img_x), np.asarray(img_y, float))
    fusion = AutoencoderFusion(
        pixel=tuple(float(v) for v in pixel),
        image=tuple(float(v) for v in image),  # type: ignore[arg-type]
        regenerated_threshold=regenerated_threshold(medians["authentic"], medians["regenerated"]),
        window=window,
        autoencoder=autoencoder,
        pixel_form=pixel_form,
    )
    return {
        "fusion": fusion.to_dict(),
        "cue_added_authentic_area": added_area,
        "n_images": len(img_y),
        "n_manipulated": int(sum(img_y)),
        "n_pixels": int(sum(len(v) for v in pix_y)),
        "n_regenerated": len(medians["regenerated"]),
    }


def attach_autoencoder_cue(
    checkpoint: str | Path,
    out: str | Path,
    *,
    data: Sequence[str],
    split: str = "val",
    autoencoder: str = "taef2",
    window: int = 32,
    pixel_form: str = "max",
    max_added_area: float = DEFAULT_MAX_ADDED_AREA,
    seed: int = 0,
    limit: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Fit the autoencoder-cue fusion of ``checkpoint`` on ``data``'s ``split`` and write a copy of
    the checkpoint to ``out`` whose description carries it (key ``autoencoder_cue``), which is
    what ``detect --cues autoencoder`` reads. The weights are not touched. Returns the record
    written. ``data`` should hold authentic photos, pasted-back decoded regions (``realfake``
    or ``fakefake`` of an autoencoder inpainter) and, for the ``regenerated`` threshold, whole
    re-decoded frames (``inpainted``). ``limit``: fit on that many evenly spaced items (the cue
    costs four autoencoder passes per image)."""
    import torch

    from ..detection.loader import LoadedModel, resolve_model_path
    from ..models import load_detector, save_checkpoint
    from ..models.checkpoint import check_new_checkpoint
    from .selection import open_evaluation_data

    source = resolve_model_path(checkpoint)
    if Path(out).resolve() == source.resolve():
        raise InpaintscopeError("the output must differ from the input checkpoint (inputs are never overwritten)")
    check_new_checkpoint(out)  # an existing file (or its .json) is never overwritten; checked before the fit
    # the checkpoint itself (not the detect cache): its description is what gets extended
    loaded = LoadedModel(load_detector(source), str(source), torch.device("cpu"))
    dataset = open_evaluation_data(data, split=split, limit=limit)
    fitted = fit_autoencoder_fusion(
        loaded,
        dataset,
        autoencoder,
        window=window,
        pixel_form=pixel_form,
        max_added_area=max_added_area,
        seed=seed,
        progress=progress,
    )
    detector = loaded.detector
    info = dict(detector.checkpoint_info)
    info["autoencoder_cue"] = {**fitted, "data": [str(d) for d in data], "split": split}
    save_checkpoint(out, detector.state_dict(), info)
    return info["autoencoder_cue"]
