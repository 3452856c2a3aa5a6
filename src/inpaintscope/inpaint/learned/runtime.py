"""Learned inpainters as registered :class:`~inpaintscope.inpaint.base.Inpainter` s, at any image size.

The networks were trained on crops of about 128² with holes of up to ~40 % of the crop, so
each hole is filled from a window around it, at the scale the network knows:

1. the hole's connected components are grouped (components closer than ``gap`` px share a
   window), and each group gets a window of its bounding box plus ``context`` × its width of
   surrounding photo on every side (at least 32 px);
2. the window is downscaled (area interpolation) when the hole is wider than ``hole_width`` px
   — its width being twice the largest distance from a hole pixel to the nearest known pixel,
   so a long thin stroke is filled at full resolution while a 40 % blob in a 24 MP photo is
   filled at the scale the network was trained on — or the window is larger than ``max_side``
   px, which bounds memory and time;
3. the network fills the (padded) window; the fill is upscaled back (bicubic) and, with
   ``blend="poisson"`` (the default), blended into the hole in the gradient domain
   (:func:`~inpaintscope.inpaint.blending.poisson_blend`: the fill's texture, the photo's
   colours at the hole's edge — the post-processing of Iizuka et al. 2017), or with
   ``blend="none"`` pasted as the network made it. Pixels outside the hole are never changed.

Every hole pixel inside a window is a hole for the network, even one of another group, so no
network ever reads the content it is asked to replace. Networks are deterministic, so the
``rng`` is unused; the result depends only on the image, the mask and the weights (and, through
floating-point summation order, on the number of torch threads: the dataset builder pins one).
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np

from ..base import Inpainter, register_inpainter
from ..blending import poisson_blend
from .weights import load_inpaint_net, shipped_weights

_LOCK = threading.Lock()
BLENDS: tuple[str, ...] = ("poisson", "none")


@functools.lru_cache(maxsize=8)
def _cached_net(path: str, mtime: float) -> tuple[Any, dict[str, Any]]:
    return load_inpaint_net(path)


def window_groups(mask: np.ndarray, *, gap: int = 16) -> list[tuple[int, int, int, int]]:
    """Bounding boxes ``(y0, y1, x0, x1)`` (end-exclusive) of hole groups closer than ``gap`` px."""
    grown = cv2.dilate(mask.astype(np.uint8), np.ones((2 * gap + 1, 2 * gap + 1), np.uint8)) if gap else mask
    n, labels, stats, _ = cv2.connectedComponentsWithStats(grown.astype(np.uint8), connectivity=8)
    boxes = []
    for i in range(1, n):
        ys, xs = np.nonzero((labels == i) & mask)
        if len(ys):
            boxes.append((int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1))
    return boxes


def hole_width(hole: np.ndarray) -> float:
    """Twice the largest distance (px) from a hole pixel to the nearest pixel outside the hole."""
    padded = np.pad(hole.astype(np.uint8), 1)  # the image border counts as known
    return 2.0 * float(cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE).max())


class LearnedInpainter(Inpainter):
    """A trained network from :mod:`.networks`; ``weights`` defaults to the shipped file of this name
    (the dataset builder takes ``NAME:WEIGHTS`` for weights of your own training)."""

    touches_unmasked: ClassVar[bool] = False
    path_option: ClassVar[str] = "weights"
    path_optional: ClassVar[bool] = True

    def __init__(
        self,
        *,
        weights: str | Path | None = None,
        max_side: int = 768,
        hole_width: int = 64,
        context: float = 2.0,
        gap: int = 16,
        blend: str = "poisson",
    ) -> None:
        if max_side < 64 or hole_width < 8 or context < 0 or gap < 0:
            raise ValueError("max_side >= 64, hole_width >= 8, context >= 0 and gap >= 0 are required")
        if blend not in BLENDS:
            raise ValueError(f"blend must be one of {', '.join(BLENDS)}, got {blend!r}")
        path = Path(weights).expanduser() if weights is not None else shipped_weights(self.name)
        super().__init__(
            weights=str(weights) if weights is not None else f"shipped:{path.name}",
            max_side=max_side,
            hole_width=hole_width,
            context=context,
            gap=gap,
            blend=blend,
        )
        with _LOCK:
            self.net, self.info = _cached_net(str(path.resolve()), path.stat().st_mtime if path.exists() else 0.0)
        self.options["network"] = self.info["network"]
        self.options["step"] = self.info.get("step")

    def _fill(self, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = image.copy()
        h, w = mask.shape
        for y0, y1, x0, x1 in window_groups(mask, gap=self.options["gap"]):
            margin = max(32, int(round(self.options["context"] * hole_width(mask[y0:y1, x0:x1]))))
            wy0, wy1, wx0, wx1 = max(0, y0 - margin), min(h, y1 + margin), max(0, x0 - margin), min(w, x1 + margin)
            window, hole = image[wy0:wy1, wx0:wx1], mask[wy0:wy1, wx0:wx1]
            filled = self._fill_window(window, hole)
            region = out[wy0:wy1, wx0:wx1]
            region[hole] = filled[hole]
        return out

    def _fill_window(self, window: np.ndarray, hole: np.ndarray) -> np.ndarray:
        import torch

        wh, ww = hole.shape
        scale = min(1.0, self.options["hole_width"] / hole_width(hole), self.options["max_side"] / max(wh, ww))
        if scale < 1.0:
            size = (max(8, round(ww * scale)), max(8, round(wh * scale)))
            small = cv2.resize(window, size, interpolation=cv2.INTER_AREA)
            small_hole = cv2.resize(hole.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0
        else:
            small, small_hole = window, hole
        m = self.net.size_multiple
        sh, sw = small_hole.shape
        ph, pw = -sh % m, -sw % m
        x = np.pad(small, ((0, ph), (0, pw), (0, 0)), mode="reflect" if min(sh, sw) > max(ph, pw) else "edge")
        mk = np.pad(small_hole, ((0, ph), (0, pw)))
        with torch.no_grad():
            xt = torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None].float() / 255.0
            mt = torch.from_numpy(mk.astype(np.float32))[None, None]
            result, _ = self.net(xt * (1 - mt), mt)
            result = result[0, :, :sh, :sw].clamp(0, 1).permute(1, 2, 0).numpy()
        if scale < 1.0:
            result = cv2.resize(result, (ww, wh), interpolation=cv2.INTER_CUBIC)
        fill = np.clip(np.round(result * 255.0), 0, 255).astype(np.uint8)
        if self.options["blend"] == "poisson":
            return poisson_blend(fill, window, hole)
        return fill


@register_inpainter("gated")
class GatedInpainter(LearnedInpainter):
    """Gated convolutions, coarse-to-fine with contextual attention (DeepFill v2 family; ours, shipped)."""


@register_inpainter("edgeconnect")
class EdgeConnectInpainter(LearnedInpainter):
    """Encoder – dilated residual blocks – transposed-conv decoder (EdgeConnect family; ours, shipped)."""


@register_inpainter("fourier")
class FourierInpainter(LearnedInpainter):
    """Fast Fourier convolutions with pixel-shuffle upsampling (LaMa family; ours, shipped)."""


@register_inpainter("safepaint")
class SafePaintInpainter(LearnedInpainter):
    """SafePaint anti-forensic inpainting, trained against our default detector (ours, shipped)."""
