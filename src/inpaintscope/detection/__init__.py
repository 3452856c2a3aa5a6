"""Detect inpainted regions: ``detect(image) -> Detection`` (also ``inpaintscope.detect``), tiled for any image size.

See :mod:`.api` for the meaning of every field, :mod:`.tiling` for how large images are cut and
blended, :mod:`.loader` for what ``model=`` accepts, :mod:`.report` for the per-image record
(:func:`detection_record`) and the results files, :mod:`.outputs` for the output folder, and
:mod:`.batch` for folders (the CLI).
"""

from ..scoring import FALLBACK_PERCENTILE
from .api import (
    DEFAULT_IMAGE_THRESHOLD,
    DEFAULT_PIXEL_THRESHOLD,
    Detection,
    ModelOutputError,
    Region,
    default_min_region_area,
    detect,
    find_regions,
)
from .loader import (
    DEFAULT_MODEL,
    WEIGHTS_DIR,
    LoadedModel,
    clear_model_cache,
    load_model,
    resolve_device,
    resolve_model_path,
)
from .report import RECORD_KEYS, InputFingerprint, detection_record
from .tiling import DEFAULT_OVERLAP, DEFAULT_TILE, TiledPrediction, predict_tiled, run_model, tile_starts

__all__ = [
    "DEFAULT_IMAGE_THRESHOLD",
    "DEFAULT_MODEL",
    "DEFAULT_OVERLAP",
    "DEFAULT_PIXEL_THRESHOLD",
    "DEFAULT_TILE",
    "FALLBACK_PERCENTILE",
    "RECORD_KEYS",
    "WEIGHTS_DIR",
    "Detection",
    "InputFingerprint",
    "LoadedModel",
    "ModelOutputError",
    "Region",
    "TiledPrediction",
    "clear_model_cache",
    "default_min_region_area",
    "detect",
    "detection_record",
    "find_regions",
    "load_model",
    "predict_tiled",
    "resolve_device",
    "resolve_model_path",
    "run_model",
    "tile_starts",
]
