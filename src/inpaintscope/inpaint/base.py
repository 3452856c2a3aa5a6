"""Inpainters: the registry and the contract every inpainter honours.

An inpainter fills the pixels of ``mask`` (bool H×W, True = hole) in an RGB uint8 image.
``Inpainter.raw`` is the method's own output, which for a learned method may touch every
pixel (a latent autoencoder re-encodes the whole image, as Stable Diffusion does);
``Inpainter.inpaint`` pastes the fill into the hole so pixels outside the mask are bit-identical
to the input. Subclasses implement ``_fill`` and register themselves with
``@register_inpainter("name")``; ``create_inpainter(name, **options)`` builds one.

The Bochum report: P. Adler, H. Günther, D. Gann, H. Ehringfeld, "Inpainting Detection", student
project report (MPDL project, group 2), Ruhr-Universität Bochum, 2023.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from .._registry import Registry
from ..contract import check_image, check_mask

INPAINTERS: Registry[type[Inpainter]] = Registry("inpainter")


def register_inpainter(name: str) -> Callable[[type[Inpainter]], type[Inpainter]]:
    """Register an :class:`Inpainter` subclass under ``name`` (and set its ``name``)."""

    def deco(cls: type[Inpainter]) -> type[Inpainter]:
        cls.name = name
        return INPAINTERS.register(name)(cls)

    return deco


class Inpainter:
    name: ClassVar[str] = "base"
    #: True when ``raw`` changes pixels outside the hole (learned autoencoders).
    touches_unmasked: ClassVar[bool] = False

    def __init__(self, **options: Any) -> None:
        self.options = options

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable description recorded in dataset manifests."""
        return {"name": self.name, **{k: _jsonable(v) for k, v in self.options.items()}}

    def _fill(self, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def raw(self, image: np.ndarray, mask: np.ndarray, *, rng: np.random.Generator) -> np.ndarray:
        """The method's output as is (the Bochum report's ``inpainted`` file)."""
        check_image(image)
        mask = check_mask(mask, image.shape[:2])
        if not mask.any():
            return image.copy()
        out = self._fill(image, mask, rng)
        if out.shape != image.shape or out.dtype != np.uint8:
            raise TypeError(f"inpainter {self.name!r} returned {out.dtype} {out.shape}, expected uint8 {image.shape}")
        return out

    def inpaint(self, image: np.ndarray, mask: np.ndarray, *, rng: np.random.Generator) -> np.ndarray:
        """Fill the hole; pixels outside ``mask`` are returned unchanged (bit-identical)."""
        mask = check_mask(mask, image.shape[:2])
        out = self.raw(image, mask, rng=rng)
        return np.where(mask[..., None], out, image)

    __call__ = inpaint


def create_inpainter(name: str, **options: Any) -> Inpainter:
    return INPAINTERS.create(name, **options)


def list_inpainters() -> list[str]:
    return INPAINTERS.names()


def _jsonable(v: Any) -> Any:
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return str(v)
