"""Open the data a ``--data`` list names: dataset folders and ``synthetic:N[xS]`` specs.

One function, :func:`open_data`, used by ``train``, ``evaluate`` and ``calibrate`` alike, so
every command accepts the same data specs and concatenates several in the order given.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch.utils.data import ConcatDataset, Dataset

from ..errors import InpaintscopeError
from .readers import open_dataset
from .synthetic import is_synthetic_spec, open_synthetic


def open_data(
    paths: Sequence[str],
    *,
    split: str | None,
    modes: Sequence[str] | None = None,
    gt_mode: str = "core",
    include_authentic: bool = True,
) -> Dataset:
    """One dataset from one or more sources (concatenated in the order given).

    A source is a dataset folder (any layout :func:`inpaintscope.data.readers.open_dataset`
    reads) or a ``synthetic:N[xS]`` spec (:mod:`inpaintscope.data.synthetic`).
    """
    if not paths:
        raise InpaintscopeError("no data given; pass --data PATH (a dataset folder or synthetic:N)")
    parts: list[Dataset] = []
    for path in paths:
        if is_synthetic_spec(path):
            parts.append(open_synthetic(path, split=split, gt_mode=gt_mode, include_authentic=include_authentic))
        else:
            parts.append(
                open_dataset(
                    path,
                    split=split,
                    modes=list(modes) if modes else None,
                    gt_mode=gt_mode,
                    include_authentic=include_authentic,
                )
            )
    dataset = parts[0] if len(parts) == 1 else ConcatDataset(parts)
    if len(dataset) == 0:  # type: ignore[arg-type]
        raise InpaintscopeError(
            f"no samples in {list(paths)} for split {split!r}"
            + (f" and modes {list(modes)}" if modes else "")
            + "; check --split/--modes"
        )
    return dataset
