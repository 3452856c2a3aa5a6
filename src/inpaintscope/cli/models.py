"""``inpaintscope models``: list the registered detectors and their sizes."""

from __future__ import annotations

import click


@click.command("models")
@click.option("--params/--no-params", default=False, help="Instantiate each model to count its parameters (slower).")
def models(params: bool) -> None:
    """List registered detector models (names usable with create_model / --model)."""
    from ..models import count_parameters, create_model, list_models

    for name in list_models():
        if params:
            n = count_parameters(create_model(name))
            click.echo(f"{name:<16} {n:>12,d} trainable parameters")
        else:
            click.echo(name)
