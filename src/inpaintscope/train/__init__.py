"""Training engine: ``fit(TrainConfig) -> RunResult``, losses, joint augmentation.

See :mod:`inpaintscope.train.engine` for the loop and :mod:`inpaintscope.train.run_folder` for
what a run writes and how resume works. Data sources live in :mod:`inpaintscope.data`.
"""

from .augment import AugmentedDataset, augment_pair
from .config import AugmentConfig, ConfigError, TrainConfig
from .early_stopping import EarlyStopping
from .engine import RunResult, TrainState, fit
from .losses import (
    bce_loss,
    build_loss,
    iid_focal_bce,
    image_bce_loss,
    parse_loss_spec,
    sigmoid_focal_loss,
    soft_dice_loss,
)
from .run_folder import resume_config

__all__ = [
    "AugmentConfig",
    "AugmentedDataset",
    "ConfigError",
    "EarlyStopping",
    "RunResult",
    "TrainConfig",
    "TrainState",
    "augment_pair",
    "bce_loss",
    "build_loss",
    "fit",
    "iid_focal_bce",
    "image_bce_loss",
    "parse_loss_spec",
    "resume_config",
    "sigmoid_focal_loss",
    "soft_dice_loss",
]
