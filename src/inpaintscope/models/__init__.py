"""Detector zoo: one registry, ``create_model(name, **kwargs)``, ``load_detector(path)``."""
from .base import MODELS, Detector, DetectorOutput, Preprocessing, count_parameters, list_models, register_model
from .checkpoint import load_state_dict, read_checkpoint_info, save_checkpoint
from .factory import create_model, load_detector

# Importing the model modules registers them. Each is optional while the zoo is being built.
import importlib as _importlib

for _mod in ("iid_net", "nix_net", "fcn_resnet50", "scope"):
    try:
        _importlib.import_module(f"{__name__}.{_mod}")
    except ModuleNotFoundError as _e:
        if _e.name != f"{__name__}.{_mod}":
            raise

__all__ = [
    "MODELS", "Detector", "DetectorOutput", "Preprocessing", "count_parameters", "create_model",
    "list_models", "load_detector", "load_state_dict", "read_checkpoint_info", "register_model", "save_checkpoint",
]
