"""Learned inpainters: our own trained networks of several architecture families, and SafePaint.

Importing this package registers the inpainters (``gated``, ``edgeconnect``, ``fourier``,
``safepaint``) without importing torch; the networks load on first use from the weights shipped
in ``inpaintscope/weights/inpainters/`` (or a ``weights=`` file of your own training).
"""

from .runtime import LearnedInpainter

__all__ = ["LearnedInpainter"]
