"""Training a learned inpainter: reconstruction (L1) + SN-PatchGAN adversarial losses.

One loop for every registered network (:mod:`inpaintscope.inpaint.learned.networks`):

1. draw a batch of (photo crop, hole) pairs, a pure function of ``(seed, step)``
   (:class:`~inpaintscope.data.inpainting_crops.InpaintingCrops`), so ``--resume`` continues
   with exactly the batches an uninterrupted run would have seen;
2. the generator fills the holes; every stage it returns gets the L1 loss (hole and valid
   pixels weighted separately, or SafePaint's ``L1 / mean(hole)`` form);
3. after ``adv_start`` steps the critic (SN-PatchGAN) is updated on real vs generated images
   and the generator gets its adversarial term (``nsgan`` as EdgeConnect/SafePaint, ``hinge`` as
   DeepFill v2), optionally a critic feature-matching term;
4. optional terms: VGG19 perceptual + style (only with a user-given weight file), a VGG-free
   gradient term (pixel differences inside the hole), SafePaint's
   domain distance, and the **anti-forensic** term — a frozen, differentiable detector asked to
   call the composite authentic (BCE of its mask logits inside the hole and of its image logit
   against "authentic");
5. every ``val_every`` steps: hole PSNR / SSIM on fixed validation photos against Telea on the
   same holes, a picture of the fills, ``metrics.jsonl`` and ``curves.png``; every
   ``checkpoint_every`` steps one atomically written ``last.pt`` (generator, critic, optimisers,
   step) and the shippable ``generator.safetensors`` (+ ``best.safetensors``, best validation
   hole PSNR).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import yaml

from ..errors import InpaintscopeError
from ..inpaint.learned.discriminator import LAYOUTS as DISCRIMINATOR_LAYOUTS
from ..io.atomic import atomic_open, atomic_write_text
from ..io.outputs import check_fresh_folder, check_output_folder
from .config import (
    ConfigError,
    config_from_mapping,
    is_positive_finite,
    is_seed,
    parse_overrides,
    read_config_file,
)
from .run_folder import config_written_here

ADV_LOSSES = ("nsgan", "hinge")
L1_FORMS = ("split", "safepaint")


#: the loss weights of a recipe: each >= 0 (0 switches the term off)
LOSS_WEIGHTS = (
    "adv_weight",
    "l1_hole",
    "l1_valid",
    "fm_weight",
    "grad_weight",
    "perceptual_weight",
    "style_weight",
    "domain_weight",
    "antiforensic_weight",
)


@dataclass
class InpainterTrainConfig:
    """Everything an inpainter training run depends on (see ``configs/inpainters/*.yaml``)."""

    net: str = "edgeconnect"
    net_kwargs: dict[str, Any] = field(default_factory=dict)
    #: photo folder (required: third-party photos do not ship; the recipes name the shared photos with
    #: ``--set photos=PATH``) and a ``relpath split`` file; only ``train_splits`` photos are trained on
    photos: str = ""
    split_file: str = "configs/splits/shared_photos.txt"
    train_splits: list[str] = field(default_factory=lambda: ["train"])
    val_splits: list[str] = field(default_factory=lambda: ["val"])
    crop: int = 128
    scale: list[float] = field(default_factory=lambda: [0.5, 1.0])
    area: list[float] = field(default_factory=lambda: [0.03, 0.4])
    batch_size: int = 8
    lr: float = 2e-4
    lr_d: float = 2e-4
    betas: list[float] = field(default_factory=lambda: [0.5, 0.999])
    #: ``constant`` or ``cosine`` (both learning rates decay to ``lr_min_ratio`` × their start at max_steps)
    lr_schedule: str = "constant"
    lr_min_ratio: float = 0.1
    discriminator: str = "patchgan70"
    discriminator_width: float = 1.0
    adv_loss: str = "nsgan"
    adv_weight: float = 0.1
    #: what the critic judges: the raw ``output`` (EdgeConnect, SafePaint) or the ``composite`` (DeepFill)
    adv_target: str = "output"
    #: steps of reconstruction-only training before the critic joins
    adv_start: int = 0
    l1_form: str = "split"
    l1_hole: float = 1.0
    l1_valid: float = 1.0
    fm_weight: float = 0.0
    #: L1 between the pixel differences (horizontal and vertical) of each stage's output and of the
    #: photo inside the hole: penalises structure the photo does not have, such as a network's own
    #: fine grid, without a VGG (a stand-in for the style term when no VGG19 file is given)
    grad_weight: float = 0.0
    vgg19: str | None = None
    perceptual_weight: float = 0.1
    style_weight: float = 250.0
    #: SafePaint's domain distance (needs a network with a domain encoder)
    domain_weight: float = 0.0
    #: a detector checkpoint (or ``default``) for the anti-forensic term; weight 0 disables it
    detector: str | None = None
    antiforensic_weight: float = 0.0
    max_steps: int = 10000
    max_minutes: float | None = None
    log_every: int = 25
    val_every: int = 500
    checkpoint_every: int = 250
    val_images: int = 24
    val_size: int = 256
    seed: int = 0
    device: str = "auto"
    amp: str = "none"
    threads: int | None = None
    out: str = "runs/inpainter"

    def __post_init__(self) -> None:
        checks = [
            (
                bool(self.photos),
                "photos is not set: give the photo folder, e.g. --set photos=PATH/photos (the "
                "recipes use the shared data folder; see the README, 'Data for the recipes')",
            ),
            (self.adv_loss in ADV_LOSSES, f"adv_loss must be one of {ADV_LOSSES}, got {self.adv_loss!r}"),
            (
                self.adv_target in ("output", "composite"),
                f"adv_target must be output or composite, got {self.adv_target!r}",
            ),
            (self.l1_form in L1_FORMS, f"l1_form must be one of {L1_FORMS}, got {self.l1_form!r}"),
            (
                self.lr_schedule in ("constant", "cosine"),
                f"lr_schedule must be constant or cosine, got {self.lr_schedule!r}",
            ),
            (0 < self.lr_min_ratio <= 1, f"lr_min_ratio must be in (0, 1], got {self.lr_min_ratio}"),
            (self.amp in ("none", "bf16", "fp16"), f"amp must be none, bf16 or fp16, got {self.amp!r}"),
            (self.crop >= 32 and self.val_size >= 32, "crop and val_size must be >= 32"),
            (self.batch_size >= 1 and self.max_steps >= 1, "batch_size and max_steps must be >= 1"),
            (
                is_positive_finite(self.lr) and is_positive_finite(self.lr_d),
                f"learning rates must be > 0 and finite, got lr {self.lr} and lr_d {self.lr_d}",
            ),
            (is_seed(self.seed), f"seed must be an integer in [0, 2^63), got {self.seed}"),
            (len(self.scale) == 2 and 0 < self.scale[0] <= self.scale[1], f"scale must be [lo, hi], got {self.scale}"),
            (
                len(self.area) == 2 and 0 < self.area[0] <= self.area[1] < 1,
                f"area must be [lo, hi] in (0, 1), got {self.area}",
            ),
            (self.antiforensic_weight == 0 or self.detector, "antiforensic_weight needs a detector"),
            (
                min(self.log_every, self.val_every, self.checkpoint_every, self.val_images) >= 1,
                "log_every, val_every, checkpoint_every and val_images must be >= 1",
            ),
            (
                len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas),
                f"betas must be [beta1, beta2], each in [0, 1), got {self.betas}",
            ),
            (
                self.discriminator in DISCRIMINATOR_LAYOUTS,
                f"discriminator must be one of {DISCRIMINATOR_LAYOUTS}, got {self.discriminator!r}",
            ),
            (
                is_positive_finite(self.discriminator_width),
                f"discriminator_width must be > 0, got {self.discriminator_width}",
            ),
            *(
                (math.isfinite(getattr(self, k)) and getattr(self, k) >= 0, f"{k} must be >= 0, got {getattr(self, k)}")
                for k in LOSS_WEIGHTS
            ),
            (self.adv_start >= 0, f"adv_start must be >= 0 steps, got {self.adv_start}"),
            (self.max_minutes is None or self.max_minutes > 0, f"max_minutes must be > 0, got {self.max_minutes}"),
            (self.threads is None or self.threads >= 0, f"threads must be >= 0 (0 or null: all), got {self.threads}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InpainterTrainConfig:
        return config_from_mapping(cls, d)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, overrides: list[str] | None = None) -> InpainterTrainConfig:
        path = Path(path)
        d = read_config_file(path)
        if not isinstance(d, dict):
            raise ConfigError(f"{path}: a config must be a mapping of key: value")
        if isinstance(d.get("split_file"), str):
            d["split_file"] = _recipe_relative(d["split_file"], path)
        for key, value in parse_overrides(overrides or []).items():
            head, dot, sub = key.partition(".")
            if dot and isinstance(d.get(head), dict):
                d[head] = {**d[head], sub: value}
            else:
                d[key] = value
        return cls.from_dict(d)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _recipe_relative(split_file: str, recipe: Path) -> str:
    """A recipe's relative ``split_file`` as an absolute path: from the current folder when it is
    there, else from the recipe's folder or the nearest folder above it that has it. The recipes
    name ``configs/splits/...`` relative to the repository, and must work from any folder.
    Unchanged when found nowhere (reading it then says where it was looked for)."""
    rel = Path(split_file).expanduser()
    if rel.is_file():
        return str(rel.absolute())
    if rel.is_absolute():
        return split_file
    for base in (recipe.absolute().parent, *recipe.absolute().parent.parents):
        if (base / rel).is_file():
            return str(base / rel)
    return split_file


# ---- building blocks -------------------------------------------------------------------------


def to_tensor(images: np.ndarray, holes: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255.0).to(device)
    m = torch.from_numpy(holes.astype(np.float32))[:, None].to(device)
    return x, m


def reconstruction_loss(
    stages: list[torch.Tensor], target: torch.Tensor, hole: torch.Tensor, cfg: InpainterTrainConfig
) -> torch.Tensor:
    total = target.new_zeros(())
    for out in stages:
        err = (out - target).abs()
        if cfg.l1_form == "safepaint":  # the code's L1 over the whole image divided by the hole fraction
            total = total + err.mean() / hole.mean().clamp(min=1e-6)
            continue
        hole_l1 = (err * hole).sum() / (3 * hole.sum()).clamp(min=1.0)
        valid_l1 = (err * (1 - hole)).sum() / (3 * (1 - hole).sum()).clamp(min=1.0)
        total = total + cfg.l1_hole * hole_l1 + cfg.l1_valid * valid_l1
    return total


def gradient_loss(stages: list[torch.Tensor], target: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """Mean over stages of the L1 distance between horizontal and vertical pixel differences of
    a stage's output and of ``target``, over the difference pairs that touch the hole."""
    total = target.new_zeros(())
    dh_t, dv_t = target.diff(dim=-1), target.diff(dim=-2)
    # a difference belongs to the hole when either of its two pixels does
    wh = torch.maximum(hole[..., :, 1:], hole[..., :, :-1])
    wv = torch.maximum(hole[..., 1:, :], hole[..., :-1, :])
    norm = (3 * (wh.sum() + wv.sum())).clamp(min=1.0)
    for out in stages:
        err = ((out.diff(dim=-1) - dh_t).abs() * wh).sum() + ((out.diff(dim=-2) - dv_t).abs() * wv).sum()
        total = total + err / norm
    return total / max(1, len(stages))


def critic_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    if kind == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    return 0.5 * (
        F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
        + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
    )


def generator_adv_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    if kind == "hinge":
        return -fake.mean()
    return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))


def antiforensic_loss(detector: torch.nn.Module, composite: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """BCE of the detector's outputs against "authentic": mask logits inside the hole, image logit."""
    out = detector(detector.preprocess(composite))
    mask_logits, image_logit = out[0], out[1] if len(out) > 1 else None
    # BCE with target 0 is softplus(logit)
    loss = (F.softplus(mask_logits) * hole).sum() / hole.sum().clamp(min=1.0)
    if image_logit is not None:
        loss = loss + F.softplus(image_logit).mean()
    return loss


@dataclass
class _Run:
    cfg: InpainterTrainConfig
    out: Path
    device: torch.device
    generator: torch.nn.Module
    critic: torch.nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    scaler: Any
    vgg: Any = None
    detector: Any = None
    step: int = 0
    elapsed: float = 0.0
    best_psnr: float = -math.inf
    history: list[dict[str, Any]] = field(default_factory=list)


def build_run(cfg: InpainterTrainConfig) -> _Run:
    from ..inpaint.learned.discriminator import PatchDiscriminator
    from ..inpaint.learned.networks import create_inpaint_net
    from ..models.inference import resolve_device

    device = resolve_device(cfg.device)
    if cfg.amp != "none" and device.type != "cuda":
        raise ConfigError(f"amp={cfg.amp} needs a CUDA device (got {device}); use amp: none on CPU")
    torch.manual_seed(cfg.seed)
    generator = create_inpaint_net(cfg.net, **cfg.net_kwargs).to(device)
    if cfg.domain_weight and not hasattr(generator, "domain"):
        raise ConfigError(f"domain_weight needs a network with a domain encoder (safepaint), not {cfg.net!r}")
    critic = PatchDiscriminator(layout=cfg.discriminator, width=cfg.discriminator_width).to(device)
    opt_g = torch.optim.Adam(generator.parameters(), lr=cfg.lr, betas=tuple(cfg.betas))
    opt_d = torch.optim.Adam(critic.parameters(), lr=cfg.lr_d, betas=tuple(cfg.betas))
    scaler = torch.amp.GradScaler("cuda", enabled=cfg.amp == "fp16")
    run = _Run(cfg, Path(cfg.out).expanduser(), device, generator, critic, opt_g, opt_d, scaler)
    if cfg.vgg19:
        from .perceptual import VGGLosses

        run.vgg = VGGLosses(cfg.vgg19).to(device)
    if cfg.antiforensic_weight:
        run.detector = _frozen_detector(cfg.detector, device)
    return run


def _frozen_detector(spec: str | None, device: torch.device) -> torch.nn.Module:
    from ..detection.loader import load_model

    return load_model(spec or "default", device=device).detector.requires_grad_(False).eval()


def _autocast(run: _Run):
    if run.cfg.amp == "none":
        return torch.autocast(run.device.type, enabled=False)
    return torch.autocast(run.device.type, dtype=torch.bfloat16 if run.cfg.amp == "bf16" else torch.float16)


def _item(value: Any) -> float:
    return float(value.detach()) if isinstance(value, torch.Tensor) else float(value)


def lr_factor(cfg: InpainterTrainConfig, step: int) -> float:
    """Multiplier of both learning rates at ``step`` (a pure function of the step, so resuming
    restores the schedule exactly)."""
    if cfg.lr_schedule == "constant":
        return 1.0
    t = min(1.0, step / cfg.max_steps)
    return cfg.lr_min_ratio + (1 - cfg.lr_min_ratio) * 0.5 * (1 + math.cos(math.pi * t))


def train_step(run: _Run, image: torch.Tensor, hole: torch.Tensor) -> dict[str, float]:
    cfg, G, D = run.cfg, run.generator, run.critic
    factor = lr_factor(cfg, run.step)
    for group in run.opt_g.param_groups:
        group["lr"] = cfg.lr * factor
    for group in run.opt_d.param_groups:
        group["lr"] = cfg.lr_d * factor
    with _autocast(run):
        output, stages = G(image, hole)
        composite = output * hole + image * (1 - hole)
    judged = composite if cfg.adv_target == "composite" else output
    logs: dict[str, float] = {}
    adversarial = run.step >= cfg.adv_start and cfg.adv_weight > 0

    if adversarial:
        D.requires_grad_(True)
        with _autocast(run):
            d_loss = critic_loss(cfg.adv_loss, D(image, hole), D(judged.detach(), hole))
        run.opt_d.zero_grad(set_to_none=True)
        run.scaler.scale(d_loss).backward()
        run.scaler.step(run.opt_d)
        logs["d_loss"] = _item(d_loss)
        D.requires_grad_(False)

    stages = [s.float() for s in stages]  # the losses are computed in float32, once per stage
    with _autocast(run):
        rec = reconstruction_loss(stages, image, hole, cfg)
        g_loss = rec
        logs["l1"] = _item(rec)
        if adversarial:
            adv = generator_adv_loss(cfg.adv_loss, D(judged, hole))
            g_loss = g_loss + cfg.adv_weight * adv
            logs["g_adv"] = _item(adv)
            if cfg.fm_weight:
                fm = feature_matching(D, image, judged, hole)
                g_loss = g_loss + cfg.fm_weight * fm
                logs["fm"] = _item(fm)
        if cfg.grad_weight:
            grad = gradient_loss(stages, image, hole)
            g_loss = g_loss + cfg.grad_weight * grad
            logs["grad"] = _item(grad)
        if run.vgg is not None:
            perceptual = style = 0.0
            for s in stages:
                p, st = run.vgg(s, image, hole)
                perceptual, style = perceptual + p, style + st
            g_loss = g_loss + cfg.perceptual_weight * perceptual + cfg.style_weight * style
            logs["perceptual"], logs["style"] = _item(perceptual), _item(style)
        if cfg.domain_weight:
            from ..inpaint.learned.safepaint import domain_distance

            dom = domain_distance(G, image, composite, hole)
            g_loss = g_loss + cfg.domain_weight * dom
            logs["domain"] = _item(dom)
        if run.detector is not None:
            af = antiforensic_loss(run.detector, composite.float(), hole)
            g_loss = g_loss + cfg.antiforensic_weight * af
            logs["antiforensic"] = _item(af)
    run.opt_g.zero_grad(set_to_none=True)
    run.scaler.scale(g_loss).backward()
    run.scaler.step(run.opt_g)
    run.scaler.update()
    logs["g_loss"] = _item(g_loss)
    return logs


def feature_matching(
    critic: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor, hole: torch.Tensor
) -> torch.Tensor:
    """L1 between the critic's intermediate activations on real and generated images."""

    def taps(x: torch.Tensor) -> list[torch.Tensor]:
        x = x * 2 - 1
        if critic.with_mask:
            x = torch.cat([x, hole], dim=1)
        out = []
        for layer in critic.body:
            x = layer(x)
            if isinstance(layer, torch.nn.LeakyReLU):
                out.append(x)
        return out

    with torch.no_grad():
        real_taps = taps(real)
    return sum(F.l1_loss(f, r) for f, r in zip(taps(fake), real_taps)) / max(1, len(real_taps))


# ---- validation, logs, checkpoints ------------------------------------------------------------


@dataclass(frozen=True)
class ValidationSet:
    images: np.ndarray  # N×S×S×3 uint8
    holes: np.ndarray  # N×S×S bool
    baseline: dict[str, float]  # Telea's mean hole PSNR / SSIM on the same holes


def build_validation(cfg: InpainterTrainConfig) -> ValidationSet:
    from ..data.inpainting_crops import InpaintingCrops, PhotoSet
    from ..evaluate.inpainting_quality import hole_psnr, hole_ssim
    from ..inpaint.classical import telea_fill

    photos = PhotoSet.from_split_file(cfg.photos, cfg.split_file, cfg.val_splits, min_side=cfg.val_size)
    crops = InpaintingCrops(photos, crop=cfg.val_size, scale=(0.75, 0.75), area=(0.05, 0.3), seed=cfg.seed + 1_000_003)
    images, holes = crops.batch(0, cfg.val_images)
    fills = [telea_fill(im, h) for im, h in zip(images, holes)]
    baseline = {
        "telea_psnr": float(np.mean([hole_psnr(f, im, h) for f, im, h in zip(fills, images, holes)])),
        "telea_ssim": float(np.mean([hole_ssim(f, im, h) for f, im, h in zip(fills, images, holes)])),
    }
    return ValidationSet(images, holes, baseline)


@torch.no_grad()
def validate(run: _Run, val: ValidationSet) -> tuple[dict[str, float], np.ndarray]:
    from ..evaluate.inpainting_quality import hole_psnr, hole_ssim

    G = run.generator
    was_training = G.training
    G.eval()
    fills = []
    for i in range(0, len(val.images), 8):
        x, m = to_tensor(val.images[i : i + 8], val.holes[i : i + 8], run.device)
        out, _ = G(x, m)
        comp = (out.float() * m + x * (1 - m)).clamp(0, 1)
        fills.append((comp * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy())
    G.train(was_training)
    fills = np.concatenate(fills)
    scores = {
        "psnr": float(np.mean([hole_psnr(f, im, h) for f, im, h in zip(fills, val.images, val.holes)])),
        "ssim": float(np.mean([hole_ssim(f, im, h) for f, im, h in zip(fills, val.images, val.holes)])),
    }
    return scores, fills


def sample_sheet(val: ValidationSet, fills: np.ndarray, *, rows: int = 6) -> np.ndarray:
    """Rows of [input with hole in grey | model | original] for a quick look."""
    rows = min(rows, len(fills))
    lines = []
    for i in range(rows):
        masked = val.images[i].copy()
        masked[val.holes[i]] = 127
        lines.append(np.concatenate([masked, fills[i], val.images[i]], axis=1))
    return np.concatenate(lines, axis=0)


def export_generator(run: _Run, path: Path, *, extra: dict[str, Any] | None = None) -> None:
    from ..inpaint.learned.weights import save_inpainter

    info = {
        "network": run.cfg.net,
        "kwargs": run.cfg.net_kwargs,
        "step": run.step,
        "train_config": run.cfg.to_dict(),
        **(extra or {}),
    }
    save_inpainter(path, run.generator.state_dict(), info)


def save_state(run: _Run) -> None:
    state = {
        "generator": run.generator.state_dict(),
        "critic": run.critic.state_dict(),
        "opt_g": run.opt_g.state_dict(),
        "opt_d": run.opt_d.state_dict(),
        "scaler": run.scaler.state_dict(),
        "step": run.step,
        "elapsed": run.elapsed,
        "best_psnr": run.best_psnr,
    }
    with atomic_open(run.out / "last.pt", "wb") as f:
        torch.save(state, f)
    export_generator(run, run.out / "generator.safetensors")
    atomic_write_text(run.out / "metrics.jsonl", "".join(json.dumps(h) + "\n" for h in run.history))


def load_state(run: _Run) -> None:
    path = run.out / "last.pt"
    try:
        state = torch.load(path, map_location=run.device, weights_only=True)
        run.generator.load_state_dict(state["generator"])
        run.critic.load_state_dict(state["critic"])
        run.opt_g.load_state_dict(state["opt_g"])
        run.opt_d.load_state_dict(state["opt_d"])
        run.scaler.load_state_dict(state["scaler"])
    except Exception as e:  # noqa: BLE001 - a damaged or foreign state file is the user's to know about
        raise InpaintscopeError(
            f"{path}: cannot resume from this state file ({type(e).__name__}: {str(e).splitlines()[0][:200]})"
        ) from None
    run.step, run.elapsed, run.best_psnr = int(state["step"]), float(state["elapsed"]), float(state["best_psnr"])
    metrics = run.out / "metrics.jsonl"
    if metrics.is_file():
        run.history = [h for h in map(json.loads, metrics.read_text().splitlines()) if h.get("step", 0) <= run.step]


def plot_curves(run: _Run) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    train = [h for h in run.history if h["kind"] == "train"]
    val = [h for h in run.history if h["kind"] == "val"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for key in ("l1", "g_adv", "d_loss", "antiforensic", "domain", "grad"):
        if any(key in h for h in train):
            ax1.plot([h["step"] for h in train if key in h], [h[key] for h in train if key in h], label=key)
    ax1.set_xlabel("step"), ax1.set_yscale("log"), ax1.grid(alpha=0.3)
    if ax1.lines:
        ax1.legend()
    if val:
        ax2.plot([h["step"] for h in val], [h["psnr"] for h in val], "o-", label="model hole PSNR")
        ax2.axhline(val[0]["telea_psnr"], color="grey", ls="--", label="telea hole PSNR")
        ax2.set_xlabel("step"), ax2.set_ylabel("dB"), ax2.legend(), ax2.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_open(run.out / "curves.png", "wb") as f:
        fig.savefig(f, format="png", dpi=80)
    plt.close(fig)


# ---- the loop ----------------------------------------------------------------------------------


def _config_yaml(cfg: InpainterTrainConfig) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)


def _reread_config(data: Any, source: str) -> tuple[str, Path]:
    saved = InpainterTrainConfig.from_dict(data)
    return _config_yaml(saved), Path(saved.out).expanduser()  # as train_inpainter places its run


def train_inpainter(cfg: InpainterTrainConfig, *, resume: bool = False, progress: bool = True) -> Path:
    """Train (or with ``resume`` continue) the run in ``cfg.out``; returns the run folder."""
    from ..data.inpainting_crops import InpaintingCrops, PhotoSet
    from ..io.images import write_image

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out).expanduser()
    if resume:
        if not (out / "last.pt").is_file():
            raise InpaintscopeError(f"{out}: nothing to resume (no last.pt)")
        check_output_folder(out, option="--resume folder")
    elif (out / "last.pt").exists():
        raise InpaintscopeError(
            f"{out} already holds a run; use --resume to continue it or choose another --set out=DIR"
        )
    else:
        check_fresh_folder(out, option="--set out=DIR", ours=lambda folder: config_written_here(folder, _reread_config))

    # everything that can refuse the config runs before config.yaml is written, so a bad
    # --set leaves no half-made run folder behind
    run = build_run(cfg)
    if resume:
        load_state(run)
    photos = PhotoSet.from_split_file(cfg.photos, cfg.split_file, cfg.train_splits, min_side=cfg.crop)
    crops = InpaintingCrops(photos, crop=cfg.crop, scale=tuple(cfg.scale), area=tuple(cfg.area), seed=cfg.seed)
    val = build_validation(cfg)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.yaml", _config_yaml(cfg))
    run.generator.train()
    session_start, last_log = time.monotonic(), {}
    elapsed_at_start = run.elapsed
    while run.step < cfg.max_steps:
        if cfg.max_minutes is not None and run.elapsed >= cfg.max_minutes * 60:
            break
        x, m = to_tensor(*crops.batch(run.step, cfg.batch_size), run.device)
        logs = train_step(run, x, m)
        run.step += 1
        run.elapsed = elapsed_at_start + time.monotonic() - session_start
        for k, v in logs.items():
            last_log[k] = last_log.get(k, 0.0) + v / cfg.log_every
        if run.step % cfg.log_every == 0:
            run.history.append(
                {
                    "kind": "train",
                    "step": run.step,
                    "seconds": round(run.elapsed, 1),
                    **{k: round(v, 5) for k, v in last_log.items()},
                }
            )
            if progress:
                print(f"step {run.step}: " + " ".join(f"{k} {v:.4f}" for k, v in last_log.items()), flush=True)
            last_log = {}
        if run.step % cfg.val_every == 0 or run.step == cfg.max_steps:
            scores, fills = validate(run, val)
            run.history.append({"kind": "val", "step": run.step, **scores, **val.baseline})
            write_image(out / "samples.png", sample_sheet(val, fills))
            if scores["psnr"] > run.best_psnr:
                run.best_psnr = scores["psnr"]
                export_generator(run, out / "best.safetensors", extra={"val": scores})
            if progress:
                print(
                    f"val step {run.step}: hole PSNR {scores['psnr']:.2f} dB SSIM {scores['ssim']:.3f} "
                    f"(telea {val.baseline['telea_psnr']:.2f} / {val.baseline['telea_ssim']:.3f})",
                    flush=True,
                )
            plot_curves(run)
        if run.step % cfg.checkpoint_every == 0:
            save_state(run)
    save_state(run)
    plot_curves(run)
    return out
