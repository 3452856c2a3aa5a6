"""``detect(image) -> Detection``: where a photo was inpainted, how sure we are, and pictures.

Conventions (the same in the library, the CLI and the results files, and the same as in
``evaluate``: both read a model's outputs with :mod:`inpaintscope.scoring`):

* ``heatmap``: float32 H×W per-pixel probability ``sigmoid(mask logit)``.
* ``mask``: ``heatmap >= threshold`` (bool H×W, True = inpainted).
* ``score``: image-level probability of inpainting. ``sigmoid(image_logit)`` when the model has
  an image head (tiled runs: the maximum tile logit, see :mod:`.tiling`); otherwise the
  **99.9th percentile of the heatmap** (:data:`FALLBACK_PERCENTILE`): a region of at least 0.1 %
  of the image decides, while a few stray hot pixels do not.
* ``decision``: ``score >= threshold``.
* ``regions``: 8-connected components of the mask with at least ``min_region_area`` pixels
  (default :func:`default_min_region_area`: 0.01 % of the image, at least 16 px), largest first.
  Smaller specks stay in the mask and in ``area_fraction`` but are not listed.
* ``area_fraction``: fraction of pixels in the mask.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
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
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8,
                                                           ltype=cv2.CV_32S)
    keep = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= min_area]
    if not keep:
        return []
    regions = []
    for i in keep:
        x, y, w, h, area = (int(v) for v in stats[i, :5])
        # inside the region's box only: no full-image sort or float64 copy on a 24 MP photo
        vals = heatmap[y:y + h, x:x + w][labels[y:y + h, x:x + w] == i]
        regions.append(Region(x, y, x + w, y + h, area, round(float(vals.mean(dtype=np.float64)), 6),
                              round(float(vals.max()), 6)))
    regions.sort(key=lambda r: (-r.area, r.y0, r.x0))
    return regions


@dataclass
class Detection:
    """The result of :func:`detect` on one image (see the module doc for each field's meaning)."""

    mask: np.ndarray
    heatmap: np.ndarray
    score: float
    decision: bool
    regions: list[Region]
    area_fraction: float
    threshold: float
    model: str
    version: str
    seconds: float
    width: int
    height: int
    #: the RGB image analysed (kept for the overlay; not copied)
    image: np.ndarray | None = field(default=None, repr=False)
    #: file name the image came from, when known (default stem for :meth:`save`)
    source: str | None = None

    def to_record(self) -> dict[str, Any]:
        """The per-image record of results.jsonl (without ``file``/``status``/``error``)."""
        return {
            "width": self.width, "height": self.height, "score": round(self.score, 6),
            "decision": self.decision, "area_fraction": round(self.area_fraction, 6),
            "regions": [r.to_dict() for r in self.regions], "model": self.model,
            "version": self.version, "seconds": round(self.seconds, 4),
        }

    def save(self, directory: str | os.PathLike, stem: str | None = None, *, overlay: bool = True) -> dict[str, Path]:
        """Write ``<stem>.mask.png`` (0/255), ``<stem>.heatmap.png`` (8-bit probability) and,
        unless ``overlay=False``, ``<stem>.overlay.png`` into ``directory``, each atomically.
        ``stem`` defaults to the source file's stem (``image`` for in-memory inputs)."""
        directory = Path(directory)
        if stem is None:
            stem = Path(self.source).stem if self.source else "image"
        if not stem or "/" in stem or os.sep in stem:
            raise InpaintscopeError(f"bad output stem {stem!r}: give a plain file name without folders")
        paths = {"mask": directory / f"{stem}.mask.png", "heatmap": directory / f"{stem}.heatmap.png"}
        write_image(paths["mask"], mask_to_uint8(self.mask))
        write_image(paths["heatmap"], heatmap_to_uint8(self.heatmap))
        if overlay:
            photo = self.image if self.image is not None else np.full((self.height, self.width, 3), 128, np.uint8)
            picture = render_overlay(photo, self.heatmap, threshold=self.threshold,
                                     boxes=[(r.x0, r.y0, r.x1, r.y1) for r in self.regions])
            paths["overlay"] = directory / f"{stem}.overlay.png"
            write_image(paths["overlay"], picture)
        return paths


def detect(
    image: Any,
    *,
    model: Any = None,
    threshold: float = 0.5,
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
    ``tile``/``overlap``: tiled inference for images larger than ``tile`` (see
    :mod:`inpaintscope.detection.tiling`). ``seconds`` counts reading and inference, not the
    one-off model load.
    """
    if not (isinstance(threshold, (int, float)) and 0.0 <= float(threshold) <= 1.0):
        raise InpaintscopeError(f"threshold must be a probability in [0, 1], got {threshold!r}")
    threshold = float(threshold)
    loaded = load_model(model, device=device)
    start = time.perf_counter()
    source = os.fspath(image) if isinstance(image, (str, os.PathLike)) else None
    rgb = read_image(image, max_pixels=max_pixels)
    pred = predict_tiled(loaded.detector, rgb, tile=tile, overlap=overlap, device=loaded.device)
    # sigmoid in place on the (possibly 24 MP) logit buffer: no second full-size float array
    scores = score_outputs(pred.mask_logits, pred.image_logit, pixel_threshold=threshold, in_place=True)
    heatmap, mask, score = scores.heatmap, scores.mask, scores.score
    h, w = heatmap.shape
    min_area = default_min_region_area(h, w) if min_region_area is None else int(min_region_area)
    regions = find_regions(mask, heatmap, min_area=min_area)
    area_fraction = float(np.count_nonzero(mask)) / mask.size
    seconds = time.perf_counter() - start
    return Detection(mask=mask, heatmap=heatmap, score=score, decision=inpainted(score, threshold),
                     regions=regions, area_fraction=area_fraction, threshold=threshold,
                     model=loaded.label, version=__version__, seconds=seconds, width=w, height=h,
                     image=rgb, source=source)
