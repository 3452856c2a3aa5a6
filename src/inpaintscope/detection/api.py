"""``detect(image) -> Detection``: where a photo was inpainted, how sure we are, and pictures.

Conventions (the same in the library, the CLI and the results files, and the same as in
``evaluate``: both read a model's outputs with :mod:`inpaintscope.scoring`):

* ``heatmap``: float32 H×W per-pixel probability ``sigmoid(mask logit)``.
* ``score``: image-level probability of inpainting. ``sigmoid(image_logit)`` when the model has
  an image head (tiled runs: the maximum tile logit, see :mod:`.tiling`); otherwise the
  **99.9th percentile of the heatmap** (:data:`FALLBACK_PERCENTILE`): a region of at least 0.1 %
  of the image decides, while a few stray hot pixels do not.
* ``decision``: ``score >= image_threshold`` (True = called inpainted). It depends on the image
  threshold only: lowering the **pixel** threshold to see fainter areas never flags a photo.
* ``mask``: ``heatmap >= pixel_threshold`` (bool H×W): the pixel evidence, for every image.
* ``regions``: 8-connected components of the mask with at least ``min_region_area`` pixels
  (default :func:`default_min_region_area`: 0.01 % of the image, at least 16 px), largest
  first, **for an image called inpainted only**. For an image called clean the same
  components are in ``regions_below_image_threshold`` instead and are not drawn: they are not
  detections. Smaller specks stay in the mask and in ``area_fraction`` but are not listed.
* ``area_fraction``: fraction of pixels in the mask.
* ``cues=("autoencoder",)`` (opt-in, about a minute per megapixel on a CPU): the autoencoder-trace
  cue (:mod:`inpaintscope.models.cues.autoencoder`) joins the detector's logits with the fusion
  fitted for that model (stored in its checkpoint by ``inpaintscope calibrate --cues
  autoencoder``); ``regenerated`` then says whether the whole frame reads as decoder output.

A model whose output is not finite (NaN or infinity, e.g. a corrupt checkpoint) raises
:class:`ModelOutputError` instead of answering: no NaN ever reaches a score or a results file.
"""

from __future__ import annotations

import math
import numbers
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from .. import __version__
from ..errors import InpaintscopeError
from ..io import DEFAULT_MAX_PIXELS, read_image, write_image
from ..scoring import inpainted, score_outputs
from .loader import load_model
from .render import heatmap_to_uint8, mask_to_uint8, render_overlay
from .tiling import DEFAULT_OVERLAP, DEFAULT_TILE, predict_tiled

DEFAULT_PIXEL_THRESHOLD = 0.5
DEFAULT_IMAGE_THRESHOLD = 0.5
#: the pictures :meth:`Detection.picture` draws, in the order they are written
PICTURE_KINDS = ("mask", "heatmap", "overlay")


class ModelOutputError(InpaintscopeError):
    """The model answered NaN or infinity for an image (its weights are probably corrupt)."""


def default_min_region_area(height: int, width: int) -> int:
    """Smallest region listed: 0.01 % of the image, at least 16 pixels."""
    return max(16, math.ceil(1e-4 * height * width))


@dataclass(frozen=True)
class Region:
    """A connected inpainted region: box ``x0, y0, x1, y1`` (x1/y1 exclusive), pixel ``area``,
    and the mean / max probability inside the region's pixels."""

    x0: int
    y0: int
    x1: int
    y1: int
    area: int
    mean_probability: float
    max_probability: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def find_regions(mask: np.ndarray, heatmap: np.ndarray, *, min_area: int) -> list[Region]:
    """Connected regions (8-connectivity) of ``mask`` with ``area >= min_area``, largest first."""
    # a bool mask is viewed as uint8, not copied (100+ MP images)
    as_u8 = mask.view(np.uint8) if mask.dtype == bool else mask.astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(as_u8, connectivity=8, ltype=cv2.CV_32S)
    keep = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= min_area]
    if not keep:
        return []
    regions = []
    for i in keep:
        x, y, w, h, area = (int(v) for v in stats[i, :5])
        # inside the region's box only: no full-image sort or float64 copy on a 24 MP photo
        vals = heatmap[y : y + h, x : x + w][labels[y : y + h, x : x + w] == i]
        regions.append(
            Region(x, y, x + w, y + h, area, round(float(vals.mean(dtype=np.float64)), 6), round(float(vals.max()), 6))
        )
    regions.sort(key=lambda r: (-r.area, r.y0, r.x0))
    return regions


@dataclass(repr=False)
class Detection:
    """The result of :func:`detect` on one image (see the module doc for each field's meaning)."""

    mask: np.ndarray
    heatmap: np.ndarray
    score: float
    decision: bool
    regions: list[Region]
    regions_below_image_threshold: list[Region]
    area_fraction: float
    pixel_threshold: float
    image_threshold: float
    model: str
    version: str
    seconds: float
    width: int
    height: int
    #: the RGB image analysed (kept for the overlay; not copied)
    image: np.ndarray | None = None
    #: file name the image came from, when known (its name, suffix included, names the pictures of :meth:`save`)
    source: str | None = None
    #: opt-in cues used (``("autoencoder",)`` or empty)
    cues: tuple[str, ...] = ()
    #: with the autoencoder cue: the whole frame reads as decoder output (else None)
    regenerated: bool | None = None

    @property
    def verdict(self) -> str:
        """``"inpainted"`` or ``"clean"``: the decision in words."""
        return "inpainted" if self.decision else "clean"

    def __repr__(self) -> str:
        below = (
            f" (+{len(self.regions_below_image_threshold)} below the image threshold)"
            if self.regions_below_image_threshold
            else ""
        )
        source = f", source={self.source!r}" if self.source else ""
        return (
            f"Detection({self.verdict}, score={self.score:.3f} vs image threshold {self.image_threshold:g}, "
            f"{len(self.regions)} region(s){below}, area={self.area_fraction:.2%} at pixel threshold "
            f"{self.pixel_threshold:g}, {self.width}×{self.height}, model={self.model!r}{source})"
        )

    def caption(self) -> str:
        """The one line written on the overlay: decision, score and thresholds."""
        cmp = ">=" if self.decision else "<"
        n = len(self.regions) if self.decision else len(self.regions_below_image_threshold)
        regions = (
            f"{n} region{'s' if n != 1 else ''}"
            if self.decision
            else f"{n} candidate region{'s' if n != 1 else ''} not drawn"
        )
        return (
            f"{self.verdict.upper()}  score {self.score:.3f} {cmp} {self.image_threshold:g}  |  "
            f"{regions}  |  pixel threshold {self.pixel_threshold:g}"
        )

    def picture(self, kind: str) -> np.ndarray:
        """The uint8 picture ``kind`` (one of :data:`PICTURE_KINDS`): ``mask`` (0/255, H×W),
        ``heatmap`` (8-bit probability, H×W) or ``overlay`` (RGB, with caption and colour bar)."""
        if kind == "mask":
            return mask_to_uint8(self.mask)
        if kind == "heatmap":
            return heatmap_to_uint8(self.heatmap)
        if kind == "overlay":
            photo = self.image if self.image is not None else np.full((self.height, self.width, 3), 128, np.uint8)
            return render_overlay(
                photo,
                self.heatmap,
                threshold=self.pixel_threshold,
                boxes=[(r.x0, r.y0, r.x1, r.y1) for r in self.regions],
                caption=self.caption(),
                flagged=self.decision,
            )
        raise ValueError(f"unknown picture kind {kind!r}; choose one of {PICTURE_KINDS}")

    def save(
        self, directory: str | os.PathLike, stem: str | None = None, *, overlay: bool = True, overwrite: bool = False
    ) -> dict[str, Path]:
        """Write ``<stem>.mask.png`` (0/255), ``<stem>.heatmap.png`` (8-bit probability) and,
        unless ``overlay=False``, ``<stem>.overlay.png`` into ``directory``, each atomically.

        ``stem`` defaults to the source's full file name, as ``detect`` names its pictures
        (``photo.jpg`` → ``photo.jpg.mask.png``, so ``a.png`` and ``a.jpg`` never collide), and
        to ``image`` for in-memory inputs. An existing file is never replaced unless
        ``overwrite=True``: the error names it, and nothing is written. A directory that cannot
        be written fails before any picture is drawn.
        """
        from ..io.outputs import OutputPathError, check_output_folder

        directory = Path(directory)
        if stem is None:
            stem = Path(self.source).name if self.source else "image"
        if not stem or "/" in stem or os.sep in stem or stem in (".", ".."):
            raise InpaintscopeError(f"bad output stem {stem!r}: give a plain file name without folders")
        kinds = PICTURE_KINDS if overlay else PICTURE_KINDS[:2]
        paths = {kind: directory / f"{stem}.{kind}.png" for kind in kinds}
        if not overwrite:
            existing = [p for p in paths.values() if os.path.lexists(p)]
            if existing:
                raise OutputPathError(
                    f"{existing[0]} already exists; save into another folder, give another stem, "
                    "or pass overwrite=True to replace it"
                )
        check_output_folder(directory, option="folder", create=True)
        for kind, path in paths.items():
            try:
                write_image(path, self.picture(kind))
            except OSError as e:
                raise OutputPathError(f"cannot write {path} ({e.strerror or e})") from None
        return paths


def _check_probability(name: str, value: Any) -> float:
    # numbers.Real takes numpy scalars of any width (np.float32 is not a float subclass); bool is one
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
        raise InpaintscopeError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)


def resolve_thresholds(
    pixel_threshold: float | None = None, image_threshold: float | None = None, threshold: float | None = None
) -> tuple[float, float]:
    """``(pixel_threshold, image_threshold)`` from the options, defaults filled in and checked.

    ``threshold`` is the deprecated single threshold: it sets both (with a DeprecationWarning)
    and cannot be combined with either of the new ones.
    """
    if threshold is not None:
        if pixel_threshold is not None or image_threshold is not None:
            raise InpaintscopeError(
                "give either threshold (deprecated, sets both) or pixel_threshold / image_threshold, not both"
            )
        warnings.warn(
            "threshold= is deprecated: it sets both pixel_threshold and image_threshold; pass those instead",
            DeprecationWarning,
            stacklevel=3,
        )
        pixel_threshold = image_threshold = _check_probability("threshold", threshold)
    pixel = (
        DEFAULT_PIXEL_THRESHOLD if pixel_threshold is None else _check_probability("pixel_threshold", pixel_threshold)
    )
    image = (
        DEFAULT_IMAGE_THRESHOLD if image_threshold is None else _check_probability("image_threshold", image_threshold)
    )
    return pixel, image


def _check_finite_logits(logits: np.ndarray, image_logit: float | None) -> None:
    # min/max propagate NaN and expose ±inf without a full-size boolean temporary
    if logits.size and not (math.isfinite(float(logits.min())) and math.isfinite(float(logits.max()))):
        raise ModelOutputError(
            "the model's pixel output is not finite (NaN or infinity): its weights "
            "are probably corrupt; retrain or use another checkpoint"
        )
    if image_logit is not None and not math.isfinite(image_logit):
        raise ModelOutputError(
            "the model's image score is not finite (NaN or infinity): its weights "
            "are probably corrupt; retrain or use another checkpoint"
        )


#: the opt-in cues :func:`detect` knows
KNOWN_CUES = ("autoencoder",)


def check_cues(cues: Sequence[str]) -> tuple[str, ...]:
    cues = tuple(dict.fromkeys([cues] if isinstance(cues, str) else cues))
    unknown = [c for c in cues if c not in KNOWN_CUES]
    if unknown:
        raise InpaintscopeError(f"unknown cue {unknown[0]!r}; available: {', '.join(KNOWN_CUES)}")
    return cues


def _autoencoder_cue(
    loaded: Any, rgb: np.ndarray, mask_logits: np.ndarray, image_logit: float | None
) -> tuple[np.ndarray, float, bool]:
    """The detector's outputs joined with the autoencoder-trace cue (see the module doc)."""
    from ..inpaint.autoencoder import load_autoencoder
    from ..models.cues.autoencoder import AutoencoderFusion, ratio_map

    params = (getattr(loaded.detector, "checkpoint_info", None) or {}).get("autoencoder_cue")
    if params is None:
        raise InpaintscopeError(
            f"model {loaded.label} has no fitted autoencoder-cue fusion; fit one with "
            "`inpaintscope calibrate CKPT --cues autoencoder --data VAL -o NEW` (the shipped "
            "default model has one)"
        )
    fusion = AutoencoderFusion.from_dict(params.get("fusion", params))
    ratio = ratio_map(rgb, load_autoencoder(fusion.autoencoder), window=fusion.window)
    logits, fused_image, regenerated, _median = fusion.fuse(mask_logits, image_logit, ratio)
    return logits, fused_image, regenerated


def detect(
    image: Any,
    *,
    model: Any = None,
    pixel_threshold: float | None = None,
    image_threshold: float | None = None,
    threshold: float | None = None,
    cues: Sequence[str] = (),
    device: str | torch.device = "auto",
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    min_region_area: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Detection:
    """Detect inpainted regions in ``image``.

    ``image``: a path, bytes, a PIL image or a numpy array (read with
    :func:`inpaintscope.io.read_image`: EXIF orientation applied, any mode converted to RGB).
    ``model``: None (the shipped default), a shipped name, a checkpoint path or a Detector
    (see :mod:`inpaintscope.detection.loader`); files are loaded once per process.
    ``pixel_threshold`` (default 0.5): probability at which a pixel enters the mask and the
    regions; ``image_threshold`` (default 0.5): score at which the image is called inpainted.
    ``threshold``: deprecated, sets both.
    ``tile``/``overlap``: tiled inference for images larger than ``tile`` (see
    :mod:`inpaintscope.detection.tiling`). ``seconds`` counts reading and inference, not the
    one-off model load. Raises :class:`ModelOutputError` when the model answers NaN/infinity.
    """
    pixel_threshold, image_threshold = resolve_thresholds(pixel_threshold, image_threshold, threshold)
    cues, regenerated = check_cues(cues), None  # before any reading or inference
    loaded = load_model(model, device=device)
    start = time.perf_counter()
    source = os.fspath(image) if isinstance(image, (str, os.PathLike)) else None
    rgb = read_image(image, max_pixels=max_pixels)
    pred = predict_tiled(loaded.detector, rgb, tile=tile, overlap=overlap, device=loaded.device)
    _check_finite_logits(pred.mask_logits, pred.image_logit)
    if "autoencoder" in cues:
        logits, image_logit, regenerated = _autoencoder_cue(loaded, rgb, pred.mask_logits, pred.image_logit)
        pred = replace(pred, mask_logits=logits, image_logit=image_logit)
    # sigmoid in place on the (possibly 24 MP) logit buffer: no second full-size float array
    scores = score_outputs(pred.mask_logits, pred.image_logit, pixel_threshold=pixel_threshold, in_place=True)
    heatmap, mask, score = scores.heatmap, scores.mask, scores.score
    h, w = heatmap.shape
    decision = bool(inpainted(score, image_threshold))
    min_area = default_min_region_area(h, w) if min_region_area is None else int(min_region_area)
    found = find_regions(mask, heatmap, min_area=min_area)
    area_fraction = float(np.count_nonzero(mask)) / mask.size
    seconds = time.perf_counter() - start
    return Detection(
        mask=mask,
        heatmap=heatmap,
        score=score,
        decision=decision,
        regions=found if decision else [],
        regions_below_image_threshold=[] if decision else found,
        area_fraction=area_fraction,
        pixel_threshold=pixel_threshold,
        image_threshold=image_threshold,
        model=loaded.label,
        version=__version__,
        seconds=seconds,
        width=w,
        height=h,
        image=rgb,
        source=source,
        cues=cues,
        regenerated=regenerated,
    )
