"""Training pairs for learned inpainters: (photo crop, hole) drawn deterministically from photos.

Each sample is a function of ``(seed, step, index)`` only, so a resumed run sees exactly the
batches an uninterrupted one would, whatever happened in between. A sample: a photo chosen
uniformly, rescaled by a random factor (so the network sees textures at native scale and
coarser), a random ``crop``×``crop`` window, a random horizontal flip, and a hole covering a
random fraction of the crop drawn from one of the registered mask generators or from the
outline of a real object (COCO polygons, scaled and placed anywhere): free-form strokes,
shapes, rectangles and object silhouettes, as real removals look.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import InpaintscopeError
from ..io.images import read_image
from ..masks import find_label_file, make_mask
from ..masks.objects import rasterize, read_labels

#: mask kinds and their probabilities; ``silhouette`` is an object outline from the label bank
DEFAULT_MASK_MIX: tuple[tuple[str, float], ...] = (
    ("strokes", 0.4),
    ("shapes", 0.25),
    ("rectangle", 0.1),
    ("silhouette", 0.25),
)


@dataclass(frozen=True)
class PhotoSet:
    """Decoded photos (RGB uint8) and the object outlines found in their label files."""

    images: tuple[np.ndarray, ...]
    names: tuple[str, ...]
    silhouettes: tuple[np.ndarray, ...]  # N×2 polygons normalised to their own bounding box

    @classmethod
    def from_split_file(
        cls,
        root: str | os.PathLike,
        split_file: str | os.PathLike,
        splits: Sequence[str],
        *,
        min_side: int = 128,
        limit: int | None = None,
    ) -> PhotoSet:
        """The photos of ``root`` listed under ``splits`` in a ``relpath split`` file (``#`` comments)."""
        root = Path(root)
        wanted = set(splits)
        rels = []
        try:
            text = Path(split_file).expanduser().read_text(encoding="utf-8")
        except FileNotFoundError:
            where = "" if Path(split_file).is_absolute() else f" (relative to the current folder {Path.cwd()})"
            raise InpaintscopeError(
                f"split file {split_file} not found{where}; give its full path, e.g. --set split_file=PATH"
            ) from None
        except (OSError, UnicodeDecodeError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else "not UTF-8 text"
            raise InpaintscopeError(f"split file {split_file}: cannot read it ({reason})") from None
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                rel, _, split = line.replace(",", " ").replace("\t", " ").partition(" ")
                if split.strip() in wanted:
                    rels.append(rel.strip())
        if limit is not None:
            rels = rels[:limit]
        if not rels:
            raise InpaintscopeError(f"{split_file}: no photo listed for split(s) {sorted(wanted)}")
        images, names, outlines = [], [], []
        for rel in rels:
            path = root / rel
            image = read_image(path)
            if min(image.shape[:2]) < min_side:
                continue
            images.append(image)
            names.append(rel)
            label = find_label_file(path)
            if label is not None:
                outlines.extend(_normalised_outline(poly) for _, poly in read_labels(label))
        if not images:
            raise InpaintscopeError(f"none of the {len(rels)} listed photos under {root} is at least {min_side} px")
        return cls(tuple(images), tuple(names), tuple(o for o in outlines if o is not None))


def _normalised_outline(poly: np.ndarray) -> np.ndarray | None:
    lo, hi = poly.min(axis=0), poly.max(axis=0)
    size = hi - lo
    if (size <= 1e-3).any():
        return None
    return (poly - lo) / size


def silhouette_hole(outline: np.ndarray, crop: int, *, area: float, rng: np.random.Generator) -> np.ndarray:
    """An object outline scaled to cover about ``area`` of a ``crop``² window, placed at random."""
    aspect = float(rng.uniform(0.6, 1.6))
    unit = rasterize(outline, (64, int(round(64 * aspect))))
    fill = max(float(unit.mean()), 0.05)  # the outline's filled fraction of its own box
    box_area = min(area / fill, 0.95) * crop * crop
    bh = int(np.clip(np.sqrt(box_area / aspect), 8, crop - 2))
    bw = int(np.clip(bh * aspect, 8, crop - 2))
    y0, x0 = int(rng.integers(0, crop - bh + 1)), int(rng.integers(0, crop - bw + 1))
    hole = np.zeros((crop, crop), bool)
    hole[y0 : y0 + bh, x0 : x0 + bw] = rasterize(outline, (bh, bw))
    return hole


class InpaintingCrops:
    """``sample(step, index) -> (image crop uint8 H×W×3, hole bool H×W)``; ``batch`` stacks them."""

    def __init__(
        self,
        photos: PhotoSet,
        *,
        crop: int = 128,
        scale: tuple[float, float] = (0.5, 1.0),
        area: tuple[float, float] = (0.03, 0.4),
        mask_mix: Sequence[tuple[str, float]] = DEFAULT_MASK_MIX,
        seed: int = 0,
    ) -> None:
        if crop < 32:
            raise InpaintscopeError(f"crop must be at least 32 px, got {crop}")
        kinds = [k for k, _ in mask_mix]
        if "silhouette" in kinds and not photos.silhouettes:
            mask_mix = [(k, p) for k, p in mask_mix if k != "silhouette"]  # no label files: other kinds only
        weights = np.array([p for _, p in mask_mix], float)
        if not len(weights) or (weights < 0).any() or weights.sum() <= 0:
            raise InpaintscopeError(f"mask_mix needs positive probabilities, got {list(mask_mix)}")
        self.photos, self.crop, self.scale, self.area, self.seed = photos, crop, scale, area, seed
        self.kinds = [k for k, _ in mask_mix]
        self.probs = weights / weights.sum()

    def sample(self, step: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, step, index])
        image = self.photos.images[int(rng.integers(len(self.photos.images)))]
        crop = self.crop
        h, w = image.shape[:2]
        lo = max(self.scale[0], crop / min(h, w))
        s = float(rng.uniform(lo, max(lo, self.scale[1])))
        if abs(s - 1.0) > 1e-3:
            image = cv2.resize(image, (max(crop, round(w * s)), max(crop, round(h * s))), interpolation=cv2.INTER_AREA)
        h, w = image.shape[:2]
        y0, x0 = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
        patch = image[y0 : y0 + crop, x0 : x0 + crop]
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        kind = self.kinds[int(rng.choice(len(self.kinds), p=self.probs))]
        if kind == "silhouette":
            outline = self.photos.silhouettes[int(rng.integers(len(self.photos.silhouettes)))]
            hole = silhouette_hole(outline, crop, area=float(rng.uniform(*self.area)), rng=rng)
        else:
            options = {} if kind == "rectangle" else {"area": self.area}
            hole = make_mask(kind, (crop, crop), rng=rng, **options).hole
        return np.ascontiguousarray(patch), hole

    def batch(self, step: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        """``size`` samples of ``step``: images B×H×W×3 uint8 and holes B×H×W bool."""
        pairs = [self.sample(step, i) for i in range(size)]
        return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
