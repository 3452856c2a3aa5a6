"""What an evaluation runs on: ``--data`` specs opened for scoring, an evenly spaced subset, laundering.

:func:`open_evaluation_data` is the one way ``evaluate``, ``calibrate`` and the benchmarks
turn data specs into the items they score, so a quick ``limit`` run and a robustness sweep
(``post``) select and transform the same items everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch.utils.data import ConcatDataset, Dataset, Subset

from ..errors import InpaintscopeError

#: ``split`` value meaning every split of the data
ALL_SPLITS = "all"


def cheap_strata(dataset: Dataset) -> list[tuple] | None:
    """Each item's (label, compositing mode), read without any image when the dataset can tell
    (readers' ``labels()`` / ``metas()``, concatenations and subsets of them); else None."""
    if hasattr(dataset, "labels"):
        labels = list(dataset.labels())  # type: ignore[attr-defined]
        metas = list(dataset.metas()) if hasattr(dataset, "metas") else [{}] * len(labels)  # type: ignore[attr-defined]
        return [(y, m.get("mode")) for y, m in zip(labels, metas)]
    if isinstance(dataset, ConcatDataset):
        parts = [cheap_strata(d) for d in dataset.datasets]
        return None if any(p is None for p in parts) else [x for p in parts for x in p]  # type: ignore[union-attr]
    if isinstance(dataset, Subset):
        inner = cheap_strata(dataset.dataset)
        return None if inner is None else [inner[i] for i in dataset.indices]
    return None


def _spread(indices: Sequence[int], k: int) -> list[int]:
    n = len(indices)
    return [indices[i * n // k] for i in range(k)]


def evenly_spaced(dataset: Dataset, limit: int | None) -> Dataset:
    """``limit`` items spread evenly over ``dataset``, or ``dataset`` itself when ``limit`` is
    None or not below its length.

    Deterministic, and since datasets list their items grouped by method, mode and source, an
    evenly spaced subset covers every method where the first ``limit`` items would not. When each
    item's label and compositing mode are known without reading images, the subset is spread
    within each (label, mode) stratum, in proportion to its size and at least one item per stratum
    (while ``limit`` allows): a plain stride can alias with a periodic layout (one authentic photo
    after every six edits, taken every 2.8 items, is never picked) and leave a calibration with
    one class. Otherwise item ``i·n // limit`` for ``i < limit``."""
    if limit is None:
        return dataset
    if limit < 1:
        raise InpaintscopeError(f"limit must be at least 1, got {limit}")
    n = len(dataset)  # type: ignore[arg-type]
    if limit >= n:
        return dataset
    keys = cheap_strata(dataset)
    groups: dict[tuple, list[int]] = {}
    for i, key in enumerate(keys or []):
        groups.setdefault(key, []).append(i)
    if len(groups) < 2 or limit < len(groups):
        return Subset(dataset, _spread(range(n), limit))
    share = {k: limit * len(ix) / n for k, ix in groups.items()}
    quota = {k: max(1, int(share[k])) for k in groups}
    while sum(quota.values()) < limit:  # largest remainder first
        k = max((k for k in groups if quota[k] < len(groups[k])), key=lambda k: share[k] - quota[k])
        quota[k] += 1
    while sum(quota.values()) > limit:  # the minimum of one per stratum overshot: take from the largest
        k = max(groups, key=lambda k: quota[k])
        quota[k] -= 1
    picked = sorted(i for k, ix in groups.items() for i in _spread(ix, quota[k]))
    return Subset(dataset, picked)


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
