"""The three compositing modes of the Bochum report (docs/references.md, §4.3).

Given an original photo and a soft 0–255 mask (255 = fully inpainted core, 1–254 = blurred band):

* ``inpainted``: the inpainter's raw output as is (for a latent-diffusion inpainter the whole image
  has been through its autoencoder, so every pixel changed a little);
* ``realfake``: ``blend(original, raw, soft)`` — pure inpainted content in the core, a blend in
  the band, the *real* original outside;
* ``fakefake``: ``blend(original, AE(original), soft)`` — the autoencoder's reconstruction of the
  original pasted into the mask; nothing was inpainted, only re-encoded, which is what makes
  detectors trained on it learn the autoencoder's trace instead of the content.

The Bochum report: P. Adler, H. Günther, D. Gann, H. Ehringfeld, "Inpainting Detection", student
project report (MPDL project, group 2), Ruhr-Universität Bochum, 2023.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..contract import check_image
from ..errors import InpaintscopeError, ShapeError

if TYPE_CHECKING:
    from .autoencoder import LatentAutoencoder
    from .base import Inpainter

MODES: tuple[str, ...] = ("inpainted", "realfake", "fakefake")


def _as_soft(soft: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if not isinstance(soft, np.ndarray):
        raise ShapeError(f"soft mask must be a numpy array, got {type(soft).__name__}")
    if soft.ndim == 3 and soft.shape[2] == 1:
        soft = soft[..., 0]
    if soft.shape != tuple(shape):
        raise ShapeError(
            f"soft mask has shape {soft.shape} but the image is {tuple(shape)}; "
            "resize it (bilinear keeps it soft) before compositing"
        )
    if soft.dtype == bool:
        return soft.astype(np.uint8) * 255
    if soft.dtype != np.uint8:
        raise ShapeError(f"soft mask must be uint8 0–255 (or bool), got {soft.dtype}")
    return soft


def blend(base: np.ndarray, fill: np.ndarray, soft: np.ndarray) -> np.ndarray:
    """``round(fill·a + base·(1 − a))`` with ``a = soft / 255``, as uint8.

    Computed in integers, ``(fill·s + base·(255 − s) + 127) // 255``: this is exact rounding
    (255 is odd, so no value is ever half-way) and gives exactly ``base`` where ``s == 0`` and
    exactly ``fill`` where ``s == 255`` — float arithmetic could be one grey level off there, which
    would plant a fake trace in pixels that are supposed to be untouched.
    """
    check_image(base, name="base")
    check_image(fill, name="fill")
    if base.shape != fill.shape:
        raise ShapeError(f"base {base.shape} and fill {fill.shape} must have the same shape")
    s = _as_soft(soft, base.shape[:2]).astype(np.uint32)[..., None]
    out = (fill.astype(np.uint32) * s + base.astype(np.uint32) * (255 - s) + 127) // 255
    return out.astype(np.uint8)


def make_composites(
    original: np.ndarray,
    soft: np.ndarray,
    modes: tuple[str, ...] | list[str] = MODES,
    *,
    inpainter: Inpainter | None = None,
    autoencoder: LatentAutoencoder | str | Path | None = None,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Build the requested composites of ``original`` under the soft mask ``soft``.

    The inpainter fills ``soft > 0`` (every pixel a composite may change) and is called at most
    once, whichever modes need it. ``autoencoder`` is a :class:`LatentAutoencoder` or the TAEF2
    weights directory (loaded once per process). Returns ``{mode: RGB uint8 image}`` in the order
    of ``modes``.
    """
    check_image(original, name="original")
    soft = _as_soft(soft, original.shape[:2])
    modes = tuple(modes)
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise InpaintscopeError(
            f"unknown compositing mode(s) {', '.join(map(repr, unknown))}; choose from {', '.join(MODES)}"
        )
    need_inpainter = any(m in ("inpainted", "realfake") for m in modes)
    if need_inpainter and inpainter is None:
        raise InpaintscopeError(
            "modes 'inpainted' and 'realfake' need an inpainter; pass inpainter="
            "create_inpainter(name) (e.g. 'telea', 'patchmatch', 'autoencoder')"
        )
    if "fakefake" in modes and autoencoder is None:
        raise InpaintscopeError(
            "mode 'fakefake' needs an autoencoder; pass autoencoder=<directory with the "
            "TAEF2 weights taef2_encoder.pth and taef2_decoder.pth>"
        )
    raw = None
    if need_inpainter:
        # realfake uses only the fill under the soft mask, which ``inpaint`` may compute on a
        # window around the hole (the autoencoder inpainter does); ``inpainted`` needs the raw frame
        hole = soft > 0
        raw = (
            inpainter.raw(original, hole, rng=rng)
            if "inpainted" in modes
            else inpainter.inpaint(original, hole, rng=rng)
        )
    out: dict[str, Any] = {}
    for mode in modes:
        if mode == "inpainted":
            out[mode] = raw
        elif mode == "realfake":
            out[mode] = blend(original, raw, soft)
        else:
            out[mode] = blend(original, _resolve_autoencoder(autoencoder).roundtrip(original), soft)
    return out


def _resolve_autoencoder(ae: Any) -> LatentAutoencoder:
    from .autoencoder import LatentAutoencoder, load_autoencoder

    if isinstance(ae, LatentAutoencoder):
        return ae
    if isinstance(ae, (str, Path)):
        return load_autoencoder(ae)
    raise InpaintscopeError(f"autoencoder must be a LatentAutoencoder or a weights directory, got {type(ae).__name__}")
