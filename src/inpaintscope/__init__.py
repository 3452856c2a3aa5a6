"""inpaintscope: image inpainting forensics.

Data contract: see :mod:`inpaintscope.contract` (RGB uint8 H×W×3 at the edges, masks with
1/255 = inpainted, float tensors B×C×H×W inside models).
"""

from __future__ import annotations

__version__ = "0.1.0"  # the one place the version is written (pyproject.toml reads it from here)

# Heavy parts (torch) are imported lazily so `import inpaintscope` stays cheap.
_LAZY = {
    "create_model": "inpaintscope.models",
    "list_models": "inpaintscope.models",
    "load_detector": "inpaintscope.models",
    "detect": "inpaintscope.detection",
    "Detection": "inpaintscope.detection",
    "read_image": "inpaintscope.io",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'inpaintscope' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY]
