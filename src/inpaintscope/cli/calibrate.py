"""``inpaintscope calibrate``: Platt-scale a checkpoint's image score on a validation split."""

from __future__ import annotations

import click

from .common import OutputPath, comma_list


@click.command(context_settings={"show_default": True})
@click.argument("checkpoint", metavar="NAME|CHECKPOINT")
@click.option("--data", multiple=True, required=True, help="Dataset folder (repeatable); needs authentic images.")
@click.option("--split", default="val", help="Split to fit on (never the one you report).")
@click.option("--modes", default=None, help="Comma-separated compositing modes to keep.")
@click.option(
    "-o",
    "--out",
    "out",
    type=OutputPath(dir_okay=False),
    required=True,
    help="Calibrated checkpoint to write (never the input).",
)
@click.option(
    "--prior",
    type=click.Choice(["balanced", "data"]),
    default="balanced",
    help="balanced: score = probability under equal priors (0.5 treats misses and false alarms "
    "alike); data: keep the split's own manipulated/authentic mix.",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=8, help="Images per forward pass.")
@click.option("--device", default="auto", help="auto, cpu, cuda or cuda:N.")
@click.option(
    "--cues",
    type=click.Choice(["autoencoder"]),
    default=None,
    help="Instead of Platt scaling: fit how the autoencoder-trace cue joins the model "
    "(what `detect --cues autoencoder` uses) and record it in the new checkpoint.",
)
@click.option(
    "--autoencoder",
    default="taef2",
    show_default=True,
    help="With --cues autoencoder: 'taef2' (shipped) or a local autoencoder folder.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="With --cues autoencoder: fit on N evenly spaced images (four autoencoder passes each).",
)
@click.option(
    "--max-added-area",
    type=click.FloatRange(min=0.0, max=1.0, min_open=True, max_open=True),
    default=None,
    help="With --cues autoencoder: the share of authentic pixels (those the detector leaves clean) "
    "the cue may flag on its own; higher finds more of the decoded regions at more false area "
    "(benchmarks/autoencoder_fusion_sweep.py shows the trade-off) [default: 0.005].",
)
def calibrate(
    checkpoint: str,
    data: tuple[str, ...],
    split: str,
    modes: str | None,
    out: str,
    prior: str,
    batch_size: int,
    device: str,
    cues: str | None,
    autoencoder: str,
    limit: int | None,
    max_added_area: float | None,
) -> None:
    """Fit p = sigmoid(a·logit + b) to the image labels of --split and fold it into the image head.

    CHECKPOINT is a checkpoint file or a shipped model name (default), as for detect --model.

    \b
    Example (the shipped model's last step):
      inpaintscope calibrate runs/default/best.safetensors --data data/default \\
          --data data/native --split val -o runs/default/calibrated.safetensors

    The ranking (image_auc) and the pixel masks are unchanged; image_acc@0.5 and the 0.5
    decision of `detect` improve when the score was off-centre. The fit is recorded in the
    new checkpoint's description (key image_calibration). Fewer than 30 authentic or
    manipulated images give a warning: the fit would follow those few images.

    \b
    With --cues autoencoder (after Platt scaling; --data with authentic photos, decoded
    regions pasted back and whole re-decoded frames, e.g. an autoencoder-inpainter dataset
    with modes inpainted,realfake,fakefake):
      inpaintscope calibrate runs/default/calibrated.safetensors --cues autoencoder \
          --data data/ae_val --split val --limit 100 -o runs/default/shipped.safetensors
    """
    if cues is None and (limit is not None or max_added_area is not None):
        raise click.UsageError("--limit and --max-added-area apply to --cues autoencoder only")
    if cues == "autoencoder":
        from ..evaluate.fusion import DEFAULT_MAX_ADDED_AREA, attach_autoencoder_cue

        record = attach_autoencoder_cue(
            checkpoint,
            out,
            data=data,
            split=split,
            autoencoder=autoencoder,
            max_added_area=DEFAULT_MAX_ADDED_AREA if max_added_area is None else max_added_area,
            limit=limit,
            progress=True,
        )
        added = record.get("cue_added_authentic_area")
        click.echo(
            f"autoencoder-cue fusion fitted on {record['n_images']} images ({record['n_manipulated']} "
            f"manipulated, {record['n_regenerated']} fully re-decoded)"
            + ("" if added is None else f"; the cue alone flags {100 * added:.2f} % of the authentic pixels")
            + f"; wrote {out}"
        )
        return
    from ..evaluate.calibration import calibrate_checkpoint

    fit = calibrate_checkpoint(
        checkpoint,
        data,
        out=out,
        split=split,
        modes=comma_list(modes),
        balanced=prior == "balanced",
        batch_size=batch_size,
        device=device,
        progress=True,
    )
    click.echo(
        f"calibrated on {fit.n} images ({fit.n_positive} manipulated): logit' = {fit.scale:.4f}·logit "
        f"{fit.bias:+.4f}; mean NLL {fit.nll_before:.4f} -> {fit.nll_after:.4f}; wrote {out}"
    )
