"""Batching of contract items: the one collation that training, validation and evaluation share.

An item is ``{"image": float 3×H×W, "mask": float 1×H×W, "label": int 0-dim, "meta": dict}``
(see :mod:`inpaintscope.data.readers`); a batch is ``image`` B×3×H×W, ``mask`` B×1×H×W,
``label`` int64 B and ``meta`` a list of B dicts.

* :func:`collate_samples` stacks items that share one size (training: crops make them so);
* :func:`same_size_batches` splits a list of items of mixed sizes into runs of equal size and
  collates each, so validation and evaluation can batch native-resolution photos.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from ..errors import ShapeError


def collate_samples(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack items into ``image`` B×3×H×W, ``mask`` B×1×H×W, ``label`` int64 B; ``meta`` stays a list."""
    if not batch:
        raise ValueError("cannot collate an empty batch")
    shapes = {tuple(item["image"].shape) for item in batch}
    if len(shapes) > 1:
        raise ShapeError(
            f"items in a batch differ in size ({sorted(shapes)}); give them one size (a random crop "
            "when training: augment.crop / --crop; one --size when building the dataset) "
            "or use batch size 1"
        )
    out = {
        "image": torch.stack([b["image"] for b in batch]),
        "mask": torch.stack([b["mask"] for b in batch]),
        "label": torch.stack([torch.as_tensor(b["label"], dtype=torch.int64) for b in batch]),
        "meta": [b.get("meta", {}) for b in batch],
    }
    if "cues" in batch[0]:  # cue maps a trainer cached (models with cues, see train.augment.CachedCues)
        out["cues"] = torch.stack([b["cues"] for b in batch])
    return out


def same_size_batches(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Collate each run of consecutive same-size items of ``items`` into one batch, in order."""
    start = 0
    while start < len(items):
        shape = tuple(items[start]["image"].shape)
        end = start + 1
        while end < len(items) and tuple(items[end]["image"].shape) == shape:
            end += 1
        yield collate_samples(items[start:end])
        start = end
