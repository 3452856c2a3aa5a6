"""TAEF2: a tiny latent autoencoder, and the ``autoencoder`` inpainter built on it.

The Bochum report's ``fakefake`` mode and its ``inpainted`` files (docs/references.md, §4) come
from passing an image through a
latent diffusion model's autoencoder (Stable Diffusion's VAE), which changes *every* pixel a
little. TAEF2 is a small distilled approximation of the FLUX.2 latent autoencoder (MIT licence);
the module layout below follows TAEF2's published layout (O. Boer Bohan's TAESD family of tiny
autoencoders; docs/references.md, §6) exactly so the key names of the
published fp16 state dicts (``0.weight``, ``1.conv.0.weight``, ``11.pool.1.weight``, ...) load with
``strict=True``. We never download weights: the user passes the directory that holds them.

The Bochum report: P. Adler, H. Günther, D. Gann, H. Ehringfeld, "Inpainting Detection", student
project report (MPDL project, group 2), Ruhr-Universität Bochum, 2023.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..contract import check_image, check_mask
from ..errors import InpaintscopeError, MissingWeightsError
from .base import Inpainter, register_inpainter
from .classical import require_known, telea_fill

if TYPE_CHECKING:
    import torch
    from torch import nn

ENCODER_FILE = "taef2_encoder.pth"
DECODER_FILE = "taef2_decoder.pth"
LATENT_CHANNELS = 32
#: Total down-sampling of the encoder; inputs are reflect-padded to multiples of this.
STRIDE = 8
#: default tile side and overlap of :meth:`LatentAutoencoder.roundtrip` (pixels)
DEFAULT_TILE = 512
DEFAULT_OVERLAP = 64


@functools.cache
def _nets() -> SimpleNamespace:
    """The torch module classes, defined on first use: importing torch costs seconds, and
    ``inpaintscope.inpaint`` is imported by every command, most of which never need it."""
    import torch
    from torch import nn

    def c3(i: int, o: int, *, stride: int = 1, bias: bool = True) -> nn.Conv2d:
        return nn.Conv2d(i, o, 3, stride=stride, padding=1, bias=bias)

    class Block(nn.Module):
        """Residual unit ``ReLU(conv(x) + skip(x))``; the pooled variant first adds ``pool(x)``
        (1×1 expand ×4, GroupNorm(4), ReLU, 1×1 back), as TAEF2's pooled block."""

        def __init__(self, i: int, o: int, *, pooled: bool = False) -> None:
            super().__init__()
            if pooled:
                self.pool = nn.Sequential(
                    nn.Conv2d(i, 4 * i, 1, bias=False),
                    nn.GroupNorm(4, 4 * i),
                    nn.ReLU(),
                    nn.Conv2d(4 * i, i, 1, bias=False),
                )
            else:
                self.pool = None
            self.conv = nn.Sequential(c3(i, o), nn.ReLU(), c3(o, o), nn.ReLU(), c3(o, o))
            self.skip = nn.Conv2d(i, o, 1, bias=False) if i != o else nn.Identity()
            self.fuse = nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.pool is not None:
                x = x + self.pool(x)
            return self.fuse(self.conv(x) + self.skip(x))

    class SoftClamp(nn.Module):
        """``tanh(x / 3) * 3``: keeps latents in the range the decoder was trained on."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.tanh(x / 3) * 3

    return SimpleNamespace(torch=torch, nn=nn, c3=c3, Block=Block, SoftClamp=SoftClamp)


def build_encoder() -> nn.Sequential:
    """TAEF2 encoder: RGB in [0, 1], B×3×H×W (H, W multiples of 8) → B×32×H/8×W/8."""
    t = _nets()
    c3, Block = t.c3, t.Block
    return t.nn.Sequential(
        c3(3, 64),
        Block(64, 64),
        c3(64, 64, stride=2, bias=False),
        Block(64, 64),
        Block(64, 64),
        Block(64, 64),
        c3(64, 64, stride=2, bias=False),
        Block(64, 64),
        Block(64, 64),
        Block(64, 64),
        c3(64, 64, stride=2, bias=False),
        Block(64, 64, pooled=True),
        Block(64, 64, pooled=True),
        Block(64, 64, pooled=True),
        c3(64, LATENT_CHANNELS),
    )


def build_decoder() -> nn.Sequential:
    """TAEF2 decoder: B×32×h×w latents → B×3×8h×8w RGB (clamped to [0, 1] by the caller)."""
    t = _nets()
    c3, Block, nn = t.c3, t.Block, t.nn
    return nn.Sequential(
        t.SoftClamp(),
        c3(LATENT_CHANNELS, 64),
        nn.ReLU(),
        Block(64, 64, pooled=True),
        Block(64, 64, pooled=True),
        Block(64, 64, pooled=True),
        nn.Upsample(scale_factor=2, mode="nearest"),
        c3(64, 64, bias=False),
        Block(64, 64),
        Block(64, 64),
        Block(64, 64),
        nn.Upsample(scale_factor=2, mode="nearest"),
        c3(64, 64, bias=False),
        Block(64, 64),
        Block(64, 64),
        Block(64, 64),
        nn.Upsample(scale_factor=2, mode="nearest"),
        c3(64, 64, bias=False),
        Block(64, 64),
        c3(64, 3),
    )


#: the TAEF2 weights shipped with the package (MIT licence, see weights/taef2/LICENSE);
#: ``--autoencoder taef2`` (or ``open_autoencoder("taef2")``) uses them
SHIPPED_TAEF2 = Path(__file__).resolve().parents[1] / "weights" / "taef2"


def resolve_autoencoder_dir(directory: str | Path) -> Path:
    """``"taef2"`` → the shipped TAEF2 folder (unless a folder of that name exists here); else the path."""
    d = Path(directory).expanduser()
    return SHIPPED_TAEF2 if str(directory) == "taef2" and not d.exists() else d


def _weights_file(directory: Path, name: str) -> Path:
    """``name`` (a ``.pth`` file name) or its ``.safetensors`` twin, whichever exists."""
    twin = (directory / name).with_suffix(".safetensors")
    return twin if twin.is_file() and not (directory / name).is_file() else directory / name


def _load_state(module: nn.Module, path: Path) -> None:
    torch = _nets().torch
    if not path.is_file():
        raise MissingWeightsError(
            f"autoencoder weights not found: {path} (inpaintscope never downloads "
            "weights; pass the directory holding taef2_encoder.pth and taef2_decoder.pth)"
        )
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a bad file for the user
        raise InpaintscopeError(f"{path}: not a loadable PyTorch state dict ({e})") from None
    if not isinstance(state, dict):
        raise InpaintscopeError(f"{path}: expected a state dict, got {type(state).__name__}")
    state = {k: v.float() for k, v in state.items()}  # published as fp16; we compute in fp32
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise InpaintscopeError(f"{path}: keys/shapes do not match the TAEF2 layout ({e})") from None


class LatentAutoencoder:
    """Encoder + decoder pair with a uint8-in, uint8-out :meth:`roundtrip`.

    Large images are processed in tiles of at most ``tile``×``tile`` pixels that overlap by at
    least ``overlap`` pixels, blended with linear ramps (the tiler detectors use:
    :mod:`inpaintscope.tiling`), so memory stays bounded (activations are 64 channels at full
    resolution: ~70 MB per tensor at 512²). The pooled blocks use GroupNorm statistics over the
    tile, so a tiled result differs slightly from a single pass.
    """

    #: Recorded in manifests; subclasses wrapping other autoencoders set their own.
    kind = "taef2"

    def __init__(
        self,
        encoder: nn.Sequential,
        decoder: nn.Sequential,
        *,
        tile: int = DEFAULT_TILE,
        overlap: int = DEFAULT_OVERLAP,
    ) -> None:
        from ..tiling import check_tiling  # here, not at the top: importing this module stays torch-free

        if tile % STRIDE or 2 * overlap > tile:
            raise InpaintscopeError(
                f"tile must be a multiple of {STRIDE} and overlap at most half of it, "
                f"got tile {tile}, overlap {overlap}"
            )
        check_tiling(tile, overlap, multiple=STRIDE)
        self.encoder = encoder.eval()
        self.decoder = decoder.eval()
        self.tile = tile
        self.overlap = overlap

    @classmethod
    def random_init(cls, *, seed: int = 0, **kw: Any) -> LatentAutoencoder:
        """Untrained network with the TAEF2 layout (tests, shape checks)."""
        torch = _nets().torch
        gen_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            return cls(build_encoder(), build_decoder(), **kw)
        finally:
            torch.random.set_rng_state(gen_state)

    @classmethod
    def from_paths(cls, encoder: str | Path, decoder: str | Path, **kw: Any) -> LatentAutoencoder:
        enc, dec = build_encoder(), build_decoder()
        _load_state(enc, Path(encoder))
        _load_state(dec, Path(decoder))
        return cls(enc, dec, **kw)

    @classmethod
    def from_dir(cls, directory: str | Path, **kw: Any) -> LatentAutoencoder:
        """Load ``taef2_encoder.pth`` and ``taef2_decoder.pth`` from ``directory``."""
        d = Path(directory)
        if not d.is_dir():
            raise MissingWeightsError(
                f"autoencoder weights directory not found: {d} (inpaintscope never "
                f"downloads weights; it must hold {ENCODER_FILE} and {DECODER_FILE})"
            )
        return cls.from_paths(_weights_file(d, ENCODER_FILE), _weights_file(d, DECODER_FILE), **kw)

    def describe(self) -> dict[str, Any]:
        """What a dataset manifest records about this autoencoder."""
        return {"kind": self.kind}

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        """B×3×h×w RGB in [0, 1], any h, w → the same shape, clamped to [0, 1]."""
        from ..tiling import pad_to_multiple

        h, w = x.shape[-2:]
        y = self.decoder(self.encoder(pad_to_multiple(x, STRIDE)))
        return y[..., :h, :w].clamp_(0.0, 1.0)

    def roundtrip(self, image: np.ndarray) -> np.ndarray:
        """Encode and decode an RGB uint8 image; returns RGB uint8 of the same shape.

        Tiles are reflect-padded to multiples of 8 and cropped back, so any size works.
        Deterministic (no sampling: the encoder output is used as the latent directly).
        """
        from ..tiling import run_tiled

        torch = _nets().torch
        check_image(image)
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].float() / 255.0
        with torch.no_grad():
            out, _ = run_tiled(self._run, x, tile=self.tile, overlap=self.overlap, multiple=STRIDE)
        return np.clip(np.round(out[0].permute(1, 2, 0).numpy() * 255.0), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- which autoencoder a folder holds

TAEF2, AUTOENCODER_KL = "taef2", "autoencoderkl"


def autoencoder_layout(directory: str | Path) -> tuple[str, Path]:
    """``("taef2", folder)`` for the TAEF2 files, ``("autoencoderkl", folder)`` for a diffusers
    AutoencoderKL folder (or a pipeline folder, whose ``vae/`` is returned); else a one-line
    :class:`MissingWeightsError` naming what is missing. ``"taef2"`` names the shipped TAEF2."""
    d = resolve_autoencoder_dir(directory)
    if not d.is_dir():
        raise MissingWeightsError(
            f"autoencoder weights directory not found: {d} (inpaintscope never downloads "
            "weights; --autoencoder taef2 uses the TAEF2 weights shipped with it)"
        )
    taef2 = [f for f in (ENCODER_FILE, DECODER_FILE) if _weights_file(d, f).is_file()]
    if not taef2:
        from .diffusers_sd import find_vae_dir

        vae = find_vae_dir(d)
        if vae is not None:
            return AUTOENCODER_KL, vae
    missing = [f for f in (ENCODER_FILE, DECODER_FILE) if f not in taef2]
    if missing:
        hint = "" if taef2 else " (TAEF2), and no diffusers AutoencoderKL config.json here or in vae/"
        raise MissingWeightsError(f"missing {', '.join(missing)}{hint}")
    return TAEF2, d


def open_autoencoder(directory: str | Path, *, vae_range: str | None = None) -> LatentAutoencoder:
    """Load the autoencoder in ``directory``: TAEF2, or any SD VAE (diffusers AutoencoderKL, optional
    extra). ``vae_range`` ("correct" or "report") applies to AutoencoderKL only."""
    kind, d = autoencoder_layout(directory)
    if kind == TAEF2:
        if vae_range not in (None, "correct"):
            raise InpaintscopeError(
                f"vae_range {vae_range!r} applies to a diffusers AutoencoderKL; TAEF2 takes [0, 1] input as trained"
            )
        return LatentAutoencoder.from_dir(d)
    from .diffusers_sd import DEFAULT_VAE_RANGE, DiffusersAutoencoder

    return DiffusersAutoencoder.from_folder(d, vae_range=vae_range or DEFAULT_VAE_RANGE)


_CACHE: dict[tuple[str, ...], LatentAutoencoder] = {}
_CACHE_LOCK = threading.Lock()


def load_autoencoder(directory: str | Path, *, vae_range: str | None = None) -> LatentAutoencoder:
    """:func:`open_autoencoder`, cached per resolved path for this process (the dataset
    builder creates an ``autoencoder`` inpainter for many images; loading is ~0.1 s each)."""
    d = resolve_autoencoder_dir(directory)
    key = (
        str(_weights_file(d, ENCODER_FILE).resolve()),
        str(_weights_file(d, DECODER_FILE).resolve()),
        str(vae_range or "correct"),
    )
    with _CACHE_LOCK:
        ae = _CACHE.get(key)
        if ae is None:
            ae = open_autoencoder(d, vae_range=vae_range)
            _CACHE[key] = ae
        return ae


@register_inpainter("autoencoder")
class AutoencoderInpainter(Inpainter):
    """Telea pre-fill, then a TAEF2 round trip of the whole image.

    Mimics what a latent-diffusion inpainter's output looks like to a detector: the hole holds
    plausible (smooth) content and *every* pixel carries the autoencoder's reconstruction error.
    ``raw`` is that full reconstruction (the Bochum report's ``inpainted`` file); ``inpaint`` pastes it
    into the hole only, and so needs only a window around the hole: the hole's bounding box plus
    ``margin`` px (a multiple of the latent grid, so the window's pixels sit on the same 8-px grid
    as in the full frame). Option ``weights``: directory with the TAEF2 files (required), or a
    diffusers AutoencoderKL folder, for which ``vae_range`` applies (see :mod:`.diffusers_sd`).
    """

    touches_unmasked = True

    def __init__(self, *, weights: str | Path | None = None, radius: float = 5.0, vae_range: str | None = None) -> None:
        if weights is None:
            raise InpaintscopeError(
                "the autoencoder inpainter needs weights=<directory holding "
                f"{ENCODER_FILE} and {DECODER_FILE}> (TAEF2; never downloaded)"
            )
        super().__init__(weights=str(weights), radius=float(radius))
        self.autoencoder = load_autoencoder(weights, vae_range=vae_range)
        if self.autoencoder.kind != TAEF2:
            self.options.update(self.autoencoder.describe())

    margin = 64

    def _fill(self, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        require_known(mask)
        prefilled = telea_fill(image, mask, radius=self.options["radius"])
        return self.autoencoder.roundtrip(prefilled)

    def inpaint(self, image: np.ndarray, mask: np.ndarray, *, rng: np.random.Generator) -> np.ndarray:
        """The full-frame result inside the hole, computed on a window around it (much cheaper for
        small holes; pixels far from the window border match the full frame's to within the
        GroupNorm statistics of the window)."""
        check_image(image)
        mask = check_mask(mask, image.shape[:2])
        if not mask.any():
            return image.copy()
        require_known(mask)
        h, w = mask.shape
        ys, xs = np.nonzero(mask)
        g = STRIDE
        y0, x0 = max(0, (ys.min() - self.margin) // g * g), max(0, (xs.min() - self.margin) // g * g)
        y1, x1 = min(h, ys.max() + 1 + self.margin), min(w, xs.max() + 1 + self.margin)
        prefilled = telea_fill(image, mask, radius=self.options["radius"])
        window = self.autoencoder.roundtrip(np.ascontiguousarray(prefilled[y0:y1, x0:x1]))
        out = image.copy()
        region = out[y0:y1, x0:x1]
        region[mask[y0:y1, x0:x1]] = window[mask[y0:y1, x0:x1]]
        return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB between two uint8 images (inf when identical)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)
