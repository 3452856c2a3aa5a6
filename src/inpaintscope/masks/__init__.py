"""Mask generators (each registered, each seeded by an explicit ``rng``). See :mod:`.base`."""

from .base import MASKS, MaskSample, create_mask, list_masks, make_mask, register_mask, soften

# Importing the modules registers their generators.
from . import rectangle, strokes, shapes, objects, folder  # noqa: E402,F401
from .objects import MaskUnavailable, find_label_file  # noqa: E402

__all__ = [
    "MASKS",
    "MaskSample",
    "MaskUnavailable",
    "create_mask",
    "find_label_file",
    "list_masks",
    "make_mask",
    "register_mask",
    "soften",
]
