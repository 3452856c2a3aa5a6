"""``inpaintscope demo`` (interim, until the detector lands): build a small dataset end to end.

The photos are made at run time from scikit-image's bundled sample images (no third-party
data ships with inpaintscope): each sample and two crops of it, so the demo has a dozen
photos for its train/val/test split.
"""
from __future__ import annotations

from pathlib import Path

import click
import numpy as np

#: scikit-image samples bundled with the wheel (no download needed).
SAMPLES = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field")


def make_demo_photos(directory: str | Path, *, names: tuple[str, ...] = SAMPLES) -> list[Path]:
    """Write the demo photos as PNG into ``directory`` and return their paths.

    Each sample gives the whole picture and its left and right square halves, so the photos
    differ in content and size, as real sources do. Deterministic (no randomness involved).
    """
    from skimage import data as skdata

    from ..io import write_image

    directory = Path(directory)
    paths: list[Path] = []
    for name in names:
        img = np.ascontiguousarray(getattr(skdata, name)()[..., :3])
        h, w = img.shape[:2]
        side = min(h, w)
        views = {"full": img, "left": img[:side, :side], "right": img[h - side:, w - side:]}
        for view, arr in views.items():
            path = directory / f"{name}_{view}.png"
            if not path.exists():
                write_image(path, np.ascontiguousarray(arr))
            paths.append(path)
    return paths


@click.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="inpaintscope-demo", show_default=True,
              help="Folder for the generated photos (photos/) and the dataset (dataset/).")
@click.option("--size", type=click.IntRange(min=64), default=256, show_default=True, help="Side of the samples in px.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Worker processes [default: min(2, CPUs)].")
def demo(out_dir: str, size: int, workers: int | None) -> None:
    """Build a small inpainting dataset from scikit-image's sample photos and print its summary.

    \b
    Uses rectangle + stroke masks, the telea, ns and patchmatch inpainters and the report's
    realfake compositing. Running it again reuses the finished samples.
    """
    from ..data.builder import BuildConfig, build_dataset
    from .dataset import user_errors

    out = Path(out_dir)
    photos = out / "photos"
    with user_errors():
        make_demo_photos(photos)
        cfg = BuildConfig(masks=("rectangle", "strokes"), inpainters=("telea", "ns", "patchmatch"),
                          modes=("realfake",), per_image=2, size=size, seed=0)
        summary = build_dataset([photos], out / "dataset", cfg, workers=workers, echo=click.echo)
    n = summary["samples"]
    click.echo(f"\ndemo: {n} inpainted samples in {out / 'dataset'}; open any <id>.realfake.png next to its "
               "<id>.mask.png,\nor read them in Python with inpaintscope.data.open_dataset("
               f"{str(out / 'dataset')!r}).")
