"""Detector zoo: one registry, ``create_model(name, **kwargs)``, ``load_detector(path)``."""

from .base import MODELS, Detector, DetectorOutput, Preprocessing, count_parameters, list_models, register_model
from .checkpoint import load_state_dict, read_checkpoint_info, save_checkpoint
from .factory import create_model, load_detector

# Importing the model modules registers them.
from . import fcn_resnet50, iid_net, nix_net, scope  # noqa: E402,F401

__all__ = [
    "MODELS",
    "Detector",
    "DetectorOutput",
    "Preprocessing",
    "count_parameters",
    "create_model",
    "list_models",
    "load_detector",
    "load_state_dict",
    "read_checkpoint_info",
    "register_model",
    "save_checkpoint",
]
