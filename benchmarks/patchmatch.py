"""Time the PatchMatch inpainter on a 512² photo with a 10 % hole (median of 3 runs).

Run: ``OMP_NUM_THREADS=1 python benchmarks/patchmatch.py``. Uses a photo from the
shared data folder's ``photos/`` (see ``_harness.shared_data``) and falls back to scikit-image's
bundled ``astronaut`` sample. Two holes are timed: a centred square and, when the shared
irregular masks exist, the one whose area is closest to 10 % (free-form holes spread over the
image, so the processed window is larger).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import cv2
import numpy as np

from _harness import median_seconds, shared_data
from inpaintscope.inpaint import create_inpainter
from inpaintscope.io import list_image_files, read_image, read_mask

SIZE = 512
RUNS = 3


def load_photo(data: Path | None) -> tuple[np.ndarray, str]:
    photos = list_image_files(data / "photos") if data and (data / "photos").is_dir() else []
    if photos:
        path = photos[0]
        return cv2.resize(read_image(path), (SIZE, SIZE), interpolation=cv2.INTER_AREA), str(path)
    from skimage import data as skdata

    return cv2.resize(skdata.astronaut(), (SIZE, SIZE), interpolation=cv2.INTER_AREA), "skimage astronaut"


def square_hole(fraction: float = 0.10) -> np.ndarray:
    side = round(SIZE * fraction**0.5)
    m = np.zeros((SIZE, SIZE), bool)
    o = (SIZE - side) // 2
    m[o : o + side, o : o + side] = True
    return m


def irregular_hole(data: Path | None, fraction: float = 0.10) -> tuple[np.ndarray, str] | None:
    folder = data / "masks" / "irregular" if data else None
    if folder is None or not folder.is_dir():
        return None
    # The second bin (files 250–499 of 1500 in name order) holds 10–20 % holes; take the closest to 10 %.
    files = list_image_files(folder)[200:300]
    masks = [(abs((read_mask(f) > 127).mean() - fraction), f) for f in files]
    _, best = min(masks)
    m = read_mask(best) > 127
    if m.shape != (SIZE, SIZE):
        m = cv2.resize(m.astype(np.uint8), (SIZE, SIZE), interpolation=cv2.INTER_NEAREST).astype(bool)
    return m, best.name


def time_fill(image: np.ndarray, mask: np.ndarray) -> float:
    inpainter = create_inpainter("patchmatch")
    rng = np.random.default_rng(0)
    return median_seconds(lambda: inpainter.inpaint(image, mask, rng=rng), RUNS, warmup=False)


def main() -> int:
    data = shared_data()
    image, source = load_photo(data)
    print(f"photo: {source}  threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    sq = square_hole()
    print(f"patchmatch {SIZE}² square hole {sq.mean():.1%}: {time_fill(image, sq):.2f} s (median of {RUNS})")
    irr = irregular_hole(data)
    if irr is not None:
        m, name = irr
        print(
            f"patchmatch {SIZE}² irregular hole {name} {m.mean():.1%}: {time_fill(image, m):.2f} s (median of {RUNS})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
