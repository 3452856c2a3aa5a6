"""Shared test helpers. Tests that need ``../shared/data`` use the ``shared_data`` fixture, which
skips (with a reason) when that third-party data is not on this machine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """``$INPAINTSCOPE_SHARED_DATA`` if set, else ``<repo>/../shared/data``; None when absent."""
    env = os.environ.get("INPAINTSCOPE_SHARED_DATA")
    root = Path(env) if env else REPO_ROOT.parent / "shared" / "data"
    return root if root.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = shared_data_dir()
    if root is None:
        pytest.skip("../shared/data is not available (set INPAINTSCOPE_SHARED_DATA to its path)")
    return root


# ---- training/evaluation tests: a tiny detector that learns the synthetic noise trace ----------

TINY_DETECTOR = "test_tiny_noise"


def register_tiny_detector() -> str:
    """Register (once) a ~250-parameter detector: fixed high-pass residual → 3×3 conv → ReLU →
    local mean → 1×1 head, i.e. a learnable local-noise-energy map. Optional image head
    (``image_head=True``) scores the mean of the mask logits. Returns its registry name."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    from inpaintscope.models import MODELS, Detector, DetectorOutput

    class TinyNoiseDetector(Detector):
        def __init__(self, *, width: int = 8, image_head: bool = False) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, width, 3, padding=1)
            self.head = nn.Conv2d(width, 1, 1)
            self.image_head = nn.Linear(1, 1) if image_head else None

        def forward(self, x: torch.Tensor) -> DetectorOutput:
            r = 20 * (x - F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1))
            h = F.avg_pool2d(F.relu(self.conv(r)), 5, stride=1, padding=2, count_include_pad=False)
            logits = self.head(h)
            image_logit = self.image_head(logits.mean(dim=(2, 3))) if self.image_head is not None else None
            return DetectorOutput(logits, image_logit)

    if TINY_DETECTOR not in MODELS:
        MODELS.register(TINY_DETECTOR)(lambda **kw: TinyNoiseDetector(**kw))
    return TINY_DETECTOR


@pytest.fixture(scope="session")
def tiny_detector() -> str:
    return register_tiny_detector()


# ---- Stable Diffusion tests: a tiny randomly initialised inpainting pipeline, saved like a real one ----


def _byte_alphabet() -> list[str]:
    """The 256 printable stand-ins byte-level BPE uses for the bytes 0–255 (GPT-2's mapping)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def build_tiny_sd_pipeline(folder: Path) -> Path:
    """A ~1.4 MB SD-inpainting-shaped pipeline (9-channel UNet, 8× VAE, CLIP text encoder, PNDM),
    written with ``save_pretrained`` to ``folder/pipeline``; the tokenizer is built from a vocab
    of single bytes written to ``folder/tokenizer-src`` (no merges, no download)."""
    import json

    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionInpaintPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    tok_dir = folder / "tokenizer-src"
    tok_dir.mkdir(parents=True)
    letters = _byte_alphabet()
    vocab = {t: i for i, t in enumerate([*letters, *(c + "</w>" for c in letters), "<|startoftext|>", "<|endoftext|>"])}
    (tok_dir / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (tok_dir / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    tokenizer = CLIPTokenizer.from_pretrained(str(tok_dir), model_max_length=77, local_files_only=True)

    state = torch.random.get_rng_state()
    torch.manual_seed(0)
    try:
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=len(vocab),
                hidden_size=16,
                intermediate_size=32,
                num_hidden_layers=1,
                num_attention_heads=2,
                max_position_embeddings=77,
                projection_dim=16,
                bos_token_id=vocab["<|startoftext|>"],
                eos_token_id=vocab["<|endoftext|>"],
                pad_token_id=vocab["<|endoftext|>"],
            )
        )
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            latent_channels=4,
            layers_per_block=1,
            down_block_types=["DownEncoderBlock2D"] * 4,
            up_block_types=["UpDecoderBlock2D"] * 4,
            block_out_channels=[8, 8, 16, 16],
            norm_num_groups=4,
            sample_size=64,
        )
        unet = UNet2DConditionModel(
            sample_size=8,
            in_channels=9,
            out_channels=4,
            layers_per_block=1,
            block_out_channels=(16, 32),
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=16,
            attention_head_dim=4,
            norm_num_groups=8,
        )
    finally:
        torch.random.set_rng_state(state)
    scheduler = PNDMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        skip_prk_steps=True,
        steps_offset=1,
        set_alpha_to_one=False,
    )
    pipe = StableDiffusionInpaintPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    from inpaintscope.inpaint.diffusers_sd import _quiet_hf

    with _quiet_hf():  # no "writing shards" bars in the test output
        pipe.save_pretrained(str(folder / "pipeline"))
    return folder / "pipeline"


@pytest.fixture(scope="session")
def tiny_sd_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of a tiny random SD inpainting pipeline; skips when the diffusers extra is missing."""
    pytest.importorskip("diffusers", reason='needs the diffusers extra: pip install "inpaintscope[diffusers]"')
    pytest.importorskip("transformers", reason='needs the diffusers extra: pip install "inpaintscope[diffusers]"')
    from inpaintscope.inpaint.diffusers_sd import require_diffusers

    require_diffusers()  # imports quietly (no torchvision warnings)
    return build_tiny_sd_pipeline(tmp_path_factory.mktemp("tiny_sd"))


@pytest.fixture
def torch_one_thread() -> Iterator[None]:
    """Tiny-model torch calls on one thread: on a busy 2-core machine, the thread pool's waits cost
    ~30× the work itself (the dataset builder does the same in its workers)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
