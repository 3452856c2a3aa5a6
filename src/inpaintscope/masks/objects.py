"""Object-shaped holes from instance polygons (COCO / YOLO-seg label files).

The Bochum report removed whole objects found by YOLOv8 boxes and MaskFormer segments
(docs/references.md, §4.1 "Objects"). With ground-truth instance polygons we get
the same kind of hole without running a detector: the outline of a real object in the photo.

**Label format** (Ultralytics YOLO-seg, as in ``coco128/labels``): one line per polygon,
``class_id x1 y1 x2 y2 ...`` with coordinates normalised to [0, 1] by image width and height.
A line with exactly four numbers after the class is read as a YOLO *box* ``cx cy w h``, so
plain detection labels work too. **Each line is one object**: the format has no instance id,
so an object split over several lines (occluded COCO instances) yields one candidate per
visible part, and Ultralytics' merged multi-part lines are filled as one polygon.

The Bochum report: P. Adler, H. Günther, D. Gann, H. Ehringfeld, "Inpainting Detection", student
project report (MPDL project, group 2), Ruhr-Universität Bochum, 2023.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import InpaintscopeError
from .base import register_mask, resolve_area

DEFAULT_AREA = (0.02, 0.5)
#: Objects whose inscribed radius (distance from the deepest inside pixel to the outline) is
#: below this keep no opaque core under the default blur (radius 3 erodes ~8 px; measured: a
#: disk of radius 10 keeps a core, radius 9 does not), so they are not offered as candidates.
MIN_CORE_RADIUS = 10.0
_SUBPIXEL_BITS = 4  # cv2.fillPoly fixed-point shift, so normalised coords are not snapped to pixels

Polygon = tuple[int, np.ndarray]


class MaskUnavailable(InpaintscopeError):
    """No object in the labels fits the request (area range, classes); callers may fall back
    to another mask kind."""


def find_label_file(image_path: str | Path) -> Path | None:
    """The YOLO label file of an image, or None when there is none.

    Maps ``.../images/<split>/<stem>.jpg`` to ``.../labels/<split>/<stem>.txt`` (the last
    ``images`` folder in the path is the one replaced, as in the Ultralytics layout).
    """
    path = Path(image_path)
    parts = list(path.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            candidate = Path(*parts).with_suffix(".txt")
            return candidate if candidate.is_file() else None
    return None


def read_labels(path: str | Path) -> list[Polygon]:
    """Parse a YOLO-seg label file into ``(class_id, N×2 normalised xy)`` polygons (one per line).

    Raises :class:`InpaintscopeError` naming the file and line for anything malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise InpaintscopeError(f"{path}: label file not found (expected a YOLO .txt file)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InpaintscopeError(f"{path}: cannot read label file ({e})") from None
    polygons: list[Polygon] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            class_id = int(float(fields[0]))
            coords = np.asarray([float(v) for v in fields[1:]], dtype=np.float64)
        except ValueError:
            raise InpaintscopeError(f"{path}:{lineno}: not a YOLO label line (class_id x1 y1 x2 y2 ...)") from None
        if coords.size == 4:
            cx, cy, bw, bh = coords
            coords = np.array(
                [cx - bw / 2, cy - bh / 2, cx + bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2, cx - bw / 2, cy + bh / 2]
            )
        if coords.size < 6 or coords.size % 2:
            raise InpaintscopeError(
                f"{path}:{lineno}: a polygon needs an even number (>= 6) of "
                f"coordinates after the class id, got {coords.size}"
            )
        polygons.append((class_id, coords.reshape(-1, 2)))
    return polygons


def _check_polygons(polygons: Iterable[Any]) -> list[Polygon]:
    checked: list[Polygon] = []
    for i, item in enumerate(polygons):
        try:
            class_id, pts = item
            pts = np.asarray(pts, dtype=np.float64)
        except (TypeError, ValueError):
            raise InpaintscopeError(f"polygons[{i}] must be (class_id, N×2 array of normalised x, y)") from None
        if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] < 3:
            raise InpaintscopeError(
                f"polygons[{i}] has shape {pts.shape}; expected N×2 with N >= 3 "
                "(x, y normalised to [0, 1] by image width and height)"
            )
        checked.append((int(class_id), pts))
    return checked


def rasterize(polygon: np.ndarray, shape: tuple[int, int], *, dilate: int = 0) -> np.ndarray:
    """Fill a normalised N×2 polygon at ``shape`` (H, W); optionally dilate by ``dilate`` px."""
    h, w = shape
    # Normalised coordinates measure from the image's outer edge; cv2 puts integer coordinates
    # on pixel centres, hence the −0.5 px. fillPoly is inclusive (boundary pixels are filled),
    # so a hole is up to one pixel wider than the exact polygon; harmless under a 3 px blur.
    scale = 1 << _SUBPIXEL_BITS
    pts = np.round((polygon * [w, h] - 0.5) * scale).astype(np.int32)
    canvas = np.zeros((h, w), dtype=np.uint8)
    cv2.fillPoly(canvas, [pts], 1, lineType=cv2.LINE_8, shift=_SUBPIXEL_BITS)
    if dilate > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1, 2 * dilate + 1))
        canvas = cv2.dilate(canvas, kernel)
    return canvas.astype(bool)


def _inscribed_radius(hole: np.ndarray) -> float:
    # Pad with background so the image border counts as outline: the blur's edge handling
    # does not give a hole that touches the border a free core there.
    padded = np.pad(hole.astype(np.uint8), 1)
    return float(cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE).max())


@register_mask("objects")
def objects(
    shape: tuple[int, int],
    *,
    rng: np.random.Generator,
    area: tuple[float, float] | None = None,
    labels: str | Path | None = None,
    polygons: Sequence[tuple[int, Any]] | None = None,
    dilate: int = 0,
    classes: Iterable[int] | None = None,
    min_core_radius: float = MIN_CORE_RADIUS,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The outline of one labelled object, chosen uniformly among those that fit.

    Pass ``labels`` (a YOLO-seg .txt, see :func:`find_label_file`) or ``polygons`` (a list of
    ``(class_id, N×2 normalised array)``). Candidates are the objects of ``classes`` (all when
    None) whose hole, after ``dilate`` px of elliptical dilation, covers a fraction inside
    ``area`` (default (0.02, 0.5)) and is thick enough (``min_core_radius`` px) to keep a core
    after blurring. Raises :class:`MaskUnavailable` when none qualifies, so callers can fall
    back to another kind. ``params`` records ``class_id``, ``object_index`` (the line's index
    among the file's objects), ``label_file`` (name) and ``candidates``.
    """
    h, w = int(shape[0]), int(shape[1])
    lo, hi = resolve_area(area, DEFAULT_AREA)  # type: ignore[misc]
    if (labels is None) == (polygons is None):
        raise InpaintscopeError(
            "objects masks need exactly one of labels= (a YOLO .txt file) "
            "or polygons= (a list of (class_id, N×2 normalised array))"
        )
    if int(dilate) < 0:
        raise InpaintscopeError(f"dilate must be >= 0 pixels, got {dilate}")
    source = read_labels(labels) if labels is not None else _check_polygons(polygons or [])
    wanted = None if classes is None else {int(c) for c in classes}
    where = Path(labels).name if labels is not None else "the given polygons"
    candidates: list[tuple[int, np.ndarray]] = []
    for index, (class_id, pts) in enumerate(source):
        if wanted is not None and class_id not in wanted:
            continue
        hole = rasterize(pts, (h, w), dilate=int(dilate))
        if lo <= hole.mean() <= hi and _inscribed_radius(hole) >= min_core_radius:
            candidates.append((index, hole))
    if not candidates:
        which = "" if wanted is None else f" of classes {sorted(wanted)}"
        raise MaskUnavailable(
            f"no object{which} in {where} ({len(source)} objects) covers {lo}–{hi} "
            f"of a {h}×{w} image with a core that survives blurring; fall back to "
            "another mask kind or widen the area range"
        )
    index, hole = candidates[int(rng.integers(len(candidates)))]
    params = {
        "class_id": source[index][0],
        "object_index": index,
        "label_file": Path(labels).name if labels is not None else None,
        "candidates": len(candidates),
        "dilate": int(dilate),
    }
    return hole, params


__all__ = ["MaskUnavailable", "find_label_file", "objects", "rasterize", "read_labels"]
