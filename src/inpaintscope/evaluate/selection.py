"""What an evaluation runs on: ``--data`` specs opened for scoring, an evenly spaced subset, laundering.

:func:`open_evaluation_data` is the one way ``evaluate``, ``calibrate`` and the benchmarks
turn data specs into the items they score, so a quick ``limit`` run and a robustness sweep
(``post``) select and transform the same items everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch.utils.data import Dataset, Subset

from ..errors import InpaintscopeError

#: ``split`` value meaning every split of the data
ALL_SPLITS = "all"


def evenly_spaced(dataset: Dataset, limit: int | None) -> Dataset:
    """``limit`` items spread evenly over ``dataset`` (item ``i·n // limit`` for ``i < limit``),
    or ``dataset`` itself when ``limit`` is None or not below its length.

    Deterministic, and since datasets list their items grouped by method, mode and source, an
    evenly spaced subset covers every method where the first ``limit`` items would not."""
    if limit is None:
        return dataset
    if limit < 1:
        raise InpaintscopeError(f"limit must be at least 1, got {limit}")
    n = len(dataset)  # type: ignore[arg-type]
    if limit >= n:
        return dataset
    return Subset(dataset, [i * n // limit for i in range(limit)])


def open_evaluation_data(
    data: Sequence[str],
    *,
    split: str = "test",
    modes: Sequence[str] | None = None,
    gt_mode: str = "core",
    include_authentic: bool = True,
    limit: int | None = None,
    post: str | None = None,
) -> Dataset:
    """The items to evaluate: ``data`` (folders or ``synthetic:`` specs, concatenated) restricted
    to ``split`` (``"all"``: every split) and ``modes``, then :func:`evenly_spaced` to ``limit``,
    then laundered with ``post`` (e.g. ``jpeg:75``, see :class:`~.perturb.PerturbedDataset`)."""
    from ..data.specs import open_data

    dataset = open_data(
        list(data),
        split=None if split == ALL_SPLITS else split,
        modes=modes,
        gt_mode=gt_mode,
        include_authentic=include_authentic,
    )
    dataset = evenly_spaced(dataset, limit)
    if post:
        from .perturb import PerturbedDataset

        dataset = PerturbedDataset(dataset, post)
    return dataset
