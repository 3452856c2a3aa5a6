import numpy as np
import torch

from inpaintscope.evaluate.perturb import PerturbedDataset


def _items():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    mask = np.zeros((32, 48), np.float32)
    mask[8:24, 12:36] = 1
    return [
        {
            "image": torch.from_numpy(img).permute(2, 0, 1).float() / 255,
            "mask": torch.from_numpy(mask)[None],
            "label": torch.tensor(1),
            "meta": {"id": "a"},
        }
    ]


def test_identity_returns_item_unchanged():
    items = _items()
    assert PerturbedDataset(items, "none")[0] is items[0]


def test_resize_halves_image_and_mask_and_keeps_binary_gt():
    out = PerturbedDataset(_items(), "resize:0.5")[0]
    assert out["image"].shape == (3, 16, 24) and out["mask"].shape == (1, 16, 24)
    assert set(out["mask"].unique().tolist()) == {0.0, 1.0}
    # the rectangle 8:24 × 12:36 becomes 4:12 × 6:18 at half size
    assert out["mask"][0, 4:12, 6:18].all() and out["mask"].sum() == 8 * 12
    assert out["meta"]["perturbation"] == "resize:0.5"


def test_jpeg_changes_pixels_but_not_mask():
    item = _items()[0]
    out = PerturbedDataset([item], "jpeg:50")[0]
    assert out["image"].shape == item["image"].shape
    assert not torch.equal(out["image"], item["image"])
    assert torch.equal(out["mask"], item["mask"])
