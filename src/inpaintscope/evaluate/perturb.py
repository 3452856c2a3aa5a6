"""Robustness sweeps: evaluate on images laundered after the fact (JPEG/WebP, resizing, blur,
sharpening, noise).

:class:`PerturbedDataset` wraps any reader and applies a
:class:`~inpaintscope.inpaint.postprocess.PostProcess` to every item on the fly, so one clean
test set serves every sweep point (IMDL-BenCo style) without rebuilding the data. The ground
truth follows a resize bilinearly and is re-binarised at 0.5 (soft GT stays soft).
Noise is seeded with the item's index, so a sweep is the same on every run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..inpaint.postprocess import PostProcess, parse_postprocess


class PerturbedDataset(Dataset):
    def __init__(self, dataset: Dataset, post: PostProcess | str) -> None:
        self.dataset = dataset
        self.post = parse_postprocess(post) if isinstance(post, str) else post

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.dataset[index]
        if self.post.is_identity:
            return item
        # Items hold uint8 values / 255, so this round trip is exact.
        image = (item["image"].permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)
        mask = item["mask"][0].numpy()
        soft = (mask * 255.0).round().astype(np.uint8)
        image, soft = self.post.apply(image, soft, seed=index)
        new_mask = soft.astype(np.float32) / 255.0
        if set(np.unique(mask).tolist()) <= {0.0, 1.0}:
            new_mask = (new_mask >= 0.5).astype(np.float32)
        meta = dict(item.get("meta", {}), perturbation=self.post.spec())
        return {
            "image": torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1).float() / 255.0,
            "mask": torch.from_numpy(new_mask)[None],
            "label": item["label"],
            "meta": meta,
        }
