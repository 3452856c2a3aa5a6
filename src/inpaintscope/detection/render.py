"""Pictures of a detection: the 0/255 mask, the 8-bit heatmap and the overlay an analyst reads.

The overlay blends a JET colour map of the probability onto the photo with an opacity that grows
with the probability (``ALPHA_MIN`` at 0 to ``ALPHA_MAX`` at 1), so authentic areas still show
the photo, draws each region's box, and adds a colour bar on the right with ticks at 0, 0.5 and
1 and a marker at the decision threshold. Large images are blended in row bands so a 24 MP
photo needs no full-size float copies.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

COLORMAP = cv2.COLORMAP_JET
ALPHA_MIN = 0.15
ALPHA_MAX = 0.65
_BAND_ROWS = 512
_BOX_RGB = (255, 255, 255)
_BOX_EDGE_RGB = (0, 0, 0)
_PANEL_RGB = (32, 32, 32)


def heatmap_to_uint8(heatmap: np.ndarray) -> np.ndarray:
    """Probabilities in [0, 1] → uint8 0–255 (rounded)."""
    out = np.empty(heatmap.shape, dtype=np.uint8)
    for r0 in range(0, heatmap.shape[0], _BAND_ROWS):
        band = heatmap[r0:r0 + _BAND_ROWS]
        out[r0:r0 + _BAND_ROWS] = np.clip(np.rint(band * 255.0), 0, 255).astype(np.uint8)
    return out


def mask_to_uint8(mask: np.ndarray) -> np.ndarray:
    """Bool mask → uint8 0/255."""
    return mask.astype(np.uint8) * np.uint8(255)


def colorize(heat_u8: np.ndarray) -> np.ndarray:
    """uint8 probabilities H×W → RGB colour map H×W×3."""
    return cv2.applyColorMap(heat_u8, COLORMAP)[..., ::-1]  # OpenCV gives BGR


def _colour_bar(height: int, threshold: float) -> np.ndarray:
    width = int(np.clip(round(height / 6), 40, 160))
    panel = np.empty((height, width, 3), dtype=np.uint8)
    panel[:] = _PANEL_RGB
    margin = max(2, height // 40)
    bar_w = max(6, width // 4)
    x0 = margin
    top, bottom = margin, height - margin
    span = max(bottom - top, 1)
    # top of the bar is probability 1
    values = np.linspace(255, 0, span).round().astype(np.uint8)[:, None]
    panel[top:bottom, x0:x0 + bar_w] = colorize(np.repeat(values, bar_w, axis=1))
    scale = max(0.25, min(1.2, height / 900))
    thick = max(1, int(round(scale * 1.5)))
    for p in (1.0, 0.5, 0.0):
        y = int(round(top + (1 - p) * (span - 1)))
        cv2.line(panel, (x0 + bar_w, y), (x0 + bar_w + margin + 2, y), (255, 255, 255), 1)
        (tw, th), _ = cv2.getTextSize(f"{p:g}", cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        ty = int(np.clip(y + th // 2, th + 1, height - 2))
        cv2.putText(panel, f"{p:g}", (x0 + bar_w + margin + 4, ty), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (255, 255, 255), thick, cv2.LINE_AA)
    # the threshold the mask and the decision use
    yt = int(round(top + (1 - float(threshold)) * (span - 1)))
    cv2.line(panel, (x0 - 1, yt), (x0 + bar_w, yt), (255, 255, 255), max(1, thick))
    return panel


def render_overlay(
    image: np.ndarray,
    heatmap: np.ndarray,
    *,
    threshold: float = 0.5,
    boxes: Sequence[tuple[int, int, int, int]] = (),
) -> np.ndarray:
    """Overlay of ``heatmap`` (float H×W in [0, 1]) on ``image`` (RGB uint8), region ``boxes``
    (x0, y0, x1, y1 exclusive) outlined, with a colour bar appended on the right."""
    h, w = heatmap.shape
    if image.shape[:2] != (h, w):
        raise ValueError(f"image {image.shape[:2]} and heatmap {heatmap.shape} differ in size")
    out = np.empty((h, w, 3), dtype=np.uint8)
    for r0 in range(0, h, _BAND_ROWS):
        p = np.clip(heatmap[r0:r0 + _BAND_ROWS], 0, 1).astype(np.float32)
        colour = colorize(np.rint(p * 255).astype(np.uint8)).astype(np.float32)
        alpha = (ALPHA_MIN + (ALPHA_MAX - ALPHA_MIN) * p)[..., None]
        photo = image[r0:r0 + _BAND_ROWS].astype(np.float32)
        out[r0:r0 + _BAND_ROWS] = np.clip(np.rint(photo * (1 - alpha) + colour * alpha), 0, 255).astype(np.uint8)
    thick = max(1, int(round(min(h, w) / 300)))
    for x0, y0, x1, y1 in boxes:
        # a dark edge under a light line stays visible on any colour
        cv2.rectangle(out, (int(x0), int(y0)), (int(x1) - 1, int(y1) - 1), _BOX_EDGE_RGB, thick + 2)
        cv2.rectangle(out, (int(x0), int(y0)), (int(x1) - 1, int(y1) - 1), _BOX_RGB, thick)
    return np.concatenate([out, _colour_bar(h, threshold)], axis=1)
