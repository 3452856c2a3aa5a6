"""Helpers for the detect tests (no tests here): a tiny Detector with hand-settable weights,
its registration, checkpoints and synthetic images.

The tiny model is ``conv(k×k, 3→c) → tanh → conv(k×k, c→1)`` (receptive radius ``k - 1``) and
an image head ``image_logit = a · max(mask_logits) + b``. :func:`bright_state` sets it to a
hand-computable "detector" of bright pixels: ``logit = GAIN · tanh(mean RGB) − BIAS`` per pixel
and ``image_logit = max logit``.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from inpaintscope.models import MODELS, Detector, DetectorOutput, save_checkpoint

NAME = "_test_detect_tiny"
GAIN, BIAS = 10.0, 3.8


class TinyDetector(Detector):
    """Test-only detector; ``multiple`` > 1 makes it refuse inputs that are not padded to it."""

    def __init__(self, *, kernel: int = 3, width: int = 4, image_head: bool = True, multiple: int = 1) -> None:
        super().__init__()
        self.size_multiple = multiple  # type: ignore[misc]
        self.conv1 = nn.Conv2d(3, width, kernel, padding=kernel // 2)
        self.conv2 = nn.Conv2d(width, 1, kernel, padding=kernel // 2)
        self.head = nn.Linear(1, 1) if image_head else None

    def forward(self, x: torch.Tensor) -> DetectorOutput:
        m = self.size_multiple
        if x.shape[-1] % m or x.shape[-2] % m:
            raise RuntimeError(f"input {tuple(x.shape)} not a multiple of {m}")
        logits = self.conv2(torch.tanh(self.conv1(x)))
        image_logit = None if self.head is None else self.head(logits.amax(dim=(2, 3)))
        return DetectorOutput(logits, image_logit)


@contextlib.contextmanager
def registered() -> Iterator[str]:
    """Register the tiny model for the duration (and only then: other tests enumerate MODELS)."""
    added = NAME not in MODELS
    if added:
        MODELS.register(NAME)(lambda **kw: TinyDetector(**kw))
    try:
        yield NAME
    finally:
        if added:
            MODELS.unregister(NAME)


def bright_state(model: TinyDetector) -> dict[str, torch.Tensor]:
    """Weights making ``model`` (kernel 3) flag bright pixels (see module doc)."""
    sd = {k: torch.zeros_like(v) for k, v in model.state_dict().items()}
    k = model.conv1.kernel_size[0] // 2
    sd["conv1.weight"][0, :, k, k] = 1.0 / 3.0
    sd["conv2.weight"][0, 0, k, k] = GAIN
    sd["conv2.bias"][0] = -BIAS
    if model.head is not None:
        sd["head.weight"][0, 0] = 1.0
    return sd


def bright_probability(v: float) -> float:
    """Heatmap value the bright model gives a pixel whose RGB mean is ``v`` (0–255)."""
    return 1.0 / (1.0 + math.exp(-(GAIN * math.tanh(v / 255.0) - BIAS)))


def make_checkpoint(path: Path, *, kind: str = "bright", seed: int = 0, **kwargs) -> Path:
    """Save a tiny-model checkpoint: ``bright`` (hand-set), ``random`` (seeded init) or ``nan``
    (every weight NaN, like a training run that diverged)."""
    torch.manual_seed(seed)
    model = TinyDetector(**kwargs)
    sd = bright_state(model) if kind == "bright" else model.state_dict()
    if kind == "nan":
        sd = {k: torch.full_like(v, float("nan")) for k, v in sd.items()}
    return save_checkpoint(path, sd, {"model": NAME, "kwargs": kwargs})


def square_image(
    size: int = 96, *, box: tuple[int, int, int, int] = (20, 30, 50, 70), noise_seed: int | None = None
) -> np.ndarray:
    """Dark image (value 20) with a white (255) box ``x0, y0, x1, y1`` (exclusive)."""
    img = np.full((size, size, 3), 20, np.uint8)
    x0, y0, x1, y1 = box
    img[y0:y1, x0:x1] = 255
    if noise_seed is not None:
        rng = np.random.default_rng(noise_seed)
        img = np.clip(img.astype(np.int16) + rng.integers(-8, 9, img.shape), 0, 255).astype(np.uint8)
    return img


#: a Python snippet for subprocess tests: registers the tiny model, then runs the real CLI
CLI_SCRIPT = (
    "import sys; sys.path.insert(0, {tests!r}); import test_detect_support as s\n"
    "from inpaintscope.cli.main import main\n"
    "with s.registered():\n"
    "    main(sys.argv[1:])\n"
)


#: the same, printing the process's peak resident memory (``MAXRSS_KB <n>``) to stderr at exit
CLI_MEMORY_SCRIPT = (
    "import resource, sys; sys.path.insert(0, {tests!r}); import test_detect_support as s\n"
    "from inpaintscope.cli.main import main\n"
    "try:\n"
    "    with s.registered():\n"
    "        main(sys.argv[1:])\n"
    "finally:\n"
    "    print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
)


def cli_command(*args: str | bytes, memory: bool = False) -> list[str | bytes]:
    script = CLI_MEMORY_SCRIPT if memory else CLI_SCRIPT
    return [sys.executable, "-c", script.format(tests=str(Path(__file__).parent)), *args]
