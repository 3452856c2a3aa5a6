"""Inpainters (classical and learned) and the report's compositing modes. See :mod:`.base`."""
from .base import INPAINTERS, Inpainter, create_inpainter, list_inpainters, register_inpainter

from . import classical, patchmatch, autoencoder  # noqa: E402,F401  (registration)

__all__ = ["INPAINTERS", "Inpainter", "create_inpainter", "list_inpainters", "register_inpainter"]
