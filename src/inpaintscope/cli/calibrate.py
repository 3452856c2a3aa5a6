"""``inpaintscope calibrate``: Platt-scale a checkpoint's image score on a validation split."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import InpaintscopeError
from .train import UserError, comma_list


@click.command(context_settings={"show_default": True})
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--data", multiple=True, required=True, help="Dataset folder (repeatable); needs authentic images.")
@click.option("--split", default="val", help="Split to fit on (never the one you report).")
@click.option("--modes", default=None, help="Comma-separated compositing modes to keep.")
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False), required=True,
              help="Calibrated checkpoint to write (never the input).")
@click.option("--prior", type=click.Choice(["balanced", "data"]), default="balanced",
              help="balanced: score = probability under equal priors (0.5 treats misses and false alarms "
                   "alike); data: keep the split's own manipulated/authentic mix.")
@click.option("--batch-size", type=int, default=8)
@click.option("--device", default="auto", help="auto, cpu, cuda or cuda:N.")
def calibrate(checkpoint: str, data: tuple[str, ...], split: str, modes: str | None, out: str, prior: str,
              batch_size: int, device: str) -> None:
    """Fit p = sigmoid(a·logit + b) to the image labels of --split and fold it into the image head.

    \b
    Example (the shipped model's last step):
      inpaintscope calibrate runs/default/best.safetensors --data data/default \\
          --data data/native --split val -o runs/default/calibrated.safetensors

    The ranking (image_auc) and the pixel masks are unchanged; image_acc@0.5 and the 0.5
    decision of `detect` improve when the score was off-centre. The fit is recorded in the
    new checkpoint's description (key image_calibration).
    """
    try:
        _calibrate(checkpoint, data, split, modes, out, prior, batch_size, device)
    except InpaintscopeError as e:
        raise UserError(str(e)) from None


def _calibrate(checkpoint: str, data: tuple[str, ...], split: str, modes: str | None, out: str, prior: str,
               batch_size: int, device: str) -> None:
    if not Path(checkpoint).is_file():
        raise InpaintscopeError(f"{checkpoint}: checkpoint not found")
    if Path(out).resolve() == Path(checkpoint).resolve():
        raise InpaintscopeError("--out must differ from the input checkpoint (inputs are never overwritten)")
    from ..evaluate import evaluate
    from ..evaluate.calibration import fit_platt, fold_image_calibration, logits_from_scores
    from ..models import load_detector, save_checkpoint
    from ..data.specs import open_data

    mode_list = comma_list(modes)
    model = load_detector(checkpoint)
    dataset = open_data(list(data), split=split, modes=mode_list, include_authentic=True)
    report = evaluate(model, dataset, batch_size=batch_size, device=device, progress=True)
    rows = [r for r in report.per_image if r["score"] is not None]
    if not rows:
        raise InpaintscopeError(f"{checkpoint}: the model has no image head; nothing to calibrate")
    fit = fit_platt(logits_from_scores([r["score"] for r in rows]), [r["label"] for r in rows],
                    balanced=prior == "balanced")
    model = model.to("cpu")
    fold_image_calibration(model, fit)
    info = dict(model.checkpoint_info)
    info["image_calibration"] = {**fit.to_dict(), "data": list(data), "split": split,
                                 "image_acc@0.5_before": report.metrics.get("image_acc@0.5")}
    save_checkpoint(out, model.state_dict(), info)
    click.echo(f"calibrated on {fit.n} images ({fit.n_positive} manipulated): logit' = {fit.scale:.4f}·logit "
               f"{fit.bias:+.4f}; mean NLL {fit.nll_before:.4f} -> {fit.nll_after:.4f}; wrote {out}")
