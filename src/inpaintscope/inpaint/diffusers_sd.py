"""Stable Diffusion inpainting and Stable Diffusion's VAE, from local diffusers folders.

The Bochum report (Adler et al. 2023, *Inpainting Detection*, a student project report;
docs/references.md, §4.2 and §4.4) made its ``inpainted`` / ``realfake`` files
with ``StableDiffusionInpaintPipeline`` (SD 1.5 inpainting; an SD 2 inpainting set for
extrapolation) and its ``fakefake`` files with that pipeline's ``AutoencoderKL``. This module
runs both from folders the user already has (``save_pretrained`` layout: ``model_index.json``,
``unet/``, ``vae/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``). Everything is loaded with
``local_files_only=True``: nothing is ever downloaded. ``diffusers`` and ``transformers`` are an optional extra
(``pip install "inpaintscope[diffusers]"``); importing this module does not import them.

Choices (where the Bochum report left things open or got them wrong):

* **Seeded**: every call draws its torch seed from the caller's ``rng`` (the builder records
  it), and the noise comes from a CPU ``torch.Generator``: the same seed gives the same image.
* **Scheduler**: the one saved in the folder (the pipeline's default: PNDM for SD 1.5
  inpainting, DDIM for SD 2), rebuilt from its config at load, never swapped.
* **Any size**: the pipeline needs sides that are multiples of 8; the image is reflect-padded
  on the bottom/right (the padding is never part of the hole) and the output cropped back, so
  every pixel keeps its native resolution. Nothing is resized.
* **No safety checker**: it blacks out whole images it flags, which would plant a fake
  "inpainting" signal in a forensics dataset.
* **VAE range**: SD's VAE expects [−1, 1] input; the Bochum report fed it [0, 1] (``ToTensor``) and
  read the output as [0, 1]. We default to the correct range; ``vae_range="report"`` reproduces
  the Bochum report's bug.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import InpaintscopeError, MissingDependencyError, MissingWeightsError, install_hint
from ..io.records import read_json_object
from .autoencoder import STRIDE, LatentAutoencoder
from .base import Inpainter, register_inpainter

if TYPE_CHECKING:
    from torch import nn

NAME = "diffusers"
INSTALL_HINT = install_hint("diffusers")
#: Image sides are padded up to a multiple of this (SD's VAE down-samples by 8).
SIZE_MULTIPLE = 8
VAE_RANGES: tuple[str, ...] = ("correct", "report")
DEFAULT_VAE_RANGE = "correct"
PIPELINE_PARTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
#: Files hashed in full by :func:`folder_fingerprint`; weights count by name and size only.
_SMALL_SUFFIXES = (".json", ".txt", ".model")


# --------------------------------------------------------------------------- the optional extra


def require_diffusers() -> SimpleNamespace:
    """Import diffusers and transformers (quietly; cheap after the first call), or raise a
    :class:`MissingDependencyError` whose one line is the install hint."""
    try:
        import diffusers  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as e:
        missing = getattr(e, "name", None) or "diffusers"
        raise MissingDependencyError(f"Stable Diffusion support needs {missing}: {INSTALL_HINT}") from None
    import torch

    with _quiet_hf():
        # The pipeline module touches CLIPImageProcessor, which logs a warning when torchvision
        # is absent (the PIL fallback is used; we never use the image processor anyway).
        from diffusers import AutoencoderKL, StableDiffusionInpaintPipeline
    return SimpleNamespace(torch=torch, AutoencoderKL=AutoencoderKL, Pipeline=StableDiffusionInpaintPipeline)


@contextlib.contextmanager
def _quiet_hf() -> Iterator[None]:
    """Silence diffusers/transformers warnings and loading bars, restoring their settings after."""
    from diffusers.utils import logging as dlog
    from transformers.utils import logging as tlog

    saved = [(m, m.get_verbosity(), m.is_progress_bar_enabled()) for m in (dlog, tlog)]
    for m, _, _ in saved:
        m.set_verbosity_error()
        m.disable_progress_bar()
    try:
        yield
    finally:
        for m, level, bars in saved:
            m.set_verbosity(level)
            if bars:
                m.enable_progress_bar()


def _load_error(what: str, path: Path, e: Exception) -> InpaintscopeError:
    first = (str(e).strip().splitlines() or [""])[0][:300]
    return InpaintscopeError(f"cannot load the {what} from {path}: {type(e).__name__}: {first}")


# --------------------------------------------------------------------------- folders


def check_pipeline_dir(path: str | Path) -> Path:
    """The resolved pipeline folder, or a one-line error saying what is missing."""
    d = Path(path).expanduser()
    if not d.is_dir():
        raise MissingWeightsError(
            f"{d}: no such folder (pass a local diffusers inpainting pipeline folder; "
            "inpaintscope never downloads weights)"
        )
    if not (d / "model_index.json").is_file():
        raise MissingWeightsError(
            f"{d} is not a diffusers pipeline folder (no model_index.json); pass the folder "
            "save_pretrained wrote, e.g. a local copy of an SD inpainting model"
        )
    missing = [p for p in PIPELINE_PARTS if not (d / p).is_dir()]
    if missing:
        raise MissingWeightsError(f"{d}: the pipeline folder lacks {', '.join(p + '/' for p in missing)}")
    unet = read_json_object(d / "unet" / "config.json") if (d / "unet" / "config.json").is_file() else {}
    if unet.get("in_channels") not in (None, 4, 9):
        raise InpaintscopeError(
            f"{d}: its UNet takes {unet['in_channels']} input channels; an SD inpainting "
            "pipeline needs 9 (or 4 for a text-to-image UNet)"
        )
    return d.resolve()


def find_vae_dir(path: str | Path) -> Path | None:
    """The AutoencoderKL folder ``path`` names (itself, or a pipeline folder's ``vae/``), else None."""
    d = Path(path).expanduser()
    for cand in (d, d / "vae"):
        cfg = cand / "config.json"
        if cfg.is_file():
            try:
                cls = read_json_object(cfg).get("_class_name")
            except InpaintscopeError:
                continue
            if cls == "AutoencoderKL":
                return cand.resolve()
    return None


def folder_fingerprint(path: str | Path) -> str:
    """A digest identifying a model folder: configs and tokenizer files by content, weights by
    relative name and size (hashing gigabytes of weights at every build start would be slow)."""
    root = Path(path)
    h = hashlib.blake2b(digest_size=16)
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    for f in files:
        h.update(f.relative_to(root).as_posix().encode("utf-8") + b"\0")
        if f.suffix in _SMALL_SUFFIXES:
            h.update(f.read_bytes())
        else:
            h.update(str(f.stat().st_size).encode("ascii"))
        h.update(b"\0")
    return h.hexdigest()


# --------------------------------------------------------------------------- inpainting


_PIPELINES: dict[str, Any] = {}
_PIPELINES_LOCK = threading.Lock()


def load_pipeline(path: str | Path) -> Any:
    """``StableDiffusionInpaintPipeline`` from a local folder, float32, cached per folder for
    this process (the builder asks for it once per sample)."""
    d = check_pipeline_dir(path)
    with _PIPELINES_LOCK:
        if str(d) not in _PIPELINES:
            hf = require_diffusers()
            try:
                with _quiet_hf():
                    pipe = hf.Pipeline.from_pretrained(
                        str(d),
                        local_files_only=True,
                        safety_checker=None,
                        feature_extractor=None,
                        requires_safety_checker=False,
                    )
                    pipe.to(dtype=hf.torch.float32)  # fp16 folders too: CPU runs float32
            except Exception as e:  # noqa: BLE001 - any failure here is a bad folder for the user
                raise _load_error("diffusers inpainting pipeline", d, e) from None
            pipe.set_progress_bar_config(disable=True)
            _PIPELINES[str(d)] = pipe
        return _PIPELINES[str(d)]


def draw_seed(rng: np.random.Generator) -> int:
    """The torch seed of one diffusion call, drawn from the sample's stream."""
    return int(rng.integers(0, 2**63))


def _check_steps(steps: Any) -> int:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= steps <= 1000:
        raise InpaintscopeError(f"inpainter option steps must be an integer in [1, 1000], got {steps!r}")
    return int(steps)


def _check_guidance(guidance: Any) -> float:
    try:
        g = float(guidance)
    except (TypeError, ValueError):
        raise InpaintscopeError(f"inpainter option guidance must be a number, got {guidance!r}") from None
    if not 0.0 <= g <= 100.0:
        raise InpaintscopeError(f"inpainter option guidance must be in [0, 100], got {g}")
    return g


def _pad_to_multiple(image: np.ndarray, multiple: int) -> np.ndarray:
    h, w = image.shape[:2]
    pad = ((0, -h % multiple), (0, -w % multiple)) + ((0, 0),) * (image.ndim - 2)
    if pad[0][1] == 0 and pad[1][1] == 0:
        return image
    return np.pad(image, pad, mode="reflect" if min(h, w) > 1 else "edge")


@register_inpainter(NAME)
class DiffusersInpainter(Inpainter):
    """Stable Diffusion inpainting (``StableDiffusionInpaintPipeline``) from a local folder.

    Options: ``model`` (the pipeline folder, required), ``prompt`` (default empty), ``steps``
    (50), ``guidance`` (7.5) and ``seed`` (None: drawn from the call's ``rng``). ``raw`` is the
    pipeline's output as is: every pixel has been through the VAE (the Bochum report's ``inpainted``).
    The hole is the mask given to ``raw``; strength is 1 (the hole is generated from noise).
    """

    touches_unmasked = True
    #: ``--inpainters diffusers:PATH`` fills this option with PATH.
    path_option: ClassVar[str] = "model"

    def __init__(
        self,
        *,
        model: str | Path | None = None,
        prompt: str = "",
        steps: int = 50,
        guidance: float = 7.5,
        seed: int | None = None,
    ) -> None:
        if model is None:
            raise InpaintscopeError(
                "the diffusers inpainter needs model=<local diffusers inpainting pipeline "
                "folder> (e.g. --inpainters diffusers:PATH); nothing is downloaded"
            )
        if not isinstance(prompt, str):
            raise InpaintscopeError(f"inpainter option prompt must be a string, got {type(prompt).__name__}")
        if seed is not None and not (isinstance(seed, (int, np.integer)) and 0 <= seed < 2**64):
            raise InpaintscopeError(f"inpainter option seed must be an integer in [0, 2^64), got {seed!r}")
        folder = check_pipeline_dir(model)
        super().__init__(
            model=str(folder),
            prompt=prompt,
            steps=_check_steps(steps),
            guidance=_check_guidance(guidance),
            seed=None if seed is None else int(seed),
        )
        self.pipeline = load_pipeline(folder)
        self.fingerprint = _fingerprint(str(folder))

    def for_sample(self, *, prompt: str, rng: np.random.Generator) -> DiffusersInpainter:
        """This inpainter (same loaded pipeline) with one sample's prompt and a seed drawn from
        ``rng``, so :meth:`describe` records exactly what the call will use."""
        o = self.options
        return type(self)(
            model=o["model"], prompt=prompt, steps=o["steps"], guidance=o["guidance"], seed=draw_seed(rng)
        )

    def describe(self) -> dict[str, Any]:
        """What the manifest records; the folder by name and fingerprint, never its absolute path."""
        o, pipe = self.options, self.pipeline
        return {
            "name": self.name,
            "model": Path(o["model"]).name,
            "model_fingerprint": self.fingerprint,
            "pipeline": type(pipe).__name__,
            "scheduler": type(pipe.scheduler).__name__,
            "unet_in_channels": int(pipe.unet.config.in_channels),
            "prompt": o["prompt"],
            "steps": o["steps"],
            "guidance": o["guidance"],
            "strength": 1.0,
            "seed": o["seed"],
            "size_multiple": self._multiple(),
            "padding": "reflect, bottom/right, cropped back",
        }

    def _multiple(self) -> int:
        return max(SIZE_MULTIPLE, int(self.pipeline.vae_scale_factor))

    def _fill(self, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        from PIL import Image

        torch = require_diffusers().torch
        seed = self.options["seed"] if self.options["seed"] is not None else draw_seed(rng)
        h, w = image.shape[:2]
        padded = _pad_to_multiple(image, self._multiple())
        hole = np.zeros(padded.shape[:2], np.uint8)
        hole[:h, :w] = mask.astype(np.uint8) * 255
        ph, pw = padded.shape[:2]
        generator = torch.Generator(device="cpu").manual_seed(seed)
        try:
            with torch.no_grad():
                out = self.pipeline(
                    prompt=self.options["prompt"],
                    image=Image.fromarray(padded),
                    mask_image=Image.fromarray(hole),
                    height=ph,
                    width=pw,
                    strength=1.0,
                    num_inference_steps=self.options["steps"],
                    guidance_scale=self.options["guidance"],
                    generator=generator,
                    output_type="np",
                ).images[0]
        except (RuntimeError, ValueError) as e:  # e.g. out of memory for a huge native-size photo
            raise InpaintscopeError(
                f"Stable Diffusion failed on a {w}×{h} image: {type(e).__name__}: "
                f"{(str(e).splitlines() or [''])[0][:200]}"
            ) from None
        if out.shape[:2] != (ph, pw):
            raise InpaintscopeError(
                f"the pipeline returned {out.shape[1]}×{out.shape[0]} for a {pw}×{ph} input; it must not resize"
            )
        return np.clip(np.round(out[:h, :w] * 255.0), 0, 255).astype(np.uint8)


@functools.cache
def _fingerprint(folder: str) -> str:
    return folder_fingerprint(folder)


# --------------------------------------------------------------------------- the VAE for fakefake


@functools.cache
def _vae_modules() -> SimpleNamespace:
    """nn.Module wrappers that give an AutoencoderKL the TAEF2 calling convention ([0, 1] in,
    [0, 1] out), so :class:`LatentAutoencoder`'s padding and tiling apply unchanged."""
    from torch import nn

    class Encode(nn.Module):
        def __init__(self, vae: nn.Module, vae_range: str) -> None:
            super().__init__()
            self.vae, self.vae_range = vae, vae_range

        def forward(self, x: Any) -> Any:
            if self.vae_range == "correct":
                x = x * 2.0 - 1.0
            # The posterior's mode, unscaled: a round trip needs no latent scaling (as the Bochum report).
            return self.vae.encode(x).latent_dist.mode()

    class Decode(nn.Module):
        def __init__(self, vae: nn.Module, vae_range: str) -> None:
            super().__init__()
            self.vae, self.vae_range = vae, vae_range

        def forward(self, z: Any) -> Any:
            y = self.vae.decode(z).sample
            return (y + 1.0) / 2.0 if self.vae_range == "correct" else y

    return SimpleNamespace(Encode=Encode, Decode=Decode)


class DiffusersAutoencoder(LatentAutoencoder):
    """A diffusers ``AutoencoderKL`` (any SD VAE) as a :class:`LatentAutoencoder`.

    ``vae_range="correct"`` (default) feeds the VAE [−1, 1] as it was trained; ``"report"``
    feeds [0, 1] and reads [0, 1] back, the Bochum report's ``fakefake`` bug.
    """

    kind = "autoencoderkl"

    def __init__(
        self, vae: nn.Module, *, vae_range: str = DEFAULT_VAE_RANGE, name: str = "", fingerprint: str = "", **kw: Any
    ) -> None:
        if vae_range not in VAE_RANGES:
            raise InpaintscopeError(f"vae_range must be one of {', '.join(VAE_RANGES)}, got {vae_range!r}")
        stride = 2 ** (len(vae.config.block_out_channels) - 1)
        if STRIDE % stride:
            raise InpaintscopeError(
                f"this AutoencoderKL down-samples by {stride}; only factors dividing {STRIDE} are supported"
            )
        m = _vae_modules()
        super().__init__(m.Encode(vae, vae_range), m.Decode(vae, vae_range), **kw)
        self.vae_range, self.name, self.fingerprint = vae_range, name, fingerprint

    @classmethod
    def from_folder(cls, path: str | Path, *, vae_range: str = DEFAULT_VAE_RANGE, **kw: Any) -> DiffusersAutoencoder:
        """Load from an AutoencoderKL folder or a pipeline folder (its ``vae/``); never downloads."""
        d = find_vae_dir(path)
        if d is None:
            raise MissingWeightsError(
                f"{path}: no diffusers AutoencoderKL here (a config.json with "
                "_class_name AutoencoderKL, here or in vae/)"
            )
        hf = require_diffusers()
        try:
            with _quiet_hf():
                vae = hf.AutoencoderKL.from_pretrained(str(d), local_files_only=True)
                vae = vae.to(dtype=hf.torch.float32).eval()
        except Exception as e:  # noqa: BLE001 - any failure here is a bad folder for the user
            raise _load_error("AutoencoderKL", d, e) from None
        return cls(vae, vae_range=vae_range, name=d.name, fingerprint=folder_fingerprint(d), **kw)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "vae_range": self.vae_range,
            "latent": "posterior mode, unscaled",
            "model": self.name,
            "model_fingerprint": self.fingerprint,
        }
