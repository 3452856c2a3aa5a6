"""Hand-designed evidence maps a detector can fuse with what it learns: the copy cue
(self-similarity at coherent offsets) and the autoencoder reconstruction-ratio cue."""

from .autoencoder import reconstruction_ratio
from .copy import COPY_CHANNELS, copy_cue

__all__ = ["COPY_CHANNELS", "copy_cue", "reconstruction_ratio"]
