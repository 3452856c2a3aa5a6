"""Joint image/mask augmentation that never resamples.

Inpainting traces live in the highest frequencies (missing sensor noise, interpolation
statistics), and any interpolation (resize, arbitrary rotation) would blur them in
authentic and inpainted regions alike. So the only transforms are exact pixel permutations:
random crops, horizontal/vertical flips and optional 90° rotations, applied identically to
image and mask. Randomness comes from an explicit ``np.random.Generator``; the trainer seeds
one per (seed, epoch, index) so data is identical after a resume and across workers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import ShapeError
from ..tiling import pad_to_size
from .config import AugmentConfig


def augment_pair(
    image: torch.Tensor, mask: torch.Tensor, *, rng: np.random.Generator, config: AugmentConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply the same random crop / flips / 90° rotation to ``image`` (C×H×W) and ``mask`` (1×H×W).

    Images smaller than ``config.crop`` are first padded right/bottom by mirroring.
    """
    if image.ndim != 3 or mask.ndim != 3 or image.shape[-2:] != mask.shape[-2:]:
        raise ShapeError(
            f"augment_pair needs image C×H×W and mask 1×H×W of the same H×W, "
            f"got {tuple(image.shape)} and {tuple(mask.shape)}"
        )
    if config.crop is not None:
        c = int(config.crop)
        # mirrored pixels are real pixels: no interpolation, no flat fill that would look inpainted
        image, mask = pad_to_size(image, c, c), pad_to_size(mask, c, c)
        h, w = image.shape[-2:]
        y = int(rng.integers(0, h - c + 1))
        x = int(rng.integers(0, w - c + 1))
        image, mask = image[:, y : y + c, x : x + c], mask[:, y : y + c, x : x + c]
    # draw every decision even when disabled, so enabling one flag does not shift the others
    flip_h, flip_v, turns = rng.random() < 0.5, rng.random() < 0.5, int(rng.integers(0, 4))
    if config.hflip and flip_h:
        image, mask = image.flip(-1), mask.flip(-1)
    if config.vflip and flip_v:
        image, mask = image.flip(-2), mask.flip(-2)
    if config.rot90 and turns:
        image, mask = torch.rot90(image, turns, (-2, -1)), torch.rot90(mask, turns, (-2, -1))
    return image.contiguous(), mask.contiguous()


class AugmentedDataset(Dataset):
    """Wrap a contract dataset; item ``i`` of epoch ``e`` is augmented with rng(seed, e, i).

    Call :meth:`set_epoch` before each epoch (DataLoader workers are re-created per epoch,
    so they see the new value).
    """

    def __init__(self, dataset: Dataset, config: AugmentConfig, *, seed: int) -> None:
        self.dataset, self.config, self.seed, self.epoch = dataset, config, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = dict(self.dataset[i])
        rng = np.random.default_rng([self.seed, self.epoch, i])
        cues = item.get("cues")
        image = item["image"] if cues is None else torch.cat([item["image"], cues.to(item["image"].dtype)])
        image, item["mask"] = augment_pair(image, item["mask"], rng=rng, config=self.config)
        item["image"] = image[:3].contiguous()
        if cues is not None:  # cropped, flipped and turned with the image (cue maps are invariant to these)
            item["cues"] = image[3:].contiguous()
        if self.config.crop is not None and int(item["label"]) == 1 and not bool(item["mask"].any()):
            # A crop that misses the inpainted region shows only untouched pixels (realfake and
            # fakefake leave everything outside the mask bit-identical): its image label is 0.
            item["label"] = torch.zeros_like(torch.as_tensor(item["label"]))
        return item


class CachedCues(Dataset):
    """Add a cue model's cue maps (``item["cues"]``, C×H×W) to each item, computed once per item
    on the whole image and kept in memory as float16."""

    def __init__(self, dataset: Dataset, model_name: str, model_kwargs: dict[str, Any]) -> None:
        from ..models import create_model

        self.dataset = dataset
        self.compute = create_model(model_name, **model_kwargs).compute_cues
        self.cache: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = dict(self.dataset[i])
        if i not in self.cache:
            self.cache[i] = self.compute(item["image"][None])[0].to(torch.float16)
        item["cues"] = self.cache[i].float()
        return item
