"""Detection cues: the copy (self-similarity) cue and the autoencoder reconstruction-ratio cue."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from inpaintscope.models.cues.autoencoder import reconstruction_ratio
from inpaintscope.models.cues.copy import copy_cue, descriptors


def _texture(h: int = 160, w: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # smooth random texture: noise blurred at two scales, so patches are distinctive but not white
    import cv2

    noise = rng.normal(0, 1, (h, w, 3)).astype(np.float32)
    tex = cv2.GaussianBlur(noise, (0, 0), 1.5) * 60 + cv2.GaussianBlur(noise, (0, 0), 6) * 200 + 128
    return np.clip(tex, 0, 255).astype(np.uint8)


def _tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 255


@pytest.mark.parametrize("offset", [(60, 70), (61, 73)])  # even and odd offsets
def test_copy_cue_marks_both_ends_of_a_copied_region(offset: tuple[int, int]) -> None:
    img = _texture()
    dy, dx = offset
    img[80:120, 100:140] = img[80 - dy:120 - dy, 100 - dx:140 - dx]
    maps = copy_cue(_tensor(img))[0].numpy()
    assert maps.shape == (2, *img.shape[:2])
    coherence = maps[1]
    target = coherence[86:114, 106:134].mean()
    source = coherence[86 - dy:114 - dy, 106 - dx:134 - dx].mean()
    elsewhere = np.delete(coherence, np.s_[70:130], axis=0)[:, :].mean()
    assert target > 0.6 and source > 0.6, (target, source)
    assert elsewhere < 0.35, elsewhere
    assert maps[0][86:114, 106:134].mean() > maps[0].mean()  # exact copies match strongly


def test_copy_cue_is_a_pure_function_and_handles_tiny_images() -> None:
    x = _tensor(_texture(64, 72))
    torch.testing.assert_close(copy_cue(x), copy_cue(x))
    batch = torch.cat([x, x.flip(-1)])
    torch.testing.assert_close(copy_cue(batch)[1:], copy_cue(x.flip(-1)))  # images searched independently
    tiny = torch.rand(1, 3, 20, 20)
    assert float(copy_cue(tiny).abs().sum()) == 0.0


def test_dct_descriptors_ignore_brightness_and_measure_contrast() -> None:
    g = torch.from_numpy(_texture(40, 40)[..., 0].astype(np.float32))
    d1, c1 = descriptors(g)
    d2, c2 = descriptors(g + 17.0)
    torch.testing.assert_close(d1, d2, atol=1e-3, rtol=0)  # AC coefficients only
    torch.testing.assert_close(c1, c2, atol=1e-2, rtol=1e-4)
    flat_d, flat_c = descriptors(torch.full((40, 40), 90.0))
    assert float(flat_d.abs().max()) < 1e-3 and float(flat_c.max()) < 1e-3


def _lattice(x: torch.Tensor) -> torch.Tensor:
    """An idempotent 'autoencoder': AE(AE(x)) = AE(x)."""
    return torch.round(x * 4) / 4


def test_reconstruction_ratio_hand_computed_on_an_idempotent_autoencoder() -> None:
    torch.manual_seed(0)
    x = torch.rand(1, 3, 64, 64)
    x[..., :, 32:] = _lattice(x[..., :, 32:])  # the right half already is "decoder output"
    ratio = reconstruction_ratio(x, _lattice, window=8)[0, 0]
    # left: e2 = 0 and e1 > 0 → log(eps / e1) ≪ 0; right (away from the seam): e1 = e2 = 0 → log(1) = 0
    assert float(ratio[:, 40:].abs().max()) < 1e-6
    assert float(ratio[:, :24].max()) < -5.0
    ident = reconstruction_ratio(x, lambda t: t, window=8)
    assert float(ident.abs().max()) < 1e-6
