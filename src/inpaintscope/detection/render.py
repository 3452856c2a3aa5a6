"""Pictures of a detection: the 0/255 mask, the 8-bit heatmap and the overlay an analyst reads.

The overlay blends a JET colour map of the probability onto the photo with an opacity that grows
with the probability (``ALPHA_MIN`` at 0 to ``ALPHA_MAX`` at 1), so authentic areas still show
the photo. Above the photo a caption band states the decision and the score in words (red band:
called inpainted; grey band: called clean); on the right a colour bar has ticks at 0, 0.5 and 1
and a marker at the pixel threshold. Region boxes are drawn only for an image called inpainted
(red with a dark edge): the candidate regions of a clean image are not detections.

Any size works, from 1×1 to 100+ MP and any aspect ratio: every element is sized from the
canvas, and the photo is blended into one preallocated canvas in row bands, so a 24 MP photo
needs no full-size float copy and no second full-size canvas.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

COLORMAP = cv2.COLORMAP_JET
ALPHA_MIN = 0.15
ALPHA_MAX = 0.65
_BAND_ROWS = 512
_BOX_FLAGGED_RGB = (255, 40, 40)
_BOX_EDGE_RGB = (0, 0, 0)
_PANEL_RGB = (32, 32, 32)
_CAPTION_FLAGGED_RGB = (150, 20, 20)
_CAPTION_CLEAN_RGB = (48, 48, 48)
_TEXT_RGB = (255, 255, 255)
_FONT = cv2.FONT_HERSHEY_SIMPLEX
#: height in pixels of Hershey simplex capitals at font scale 1
_FONT_PX = 22


def heatmap_to_uint8(heatmap: np.ndarray) -> np.ndarray:
    """Probabilities in [0, 1] → uint8 0–255 (rounded)."""
    out = np.empty(heatmap.shape, dtype=np.uint8)
    for r0 in range(0, heatmap.shape[0], _BAND_ROWS):
        band = heatmap[r0 : r0 + _BAND_ROWS]
        out[r0 : r0 + _BAND_ROWS] = np.clip(np.rint(band * 255.0), 0, 255).astype(np.uint8)
    return out


def mask_to_uint8(mask: np.ndarray) -> np.ndarray:
    """Bool mask → uint8 0/255."""
    return mask.astype(np.uint8) * np.uint8(255)


def colorize(heat_u8: np.ndarray) -> np.ndarray:
    """uint8 probabilities H×W → RGB colour map H×W×3 (contiguous)."""
    return cv2.cvtColor(cv2.applyColorMap(np.ascontiguousarray(heat_u8), COLORMAP), cv2.COLOR_BGR2RGB)


def colour_bar_width(height: int) -> int:
    """Width of the colour bar panel next to a photo ``height`` pixels tall."""
    return int(np.clip(round(height / 6), 40, 160))


def caption_height(width: int, height: int) -> int:
    """Height of the caption band above a ``width``×``height`` photo (readable, never dominant)."""
    return int(np.clip(round(min(width, height) / 14), 18, 90))


def _fit_text(text: str, max_w: int, max_h: int) -> tuple[float, int]:
    """Font scale and stroke so that ``text`` fits in ``max_w``×``max_h`` pixels."""
    scale = max(max_h, 1) * 0.7 / _FONT_PX
    for _ in range(8):  # the stroke grows with the scale, so shrink until it really fits
        thick = max(1, int(round(scale * 1.6)))
        (tw, _), _ = cv2.getTextSize(text, _FONT, scale, thick)
        if tw <= max_w or scale <= 0.05:
            break
        scale = max(0.05, scale * 0.97 * max_w / tw)
    return scale, thick


def _colour_bar(panel: np.ndarray, threshold: float) -> None:
    """Draw the probability scale into ``panel`` (H×W×3, any size) in place."""
    height, width = panel.shape[:2]
    panel[:] = _PANEL_RGB
    margin_y = int(np.clip(height // 40, 2, max(2, height // 4)))
    margin_x = max(2, width // 10)
    bar_w = max(2, min(width // 4, width - 2 * margin_x))
    x0 = margin_x
    top, bottom = margin_y, height - margin_y
    span = bottom - top
    if span < 2 or x0 + bar_w > width:
        return  # a sliver of a photo: no room for a readable scale
    values = np.linspace(255, 0, span).round().astype(np.uint8)[:, None]  # top of the bar is 1
    panel[top:bottom, x0 : x0 + bar_w] = colorize(np.repeat(values, bar_w, axis=1))
    label_x = x0 + bar_w + 4
    label_w = width - label_x - 2
    if span >= 24 and label_w >= 8:
        scale, thick = _fit_text("0.5", label_w, min(span // 14, 24))
        for p in (1.0, 0.5, 0.0):
            y = int(round(top + (1 - p) * (span - 1)))
            cv2.line(panel, (x0 + bar_w, y), (x0 + bar_w + 2, y), _TEXT_RGB, 1)
            (_, th), _ = cv2.getTextSize(f"{p:g}", _FONT, scale, thick)
            ty = int(np.clip(y + th // 2, th + 1, height - 2))
            cv2.putText(panel, f"{p:g}", (label_x, ty), _FONT, scale, _TEXT_RGB, thick, cv2.LINE_AA)
    # the pixel threshold: where the mask and the region outlines start
    yt = int(round(top + (1 - float(threshold)) * (span - 1)))
    cv2.line(panel, (max(x0 - 2, 0), yt), (x0 + bar_w, yt), _TEXT_RGB, max(1, span // 200))


def render_overlay(
    image: np.ndarray,
    heatmap: np.ndarray,
    *,
    threshold: float = 0.5,
    boxes: Sequence[tuple[int, int, int, int]] = (),
    caption: str | None = None,
    flagged: bool = False,
) -> np.ndarray:
    """Overlay of ``heatmap`` (float H×W in [0, 1]) on ``image`` (RGB uint8).

    ``threshold``: the pixel threshold marked on the colour bar. ``boxes`` (x0, y0, x1, y1
    exclusive) are outlined in red. ``caption``, when given, is written in a band above the
    photo, red when ``flagged`` (called inpainted) and grey otherwise. The result is
    ``(caption band + H) × (W + colour bar) × 3``.
    """
    h, w = heatmap.shape
    if image.shape[:2] != (h, w):
        raise ValueError(f"image {image.shape[:2]} and heatmap {heatmap.shape} differ in size")
    bar_w = colour_bar_width(h)
    top = caption_height(w + bar_w, h) if caption else 0
    canvas = np.empty((top + h, w + bar_w, 3), dtype=np.uint8)
    photo_rows = canvas[top:]  # full-width rows: contiguous, so OpenCV can draw on it in place
    for r0 in range(0, h, _BAND_ROWS):
        p = np.clip(heatmap[r0 : r0 + _BAND_ROWS], 0, 1, dtype=np.float32)
        colour = colorize(cv2.convertScaleAbs(p, alpha=255.0))  # rounds to 0–255
        alpha = p * np.float32(ALPHA_MAX - ALPHA_MIN)
        alpha += np.float32(ALPHA_MIN)
        # one pass in OpenCV: photo · (1 − alpha) + colour · alpha, rounded
        photo_rows[r0 : r0 + _BAND_ROWS, :w] = cv2.blendLinear(
            np.ascontiguousarray(image[r0 : r0 + _BAND_ROWS]), colour, 1 - alpha, alpha
        )
    thick = max(1, int(round(min(h, w) / 300)))
    for x0, y0, x1, y1 in boxes:
        # a dark edge under the red line keeps it visible on any colour
        cv2.rectangle(photo_rows, (int(x0), int(y0)), (int(x1) - 1, int(y1) - 1), _BOX_EDGE_RGB, thick + 2)
        cv2.rectangle(photo_rows, (int(x0), int(y0)), (int(x1) - 1, int(y1) - 1), _BOX_FLAGGED_RGB, thick)
    # drawn after the boxes, so a thick box line at the right edge never covers the scale
    panel = np.empty((h, bar_w, 3), dtype=np.uint8)
    _colour_bar(panel, threshold)
    photo_rows[:, w:] = panel
    if caption:
        band = canvas[:top]
        band[:] = _CAPTION_FLAGGED_RGB if flagged else _CAPTION_CLEAN_RGB
        pad = max(2, top // 6)
        scale, thick = _fit_text(caption, band.shape[1] - 2 * pad, top - 2 * pad)
        (_, th), _ = cv2.getTextSize(caption, _FONT, scale, thick)
        y = int(round((top + th) / 2))
        cv2.putText(band, caption, (pad, min(y, top - 1)), _FONT, scale, _TEXT_RGB, thick, cv2.LINE_AA)
    return canvas
