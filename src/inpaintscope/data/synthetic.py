"""A generated, in-memory inpainting dataset for smoke runs, tests and demos.

Each image is a smooth random colour field plus Gaussian "sensor" noise. A manipulated image
has a rectangle whose pixels are replaced by a noise-free fill (the smooth field itself, or a
box-blurred copy of the noisy image): like a real inpainter, the fill lacks the camera's
noise, which a detector with a high-pass front end can learn in a few hundred steps.

Items follow the dataset contract of :func:`inpaintscope.data.readers.open_dataset`:
``{"image": float32 3×H×W in [0, 1], "mask": float32 1×H×W, "label": int64 0-dim,
"meta": dict}``. It is **not** a benchmark: use it to check that a pipeline runs and learns.

Spec string (used by ``--data``): ``synthetic:N`` or ``synthetic:NxS`` = N images of S×S
pixels (default 64), e.g. ``synthetic:32x64``. Splits get disjoint random streams.

The Bochum report: P. Adler, H. Günther, D. Gann, H. Ehringfeld, "Inpainting Detection", student
project report (MPDL project, group 2), Ruhr-Universität Bochum, 2023.
"""

from __future__ import annotations

import re
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..contract import GROUND_TRUTH_MODES, ground_truth
from ..errors import InpaintscopeError

SYNTHETIC_PREFIX = "synthetic:"
_SPEC_RE = re.compile(r"^synthetic:(\d+)(?:x(\d+))?$")
_SPLIT_CODES = {"train": 1, "val": 2, "test": 3}
INPAINTERS = ("smooth_fill", "box_blur")


class SyntheticInpaintDataset(Dataset):
    """``n`` generated images of ``size``×``size``; every ``authentic_every``-th one is authentic.

    Deterministic: item ``i`` depends only on (``seed``, ``split``, ``i``).
    """

    def __init__(
        self,
        n: int,
        *,
        size: int = 64,
        seed: int = 0,
        split: str = "train",
        gt_mode: str = "core",
        authentic_every: int = 4,
        noise_std: float = 0.04,
        include_authentic: bool = True,
    ) -> None:
        if n < 1 or size < 16:
            raise InpaintscopeError(f"synthetic dataset needs n >= 1 and size >= 16, got n={n}, size={size}")
        if gt_mode not in GROUND_TRUTH_MODES:
            raise InpaintscopeError(f"unknown gt_mode {gt_mode!r}; choose one of {GROUND_TRUTH_MODES}")
        self.size, self.seed, self.split, self.gt_mode = size, seed, split, gt_mode
        self.noise_std, self.authentic_every = noise_std, authentic_every
        indices = range(n)
        if not include_authentic and authentic_every > 0:
            indices = [i for i in indices if i % authentic_every != 0]
        self.indices = list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int) -> dict[str, Any]:
        i = self.indices[k]
        code = _SPLIT_CODES.get(self.split, sum(map(ord, self.split)))
        rng = np.random.default_rng([self.seed, code, i])
        s = self.size
        low = rng.uniform(0.15, 0.85, size=(6, 6, 3)).astype(np.float32)
        smooth = cv2.resize(low, (s, s), interpolation=cv2.INTER_CUBIC).clip(0, 1)
        noisy = (smooth + rng.normal(0, self.noise_std, size=smooth.shape).astype(np.float32)).clip(0, 1)
        soft = np.zeros((s, s), np.uint8)
        manipulated = not (self.authentic_every > 0 and i % self.authentic_every == 0)
        inpainter = None
        if manipulated:
            h, w = rng.integers(s // 4, s // 2 + 1, size=2)
            y, x = rng.integers(0, s - h + 1), rng.integers(0, s - w + 1)
            inpainter = INPAINTERS[i % len(INPAINTERS)]
            fill = smooth if inpainter == "smooth_fill" else cv2.blur(noisy, (5, 5))
            noisy[y : y + h, x : x + w] = fill[y : y + h, x : x + w]
            # a 2-px half-strength band around the core, like the blurred masks of the Bochum report
            soft[max(0, y - 2) : y + h + 2, max(0, x - 2) : x + w + 2] = 128
            soft[y : y + h, x : x + w] = 255
        gt = ground_truth(soft, self.gt_mode).astype(np.float32)
        # quantise like an 8-bit photo so the data matches what real readers deliver
        image = np.round(noisy * 255) / 255
        return {
            "image": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float(),
            "mask": torch.from_numpy(gt)[None],
            "label": torch.tensor(int(manipulated), dtype=torch.int64),
            "meta": {
                "id": f"syn-{self.split}-{i:05d}",
                "split": self.split,
                "mode": "realfake" if manipulated else "authentic",
                "inpainter": inpainter,
                "mask_kind": "rect" if manipulated else None,
                "source": "synthetic",
                "post": None,
            },
        }


def is_synthetic_spec(path: object) -> bool:
    return isinstance(path, str) and path.startswith(SYNTHETIC_PREFIX)


def open_synthetic(
    spec: str, *, split: str | None = "train", gt_mode: str = "core", seed: int = 0, include_authentic: bool = True
) -> SyntheticInpaintDataset:
    """Build the dataset a ``synthetic:N[xS]`` spec names (see the module docstring)."""
    m = _SPEC_RE.match(spec)
    if m is None:
        raise InpaintscopeError(
            f"bad synthetic data spec {spec!r}; write synthetic:N or synthetic:NxS (e.g. synthetic:32x64)"
        )
    return SyntheticInpaintDataset(
        int(m[1]),
        size=int(m[2] or 64),
        seed=seed,
        split=split or "train",
        gt_mode=gt_mode,
        include_authentic=include_authentic,
    )
