"""The registry of learned inpainting networks: ``create_inpaint_net(name, **kwargs)``.

Every network is an ``nn.Module`` with ``forward(image, hole) -> (output, stages)``: ``image``
B×3×H×W float RGB in [0, 1], ``hole`` B×1×H×W (1 = pixels to invent; the network never reads
the image there), H and W multiples of the class attribute ``size_multiple``; ``output`` is the
full-frame result in [0, 1] and ``stages`` every intermediate output the reconstruction loss
supervises (coarse → fine). Compositing (``output·hole + image·(1 − hole)``) is the caller's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from ..._registry import Registry
from .edgeconnect import EdgeConnectNet
from .fourier import FourierInpaintNet
from .gated import GatedInpaintNet
from .safepaint import SafePaintNet

INPAINT_NETS: Registry[type[nn.Module]] = Registry("inpainting network")


def register_inpaint_net(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Register a network class (``forward(image, hole) -> (output, stages)``) under ``name``."""
    return INPAINT_NETS.register(name)


def create_inpaint_net(name: str, **kwargs: Any) -> nn.Module:
    return INPAINT_NETS.create(name, **kwargs)


def list_inpaint_nets() -> list[str]:
    return INPAINT_NETS.names()


# The network modules stay free of registry imports (they are plain torch); they are registered here.
register_inpaint_net("gated")(GatedInpaintNet)
register_inpaint_net("edgeconnect")(EdgeConnectNet)
register_inpaint_net("fourier")(FourierInpaintNet)
register_inpaint_net("safepaint")(SafePaintNet)
