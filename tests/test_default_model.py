"""The shipped default detector: present, small, self-describing, and it finds inpainted regions.

These run the real weights in ``src/inpaintscope/weights`` on photos it never saw (scikit-image
samples), inpainted here with classical methods. PatchMatch fills are a known weak spot (see
the model card) and are not asserted here.
"""

from __future__ import annotations

import numpy as np
import pytest

import inpaintscope
from inpaintscope.detection import DEFAULT_MODEL
from inpaintscope.inpaint import create_inpainter
from inpaintscope.inpaint.compose import make_composites
from inpaintscope.masks import make_mask
from inpaintscope.models import read_checkpoint_info


def test_shipped_weights_exist_are_small_and_describe_themselves():
    assert DEFAULT_MODEL.is_file(), "the default model must ship inside the package"
    assert DEFAULT_MODEL.stat().st_size < 15_000_000
    info = read_checkpoint_info(DEFAULT_MODEL)
    assert info["model"].startswith("scope_") and "preprocessing" in info
    assert (DEFAULT_MODEL.parent / "MODEL_CARD.md").is_file()
    # the recipe's last step: the image score is calibrated on validation photos (equal priors)
    cal = info["image_calibration"]
    assert cal["split"] == "val" and cal["balanced"] and cal["scale"] > 0


def _photo(name: str) -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(getattr(data, name)()[..., :3])


@pytest.mark.parametrize(
    "name,inpainter,seed", [("astronaut", "telea", 0), ("coffee", "biharmonic", 1), ("chelsea", "ns", 2)]
)
def test_default_model_finds_the_inpainted_region(name: str, inpainter: str, seed: int):
    image = _photo(name)
    rng = np.random.default_rng(seed)
    sample = make_mask("rectangle", image.shape[:2], rng=rng, area=(0.05, 0.12))
    fake = make_composites(image, sample.soft, ("realfake",), inpainter=create_inpainter(inpainter), rng=rng)[
        "realfake"
    ]
    det = inpaintscope.detect(fake)
    truth = sample.core
    iou = np.logical_and(det.mask, truth).sum() / np.logical_or(det.mask, truth).sum()
    chance = truth.mean()  # IoU of a mask that covered everything
    assert iou > max(0.3, 3 * chance), f"IoU {iou:.3f} (chance {chance:.3f})"
    assert det.score > inpaintscope.detect(image).score


def test_default_model_finds_a_clone_stamp_edit_through_its_copy_cue():
    """The default model (v0.3 on) reads the copy cue: a region cloned from elsewhere in the same photo is found, and
    without the cue (zeroed cue channels) the same model sees much less of it."""
    import torch

    from inpaintscope.detection.loader import load_model

    image = _photo("astronaut")
    rng = np.random.default_rng(4)
    sample = make_mask("rectangle", image.shape[:2], rng=rng, area=(0.05, 0.12))
    fake = make_composites(image, sample.soft, ("realfake",), inpainter=create_inpainter("clone"), rng=rng)["realfake"]
    det = inpaintscope.detect(fake)
    truth = sample.core
    iou = np.logical_and(det.mask, truth).sum() / np.logical_or(det.mask, truth).sum()
    assert iou > 0.3, f"IoU {iou:.3f}"
    assert det.score > inpaintscope.detect(image).score
    detector = load_model(None).detector
    x = torch.from_numpy(fake.transpose(2, 0, 1).copy())[None].float() / 255
    with torch.no_grad():
        cues = detector.compute_cues(x)
        silent = detector(x, cue_maps=torch.zeros_like(cues)).mask_logits
        cued = detector(x, cue_maps=cues).mask_logits
    inside = torch.from_numpy(truth)[None, None]
    assert cued[inside].mean() > silent[inside].mean() + 0.5


def test_default_model_ships_its_autoencoder_cue_fusion():
    info = read_checkpoint_info(DEFAULT_MODEL)
    fusion = info["autoencoder_cue"]["fusion"]
    assert fusion["autoencoder"] == "taef2" and len(fusion["pixel"]) == 3 and len(fusion["image"]) == 4
