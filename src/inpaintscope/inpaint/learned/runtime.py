"""Learned inpainters as registered :class:`~inpaintscope.inpaint.base.Inpainter` s, at any image size.

The networks were trained on crops of about 128² with holes of up to ~40 % of the crop, so
each hole is filled from a window around it, at the scale the network knows:

1. the hole's connected components are grouped (components closer than ``gap`` px share a
   window), and each group gets a window of its bounding box plus ``context`` × its width of
   surrounding photo on every side (at least 32 px);
2. the network fills the window at a coarse scale for structure and colour: the window is
   downscaled (area interpolation) so that the hole is at most ``hole_width`` px wide — its width
   being twice the largest distance from a hole pixel to the nearest known pixel, so a long thin
   stroke is filled at full resolution while a 40 % blob in a 24 MP photo is filled at the scale
   the network fills best — and so that the window is at most ``max_side`` px, which bounds
   memory and time;
3. when ``detail_width`` is larger, the network fills the window a second time at that finer
   scale, and the fill takes its low frequencies from the coarse pass and its high frequencies
   (above the coarse pass's resolution) from the fine one: a small network trained on 128²
   crops gets colours and layout right on a hole a few dozen pixels wide, and texture right
   on a wider one (the two-scale idea of residual aggregation, Yi et al., CVPR 2020). The two
   widths of each shipped network were chosen on validation photos with our own masks (hole
   PSNR and texture ratio; the benchmark's photos and masks were not used);
4. the fill is upscaled back (bicubic) and, with ``blend="poisson"`` (the default), blended into
   the hole in the gradient domain (:func:`~inpaintscope.inpaint.blending.poisson_blend`: the
   fill's texture, the photo's colours at the hole's edge — the post-processing of Iizuka et al.
   2017), or with ``blend="none"`` pasted as the network made it. Pixels outside the hole are
   never changed.

Every hole pixel inside a window is a hole for the network, even one of another group, so no
network ever reads the content it is asked to replace. Networks are deterministic, so the
``rng`` is unused; the result depends only on the image, the mask and the weights (and, through
floating-point summation order, on the number of torch threads: the dataset builder pins one).
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np

from ..base import Inpainter, register_inpainter
from ..blending import poisson_blend
from ..classical import hole_bbox
from .weights import load_inpaint_net, read_inpainter_info, shipped_weights

_LOCK = threading.Lock()
BLENDS: tuple[str, ...] = ("poisson", "none")
# The detail pass replaces the coarse fill's frequencies above a Gaussian of this many coarse
# pixels: below the coarse pass's Nyquist limit, where its bicubic upscaling is still faithful.
DETAIL_SIGMA = 0.5
# Bump when the fills change for the same weights and options (the dataset builder records it, so
# a build is not resumed across such a change): 1 one pass, 2 two scales.
RUNTIME_VERSION = 2


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
    (the dataset builder takes ``NAME:WEIGHTS`` for weights of your own training).

    ``hole_width`` and ``detail_width`` (``None``: the network's own defaults below; a
    ``detail_width`` of 0 turns the detail pass off) set the two scales of the module docstring.
    """

    touches_unmasked: ClassVar[bool] = False
    path_option: ClassVar[str] = "weights"
    path_optional: ClassVar[bool] = True
    default_hole_width: ClassVar[int] = 24
    default_detail_width: ClassVar[int] = 64

    def __init__(
        self,
        *,
        weights: str | Path | None = None,
        max_side: int = 768,
        hole_width: int | None = None,
        detail_width: int | None = None,
        context: float = 2.0,
        gap: int = 16,
        blend: str = "poisson",
    ) -> None:
        path, options = self.resolve_options(
            weights=weights,
            max_side=max_side,
            hole_width=hole_width,
            detail_width=detail_width,
            context=context,
            gap=gap,
            blend=blend,
        )
        super().__init__(**options)
        with _LOCK:
            self.net, self.info = _cached_net(str(path.resolve()), path.stat().st_mtime if path.exists() else 0.0)
        self.options["network"] = self.info["network"]
        self.options["step"] = self.info.get("step")

    @classmethod
    def resolve_options(
        cls,
        *,
        weights: str | Path | None,
        max_side: int,
        hole_width: int | None,
        detail_width: int | None,
        context: float,
        gap: int,
        blend: str,
    ) -> tuple[Path, dict[str, Any]]:
        """The weights file and the checked options an inpainter of this class records (the
        network's defaults filled in); nothing is loaded."""
        hole_width = cls.default_hole_width if hole_width is None else int(hole_width)
        detail_width = cls.default_detail_width if detail_width is None else int(detail_width)
        if max_side < 64 or hole_width < 8 or detail_width < 0 or context < 0 or gap < 0:
            raise ValueError(
                "max_side >= 64, hole_width >= 8, detail_width >= 0 (0: no detail pass), context >= 0"
                " and gap >= 0 are required"
            )
        if blend not in BLENDS:
            raise ValueError(f"blend must be one of {', '.join(BLENDS)}, got {blend!r}")
        path = Path(weights).expanduser() if weights is not None else shipped_weights(cls.name)
        options = {
            "weights": str(weights) if weights is not None else f"shipped:{path.name}",
            "max_side": max_side,
            "hole_width": hole_width,
            "detail_width": detail_width,
            "context": context,
            "gap": gap,
            "blend": blend,
        }
        return path, options

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

    def _scale(self, hole: np.ndarray, width: float, target: int) -> float:
        return min(1.0, target / width, self.options["max_side"] / max(hole.shape))

    def _fill_window(self, window: np.ndarray, hole: np.ndarray) -> np.ndarray:
        width = hole_width(hole)
        coarse_scale = self._scale(hole, width, self.options["hole_width"])
        fill = self._network_fill(window, hole, coarse_scale)
        if self.options["detail_width"]:
            fine_scale = self._scale(hole, width, self.options["detail_width"])
            if fine_scale > coarse_scale:
                fine = self._network_fill(window, hole, fine_scale)
                sigma = DETAIL_SIGMA / coarse_scale
                # only the hole (and the pixel around it the blending reads) is used: blurring its
                # box plus the kernel's reach (OpenCV: 4σ for float images) gives those pixels the
                # values a whole-window blur would, at a cost bounded by the hole, not the window
                reach = int(np.ceil(4 * sigma)) + 2
                y0, y1, x0, x1 = hole_bbox(hole, margin=reach)
                fill[y0:y1, x0:x1] = (
                    cv2.GaussianBlur(fill[y0:y1, x0:x1], (0, 0), sigma)
                    + fine[y0:y1, x0:x1]
                    - cv2.GaussianBlur(fine[y0:y1, x0:x1], (0, 0), sigma)
                )
        fill = np.clip(np.round(fill * 255.0), 0, 255).astype(np.uint8)
        if self.options["blend"] == "poisson":
            return poisson_blend(fill, window, hole)
        return fill

    def _network_fill(self, window: np.ndarray, hole: np.ndarray, scale: float) -> np.ndarray:
        """The network's fill of ``window`` at ``scale``, back at the window's size: float32 in [0, 1]."""
        import torch

        wh, ww = hole.shape
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
        return np.ascontiguousarray(result, dtype=np.float32)


def runtime_fingerprint(cls: type[LearnedInpainter], weights: str | Path | None = None) -> str:
    """What the fills of ``cls`` with its default options (and ``weights``, or the shipped file)
    depend on, as a short digest: the weights' bytes, the options an instance records (but not the
    weights' path), :data:`RUNTIME_VERSION` and this module's fixed constants. Reads the file's
    header, builds no network. The dataset builder records it."""
    defaults = dict(cls.__init__.__kwdefaults__ or {})
    path, options = cls.resolve_options(**{**defaults, "weights": weights})
    info = read_inpainter_info(path)
    del options["weights"]
    options.update(network=info["network"], step=info.get("step"))
    h = hashlib.blake2b(digest_size=12)
    fixed = {"detail_sigma": DETAIL_SIGMA, "runtime_version": RUNTIME_VERSION}
    h.update(json.dumps({**options, **fixed}, sort_keys=True, default=str).encode())
    h.update(path.read_bytes())
    return h.hexdigest()


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
    """SafePaint anti-forensic inpainting, trained against our default detector (ours, shipped).

    Its fills carry a fine-scale pattern (what the anti-forensic term buys), so its widths are
    smaller than the others': 16 px for colour, 32 px for detail."""

    default_hole_width: ClassVar[int] = 16
    default_detail_width: ClassVar[int] = 32
