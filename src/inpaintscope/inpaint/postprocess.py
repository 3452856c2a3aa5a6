"""Post-processing ("laundering") applied to a composite and its soft mask.

Detectors are judged by their robustness to recompression and resizing (as in IMDL-BenCo's
robustness evaluation, Ma et al. 2024; docs/references.md, §5): a detector that only works on
lossless PNGs is useless on images from social media. The same operations, applied to authentic
photos, are what an honest photo goes through (defocus, sensor noise, in-camera sharpening,
recompression) and must not make a detector cry wolf. A :class:`PostProcess` applies, in this
fixed order:

1. ``resize:F``: the image with area (shrinking) or bilinear (enlarging) interpolation, the soft
   mask bilinear so it stays soft and aligned;
2. ``blur:S``: Gaussian blur of standard deviation ``S`` px (a defocus stand-in);
3. ``sharpen:A``: unsharp masking, ``image + A·(image − Gaussian(image, σ=1))``, the kind of
   sharpening cameras and editors apply;
4. ``noise:S``: additive Gaussian noise of standard deviation ``S`` (0–255 scale), drawn from
   ``np.random.default_rng(seed)`` so the same seed gives the same noise: a composite and its
   original get the same noise outside the mask;
5. ``jpeg:Q`` / ``webp:Q``: encode-decode in memory with Pillow.

Steps 2–4 move no pixel, so the mask is unchanged by them. CLI specs join steps with ``+`` in any
order (they always run in the order above): ``none``, ``jpeg:90``, ``webp:80``, ``resize:0.5``,
``blur:1.5``, ``noise:3+jpeg:90``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ..contract import check_image
from ..errors import InpaintscopeError, ShapeError
from ..io import encode_image, read_image

FORMATS: tuple[str, ...] = ("jpeg", "webp")
_MAX_RESIZE = 8.0
#: the pixel-wise steps: spec name → largest value accepted (blur σ px, sharpen amount, noise σ)
FILTER_LIMITS: dict[str, float] = {"blur": 20.0, "sharpen": 5.0, "noise": 64.0}
_UNSHARP_SIGMA = 1.0


class PostProcessSpecError(InpaintscopeError, ValueError):
    """A post-processing spec string or option that cannot be understood."""


@dataclass(frozen=True)
class PostProcess:
    """``format``: None, "jpeg" or "webp"; ``quality``: 1–100; ``resize``: scale factor or None;
    ``blur`` (σ px), ``sharpen`` (amount), ``noise`` (σ, 0–255 scale): None or a positive value."""

    format: str | None = None
    quality: int = 90
    resize: float | None = None
    blur: float | None = None
    sharpen: float | None = None
    noise: float | None = None

    def __post_init__(self) -> None:
        if self.format is not None and self.format not in FORMATS:
            raise PostProcessSpecError(f"post-process format must be None, 'jpeg' or 'webp', got {self.format!r}")
        if (
            isinstance(self.quality, bool)
            or not isinstance(self.quality, (int, np.integer))
            or not 1 <= int(self.quality) <= 100
        ):
            raise PostProcessSpecError(f"post-process quality must be an integer 1–100, got {self.quality!r}")
        if self.resize is not None and (
            isinstance(self.resize, bool)
            or not isinstance(self.resize, (int, float))
            or not (0 < float(self.resize) <= _MAX_RESIZE)
        ):
            raise PostProcessSpecError(
                f"post-process resize must be a factor in (0, {_MAX_RESIZE:g}], got {self.resize!r}"
            )
        for name, limit in FILTER_LIMITS.items():
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < float(value) <= limit)
            ):
                raise PostProcessSpecError(f"post-process {name} must be a number in (0, {limit:g}], got {value!r}")

    @property
    def is_identity(self) -> bool:
        return (
            self.format is None
            and (self.resize is None or float(self.resize) == 1.0)
            and all(getattr(self, name) is None for name in FILTER_LIMITS)
        )

    def apply(self, image: np.ndarray, soft_mask: np.ndarray, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Return the post-processed ``(image, soft_mask)``; inputs are never modified.

        ``seed`` seeds the noise step (ignored without one): the same seed, the same noise."""
        check_image(image)
        if soft_mask.dtype == bool:
            soft_mask = soft_mask.astype(np.uint8) * 255
        if soft_mask.dtype != np.uint8 or soft_mask.shape != image.shape[:2]:
            raise ShapeError(f"soft mask must be uint8 {image.shape[:2]}, got {soft_mask.dtype} {soft_mask.shape}")
        img, mask = image.copy(), soft_mask.copy()
        if self.resize is not None and float(self.resize) != 1.0:
            f = float(self.resize)
            h, w = image.shape[:2]
            size = (max(1, round(w * f)), max(1, round(h * f)))  # cv2 takes (width, height)
            # Area averaging is the alias-free way to shrink; bilinear when enlarging.
            interp = cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR
            img = cv2.resize(np.ascontiguousarray(img), size, interpolation=interp)
            mask = cv2.resize(np.ascontiguousarray(mask), size, interpolation=cv2.INTER_LINEAR)
        if self.blur is not None or self.sharpen is not None or self.noise is not None:
            img = self._filter(img, seed=seed)
        if self.format is not None:
            img = read_image(encode_image(img, self.format, quality=int(self.quality)))
        return img, mask

    def _filter(self, image: np.ndarray, *, seed: int) -> np.ndarray:
        """Blur, sharpen and noise (steps 2–4 of the module doc) in float32, rounded back to uint8."""
        x = image.astype(np.float32)
        if self.blur is not None:
            # kernel size 0: OpenCV picks it from σ (±3σ); reflected borders keep edges unchanged in mean
            x = cv2.GaussianBlur(x, (0, 0), float(self.blur), borderType=cv2.BORDER_REFLECT_101)
        if self.sharpen is not None:
            smooth = cv2.GaussianBlur(x, (0, 0), _UNSHARP_SIGMA, borderType=cv2.BORDER_REFLECT_101)
            x = x + float(self.sharpen) * (x - smooth)
        if self.noise is not None:
            x = x + np.random.default_rng(seed).normal(0.0, float(self.noise), x.shape).astype(np.float32)
        return np.clip(np.rint(x), 0, 255).astype(np.uint8)

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable record for dataset manifests (includes the canonical spec string)."""
        record: dict[str, Any] = {
            "format": self.format,
            "quality": int(self.quality) if self.format else None,
            "resize": None if self.resize is None else float(self.resize),
        }
        # the filter keys only when used, so manifests of earlier builds read the same
        record.update({name: float(getattr(self, name)) for name in FILTER_LIMITS if getattr(self, name) is not None})
        record["spec"] = self.spec()
        return record

    def spec(self) -> str:
        """Canonical CLI spec; ``parse_postprocess(p.spec()) == p`` (up to an unused quality)."""
        parts = []
        if self.format is not None:
            parts.append(f"{self.format}:{int(self.quality)}")
        if self.resize is not None:
            parts.append(f"resize:{_spec_number(self.resize)}")
        parts += [
            f"{name}:{_spec_number(getattr(self, name))}" for name in FILTER_LIMITS if getattr(self, name) is not None
        ]
        return "+".join(parts) or "none"


def _spec_number(value: float) -> str:
    """``value`` as :meth:`PostProcess.spec` writes it: ``%g`` (as earlier manifests hold it) when
    that reads back exactly, else Python's shortest exact form (``%g`` keeps six digits)."""
    text = f"{float(value):g}"
    return text if float(text) == float(value) else repr(float(value))


def parse_postprocess(spec: str) -> PostProcess:
    """Parse ``none`` | ``jpeg:Q`` | ``webp:Q`` | ``resize:F`` | ``blur:S`` | ``sharpen:A`` |
    ``noise:S`` joined with ``+`` (e.g. ``jpeg:75+resize:0.5``); see the module doc."""
    if not isinstance(spec, str) or not spec.strip():
        raise PostProcessSpecError(
            "empty post-process spec; use e.g. none, jpeg:90, webp:80, resize:0.5, blur:1.5, sharpen:1, noise:3 "
            "or jpeg:75+resize:0.5"
        )
    text = spec.strip().lower()
    if text == "none":
        return PostProcess()
    fmt: str | None = None
    quality = 90
    resize: float | None = None
    filters: dict[str, float] = {}
    for part in text.split("+"):
        kind, sep, value = part.strip().partition(":")
        kind = {"jpg": "jpeg"}.get(kind, kind)
        if kind in FORMATS:
            if fmt is not None:
                raise PostProcessSpecError(f"post-process spec {spec!r} names more than one format; pick one")
            if not sep or not value.strip().isdigit() or not 1 <= int(value) <= 100:
                raise PostProcessSpecError(
                    f"in post-process spec {spec!r}: {kind} needs an integer quality 1–100, e.g. {kind}:90"
                )
            fmt, quality = kind, int(value)
        elif kind == "resize":
            if resize is not None:
                raise PostProcessSpecError(f"post-process spec {spec!r} has more than one resize")
            try:
                resize = float(value)
            except ValueError:
                resize = float("nan")
            if not sep or not (0 < resize <= _MAX_RESIZE):
                raise PostProcessSpecError(
                    f"in post-process spec {spec!r}: resize needs a factor in (0, {_MAX_RESIZE:g}], e.g. resize:0.5"
                )
        elif kind in FILTER_LIMITS:
            limit = FILTER_LIMITS[kind]
            if kind in filters:
                raise PostProcessSpecError(f"post-process spec {spec!r} has more than one {kind}")
            try:
                filters[kind] = float(value)
            except ValueError:
                filters[kind] = float("nan")
            if not sep or not (0 < filters[kind] <= limit):
                raise PostProcessSpecError(
                    f"in post-process spec {spec!r}: {kind} needs a number in (0, {limit:g}], e.g. {kind}:1.5"
                )
        else:
            raise PostProcessSpecError(
                f"unknown post-process step {part.strip()!r} in {spec!r}; use none, "
                "jpeg:Q, webp:Q, resize:F, blur:S, sharpen:A or noise:S joined with '+'"
            )
    return PostProcess(format=fmt, quality=quality, resize=resize, **filters)
