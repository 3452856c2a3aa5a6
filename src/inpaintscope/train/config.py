"""Training configuration: one dataclass, loadable from YAML, overridable with ``key=value``.

Precedence (lowest first): dataclass defaults < YAML file < ``--set key=value`` < explicit
CLI options. The resolved config is written to ``config.yaml`` in the run folder, so a run
can always be repeated (``inpaintscope train --config RUN/config.yaml``) or resumed.
Augmentation options are nested (``augment: {crop: 256, rot90: true}``, ``--set augment.crop=256``);
the flat keys of earlier versions (``crop:``, ``hflip:``, ...) are still read, with a warning,
so old run folders resume.
Defaults follow the training recipe of the Bochum report's FCN-ResNet50 and NIX-Net (docs/references.md,
§2 and §3): Adam lr 1e-4, batch 8, early stopping on validation loss with patience 5 and
min_delta 0, ground truth ``core``.

The Bochum report: P. Adler, H. Günther, D. Gann, H. Ehringfeld, "Inpainting Detection", student
project report (MPDL project, group 2), Ruhr-Universität Bochum, 2023.
"""

from __future__ import annotations

import dataclasses
import math
import os
import typing
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..contract import GROUND_TRUTH_MODES
from ..errors import InpaintscopeError
from ..evaluate.metrics import METRIC_DEFINITIONS
from ..io.atomic import atomic_write_text


class ConfigError(InpaintscopeError, ValueError):
    """A config file or override that is invalid."""


SCHEDULES = ("none", "plateau", "cosine")
DEVICES = ("auto", "cpu", "cuda")
#: the validation metrics ``schedule: plateau`` can maximise (the lower-is-better false-alarm area is not one)
SCHEDULE_METRICS = tuple(name for name in METRIC_DEFINITIONS if name != "authentic_fp_area")
AMP_MODES = ("none", "bf16", "fp16")


def is_positive_finite(value: float) -> bool:
    """A usable learning rate: ``inf`` passes a plain ``> 0`` check and then trains NaN weights."""
    return math.isfinite(value) and value > 0


def is_seed(value: int) -> bool:
    """The seeds numpy and torch generators take (a negative one fails only at the first batch)."""
    return 0 <= value < 2**63


@dataclass(frozen=True)
class AugmentConfig:
    """Exact-pixel augmentation of training items (:mod:`inpaintscope.train.augment`)."""

    #: random square crop in pixels (smaller images are mirror-padded); None keeps the full image
    crop: int | None = None
    hflip: bool = True
    vflip: bool = True
    rot90: bool = False


#: the flat keys that earlier configs used for what now lives under ``augment:``
LEGACY_AUGMENT_KEYS = tuple(f.name for f in dataclasses.fields(AugmentConfig))


@dataclass
class TrainConfig:
    """Everything a training run depends on. See ``configs/*.yaml`` for examples."""

    model: str = "scope_tiny"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    #: start from these weights (a checkpoint of the same model and kwargs) instead of random init
    init: str | None = None
    #: ``strict``: ``init`` must match the model exactly; ``warm``: copy what fits (see
    #: :mod:`inpaintscope.train.warm_start`), e.g. to add input channels to a trained model
    init_mode: str = "strict"
    #: compute a cue model's cue maps once per training image (full image, then cropped with
    #: it), instead of on every crop: faster, and the cue sees the whole photo as at inference
    cache_cues: bool = True
    #: dataset path(s) (``open_dataset``) or ``synthetic:N[xS]``; several are concatenated
    data: list[str] = field(default_factory=list)
    #: validation data; empty = take ``val_split`` from ``data``
    val_data: list[str] = field(default_factory=list)
    train_split: str | None = "train"
    #: ``None`` disables validation (no early stopping; best = last)
    val_split: str | None = "val"
    modes: list[str] | None = None
    gt_mode: str = "core"
    include_authentic: bool = True
    loss: str = "focal"
    #: weight of BCE on the image-level logit, used when the model has one
    image_loss_weight: float = 1.0
    lr: float = 1e-4
    weight_decay: float = 0.0
    schedule: str = "none"
    #: validation metric the plateau schedule maximises
    schedule_metric: str = "auc_pixel"
    plateau_patience: int = 10
    plateau_factor: float = 0.5
    batch_size: int = 8
    val_batch_size: int = 8
    epochs: int = 100
    max_steps: int | None = None
    #: wall-clock training budget in minutes (stops like max_steps; for equal-compute comparisons)
    max_minutes: float | None = None
    early_stopping_patience: int | None = 5
    early_stopping_min_delta: float = 0.0
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    seed: int = 0
    device: str = "auto"
    amp: str = "none"
    num_workers: int = 0
    out: str = "runs/run"
    #: also write last.safetensors every N optimiser steps (0 = once per epoch)
    checkpoint_every: int = 0
    #: the Bochum report's behaviour: evaluate and return the last epoch, not the best one
    report_compat: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if isinstance(self.data, str):
            self.data = [self.data]
        if isinstance(self.val_data, str):
            self.val_data = [self.val_data]
        if isinstance(self.modes, str):
            self.modes = [m for m in self.modes.split(",") if m]
        if not isinstance(self.augment, AugmentConfig):
            self.augment = _coerce("augment", self.augment, AugmentConfig)
        crop = self.augment.crop
        checks = [
            (self.init_mode in ("strict", "warm"), f"init_mode must be strict or warm, got {self.init_mode!r}"),
            (self.gt_mode in GROUND_TRUTH_MODES, f"gt_mode must be one of {GROUND_TRUTH_MODES}, got {self.gt_mode!r}"),
            (self.schedule in SCHEDULES, f"schedule must be one of {SCHEDULES}, got {self.schedule!r}"),
            (
                self.device in DEVICES or self.device.startswith("cuda:"),
                f"device must be one of {DEVICES} (or cuda:N), got {self.device!r}",
            ),
            (self.amp in AMP_MODES, f"amp must be one of {AMP_MODES}, got {self.amp!r}"),
            (is_positive_finite(self.lr), f"lr must be > 0 and finite, got {self.lr}"),
            (
                math.isfinite(self.weight_decay) and self.weight_decay >= 0,
                f"weight_decay must be >= 0 and finite, got {self.weight_decay}",
            ),
            (is_seed(self.seed), f"seed must be an integer in [0, 2^63), got {self.seed}"),
            (self.batch_size >= 1 and self.val_batch_size >= 1, "batch sizes must be >= 1"),
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (self.max_steps is None or self.max_steps >= 1, f"max_steps must be >= 1, got {self.max_steps}"),
            (self.max_minutes is None or self.max_minutes > 0, f"max_minutes must be > 0, got {self.max_minutes}"),
            (crop is None or crop >= 8, f"augment.crop must be >= 8 pixels, got {crop}"),
            (self.num_workers >= 0 and self.checkpoint_every >= 0, "num_workers and checkpoint_every must be >= 0"),
            (
                self.early_stopping_patience is None or self.early_stopping_patience >= 1,
                "early_stopping_patience must be >= 1 (or null to disable)",
            ),
            (
                math.isfinite(self.early_stopping_min_delta) and self.early_stopping_min_delta >= 0,
                f"early_stopping_min_delta must be >= 0 and finite, got {self.early_stopping_min_delta}",
            ),
            (
                math.isfinite(self.image_loss_weight) and self.image_loss_weight >= 0,
                f"image_loss_weight must be >= 0 and finite, got {self.image_loss_weight}",
            ),
            # the plateau keys only where they are used: a run saved with schedule none still resumes
            (
                self.schedule != "plateau" or 0 < self.plateau_factor < 1,
                f"plateau_factor (the lr is multiplied by it) must be in (0, 1), got {self.plateau_factor}",
            ),
            (
                self.schedule != "plateau" or self.plateau_patience >= 0,
                f"plateau_patience must be >= 0 epochs, got {self.plateau_patience}",
            ),
            (
                self.schedule != "plateau" or self.schedule_metric in SCHEDULE_METRICS,
                f"schedule_metric must be a validation metric the plateau schedule can maximise, one of "
                f"{', '.join(SCHEDULE_METRICS)}; got {self.schedule_metric!r}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    # ---- serialisation -------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False)

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        atomic_write_text(path, self.to_yaml())
        return path

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str = "this config") -> TrainConfig:
        """A config from a mapping (``source`` names it in messages, e.g. the YAML file)."""
        if not isinstance(d, dict):
            raise ConfigError(f"a config must be a mapping of key: value, got {type(d).__name__}")
        return config_from_mapping(cls, _nest_legacy_augment_keys(d, source))

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> TrainConfig:
        return cls.from_dict(read_config_file(path), source=str(path))

    def with_overrides(self, overrides: dict[str, Any] | list[str]) -> TrainConfig:
        """A copy with ``{"key": value}`` or ``["key=value", ...]`` applied (values parsed as YAML)."""
        if isinstance(overrides, list):
            overrides = parse_overrides(overrides)
        legacy = [k for k in overrides if k in LEGACY_AUGMENT_KEYS]
        if legacy:
            _warn_legacy(legacy, "overrides")
            overrides = {(f"augment.{k}" if k in legacy else k): v for k, v in overrides.items()}
        merged = self.to_dict()
        for key, value in overrides.items():
            head, dot, sub = key.partition(".")
            if dot and isinstance(merged.get(head), dict):
                # model_kwargs.width=16 or augment.crop=64 edits one entry of a mapping field
                merged[head] = {**merged[head], sub: value}
            else:
                merged[key] = value
        return TrainConfig.from_dict(merged)


def read_config_file(path: str | os.PathLike) -> Any:
    """The YAML document of a config file, with one-line errors for a missing file or bad YAML."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(
            f"{path}: not a YAML config (binary or not UTF-8 text); give a .yaml file such as configs/default.yaml"
        ) from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config file ({e.strerror or e})") from None
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None


def config_from_mapping(cls: Any, d: dict[str, Any], *, name: str | None = None) -> Any:
    """An instance of the config dataclass ``cls`` from ``d``: unknown keys refused, values
    coerced to the field types (the one rule of every training config and of its nested
    sections; ``name`` is the section's key in messages, e.g. ``augment``)."""
    if not isinstance(d, dict):
        raise ConfigError(f"a config must be a mapping of key: value, got {type(d).__name__}")
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(d) - set(hints))
    if unknown:
        raise ConfigError(f"unknown {name or 'config'} key(s) {unknown}; valid keys: {', '.join(hints)}")
    return cls(**{k: _coerce(f"{name}.{k}" if name else k, v, hints[k]) for k, v in d.items()})


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["lr=3e-4", "modes=[realfake]"]`` → ``{"lr": 3e-4, ...}`` (values parsed as YAML)."""
    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} must look like key=value")
        try:
            parsed[key.strip()] = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError:
            parsed[key.strip()] = value
    return parsed


def _warn_legacy(keys: list[str], where: str) -> None:
    nested = ", ".join(f"{k}: ..." for k in keys)
    warnings.warn(
        f"{where}: flat key(s) {', '.join(keys)} are deprecated and read as "
        f"{', '.join('augment.' + k for k in keys)}; write augment: {{{nested}}} "
        f"(or --set augment.{keys[0]}=...)",
        FutureWarning,
        stacklevel=4,
    )


def _nest_legacy_augment_keys(d: dict[str, Any], source: str) -> dict[str, Any]:
    """Move the flat ``crop``/``hflip``/``vflip``/``rot90`` keys of older configs under ``augment``."""
    legacy = [k for k in LEGACY_AUGMENT_KEYS if k in d]
    if not legacy:
        return d
    nested = d.get("augment") or {}
    if not isinstance(nested, dict):
        raise ConfigError(f"{source}: augment must be a mapping, got {nested!r}")
    both = [k for k in legacy if k in nested]
    if both:
        raise ConfigError(
            f"{source}: {', '.join(both)} given both flat and under augment:; keep only augment.{both[0]}"
        )
    _warn_legacy(legacy, source)
    rest = {k: v for k, v in d.items() if k not in legacy}
    return {**rest, "augment": {**nested, **{k: d[k] for k in legacy}}}


def _coerce(name: str, value: Any, tp: Any) -> Any:
    """Check/convert ``value`` to the field type ``tp`` with a message naming the key."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(name, value, inner[0])
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)  # YAML 1.1 reads "1e-4" as a string
            except ValueError:
                pass
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if tp is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{name} must be a string, got {value!r}")
    if origin is list:
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name} must be a list, got {value!r}")
        return [_coerce(name, v, args[0]) for v in value] if args else list(value)
    if origin is dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ConfigError(f"{name} must be a mapping, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{name} must be a mapping, got {value!r}")
        return config_from_mapping(tp, value, name=name)
    return value
