"""Inpainters (classical and learned) and the Bochum report's compositing modes. See :mod:`.base`.

The Bochum report: P. Adler, H. Günther, D. Gann, H. Ehringfeld, "Inpainting Detection", student
project report (MPDL project, group 2), Ruhr-Universität Bochum, 2023.
"""

from .base import INPAINTERS, Inpainter, create_inpainter, list_inpainters, register_inpainter

from . import classical, patchmatch, criminisi, clone, autoencoder, diffusers_sd, learned  # noqa: E402,F401  (registration)
from .autoencoder import LatentAutoencoder, load_autoencoder  # noqa: E402
from .compose import MODES, blend, make_composites  # noqa: E402
from .postprocess import PostProcess, parse_postprocess  # noqa: E402

__all__ = [
    "INPAINTERS",
    "Inpainter",
    "create_inpainter",
    "list_inpainters",
    "register_inpainter",
    "MODES",
    "blend",
    "make_composites",
    "LatentAutoencoder",
    "load_autoencoder",
    "PostProcess",
    "parse_postprocess",
]
