"""The JSON answer of ``POST /v1/detect``: the results.jsonl record of the image (the one record
function of :mod:`inpaintscope.detection.report`, thresholds included) and the pictures asked
for as PNG data URLs (drawn by :meth:`~inpaintscope.detection.Detection.picture`, as ``detect``
writes them).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

import numpy as np

from ..detection import Detection
from ..detection.api import PICTURE_KINDS
from ..io import encode_image

#: pictures a client may ask for with ``images=``: the 0/255 mask, the 8-bit heatmap, the
#: overlay of the CLI (with colour bar), and the RGB image as analysed (EXIF orientation applied)
PICTURES = ("mask", "heatmap", "overlay", "image")
DEFAULT_PICTURES = ("mask", "heatmap", "overlay")


def png_data_url(array: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(encode_image(array, "png")).decode("ascii")


def pictures(det: Detection, kinds: Iterable[str]) -> dict[str, str]:
    """Each picture of ``kinds`` (see :data:`PICTURES`) as a PNG data URL."""
    out: dict[str, str] = {}
    for kind in kinds:
        if kind in PICTURE_KINDS:
            out[kind] = png_data_url(det.picture(kind))
        elif kind == "image":
            out[kind] = png_data_url(det.image)
        else:
            raise ValueError(f"unknown picture {kind!r}; choose from {', '.join(PICTURES)}")
    return out


def parse_pictures(value: str | None) -> tuple[str, ...]:
    """``images=`` of a request: a comma list of :data:`PICTURES`, ``none`` for no pictures,
    empty or absent for :data:`DEFAULT_PICTURES`."""
    if value is None or not value.strip():
        return DEFAULT_PICTURES
    items = [v.strip().lower() for v in value.split(",") if v.strip()]
    if items == ["none"]:
        return ()
    unknown = [v for v in items if v not in PICTURES]
    if unknown:
        raise ValueError(f"images: unknown picture {unknown[0]!r}; use a comma list of {', '.join(PICTURES)}, or none")
    return tuple(dict.fromkeys(items))
