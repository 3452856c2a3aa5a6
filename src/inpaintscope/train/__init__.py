"""Training engine: ``fit(TrainConfig) -> RunResult``, losses, joint augmentation.

See :mod:`inpaintscope.train.engine` for what a run writes and how resume works.
"""
from .augment import AugmentConfig, AugmentedDataset, augment_pair
from .config import ConfigError, TrainConfig
from .data import open_data
from .engine import EarlyStopping, RunResult, fit, resume_config
from .losses import (
    bce_loss,
    build_loss,
    iid_focal_bce,
    image_bce_loss,
    parse_loss_spec,
    sigmoid_focal_loss,
    soft_dice_loss,
)
from .synthetic import SyntheticInpaintDataset

__all__ = [
    "AugmentConfig", "AugmentedDataset", "ConfigError", "EarlyStopping", "RunResult", "SyntheticInpaintDataset",
    "TrainConfig", "augment_pair", "bce_loss", "build_loss", "fit", "iid_focal_bce", "image_bce_loss",
    "open_data", "parse_loss_spec", "resume_config", "sigmoid_focal_loss", "soft_dice_loss",
]
