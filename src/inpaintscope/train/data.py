"""Open the training/validation data a config names (dataset folders or ``synthetic:`` specs)."""
from __future__ import annotations

from collections.abc import Sequence

from torch.utils.data import ConcatDataset, Dataset

from ..errors import InpaintscopeError
from .synthetic import is_synthetic_spec, open_synthetic


def open_data(paths: Sequence[str], *, split: str | None, modes: Sequence[str] | None = None,
              gt_mode: str = "core", include_authentic: bool = True) -> Dataset:
    """One dataset from one or more sources (concatenated in the order given).

    A source is a dataset folder built by ``inpaintscope dataset`` (read with
    :func:`inpaintscope.data.readers.open_dataset`) or a ``synthetic:N[xS]`` spec
    (:mod:`inpaintscope.train.synthetic`).
    """
    if not paths:
        raise InpaintscopeError("no data given; pass --data PATH (a dataset folder or synthetic:N)")
    parts: list[Dataset] = []
    for path in paths:
        if is_synthetic_spec(path):
            parts.append(open_synthetic(path, split=split, gt_mode=gt_mode, include_authentic=include_authentic))
            continue
        try:
            from ..data.readers import open_dataset
        except ModuleNotFoundError as e:
            if e.name and e.name.startswith("inpaintscope.data"):
                raise InpaintscopeError(f"{path}: the dataset readers (inpaintscope.data.readers) are not "
                                        "installed in this build; use synthetic:N data") from None
            raise
        parts.append(open_dataset(path, split=split, modes=list(modes) if modes else None, gt_mode=gt_mode,
                                  include_authentic=include_authentic))
    dataset = parts[0] if len(parts) == 1 else ConcatDataset(parts)
    if len(dataset) == 0:  # type: ignore[arg-type]
        raise InpaintscopeError(f"no samples in {list(paths)} for split {split!r}"
                                + (f" and modes {list(modes)}" if modes else "") + "; check --split/--modes")
    return dataset
