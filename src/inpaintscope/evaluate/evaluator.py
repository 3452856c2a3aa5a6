"""Run a detector over a dataset and report every named metric (see :mod:`.metrics`).

Streaming: images go through the model batch by batch and only per-image numbers and
fixed histograms are kept, so any dataset size evaluates in constant memory. Batches may
mix image sizes (consecutive same-size images are run together).

Same path as ``detect``: images go through :func:`inpaintscope.models.inference.run_detector`
(tiles of ``tile`` pixels for larger images, padding to the model's size multiple) and the
outputs are read by :func:`inpaintscope.scoring.score_outputs` (heatmap, ``>=`` decision, image
score), so for the same image and model ``evaluate`` scores exactly the mask and score that
``detect`` reports. ``tile=None`` evaluates every image whole at its stored size.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from ..data import batching
from ..errors import InpaintscopeError
from ..io.atomic import atomic_write_text
from ..models.inference import DEFAULT_OVERLAP, DEFAULT_TILE, resolve_device, run_detector
from ..scoring import THRESHOLD, score_outputs
from .metrics import METRIC_DEFINITIONS, MetricAccumulator

GROUP_KEYS = ("inpainter", "mask_kind", "mode")


def binarise_gt(mask: torch.Tensor, gt_mode: str) -> torch.Tensor:
    """Hard GT for metrics: 0/1 masks at > 0.5; soft masks count only their core (== 1), the
    convention of IID-Net's validation AUC (see docs/references.md, IID-Net), so soft and core
    runs share one GT."""
    return mask >= 1.0 if gt_mode == "soft" else mask > 0.5


def score_batch(
    acc: MetricAccumulator,
    mask_logits: torch.Tensor,
    image_logit: torch.Tensor | None,
    batch: dict[str, Any],
    *,
    gt_mode: str,
) -> None:
    """Add one batch of model outputs to ``acc`` (per image: heatmap, GT, label, image score),
    read by :func:`inpaintscope.scoring.score_outputs` as ``detect`` reads them."""
    logits = mask_logits.detach().float().cpu().numpy()[:, 0]
    gts = binarise_gt(batch["mask"], gt_mode).cpu().numpy()[:, 0]
    labels = torch.as_tensor(batch["label"]).reshape(-1).tolist()
    image_logits: list[float | None] = [None] * len(labels)
    if image_logit is not None:
        image_logits = image_logit.detach().float().reshape(-1).cpu().tolist()
    metas = batch.get("meta") or [{} for _ in labels]
    for logit_map, gt, label, z, meta in zip(logits, gts, labels, image_logits, metas):
        scores = score_outputs(logit_map, z)
        acc.add(scores.heatmap, gt, label=int(label), image_score=scores.score, meta=meta)


@dataclass
class EvalReport:
    """Metrics (by name), counts, breakdowns, per-image numbers and what was evaluated."""

    metrics: dict[str, float | None]
    counts: dict[str, int]
    breakdown: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    per_image: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    definitions: dict[str, str] = field(default_factory=lambda: dict(METRIC_DEFINITIONS))

    def to_dict(self) -> dict[str, Any]:
        return {
            "metrics": self.metrics,
            "counts": self.counts,
            "breakdown": self.breakdown,
            "info": self.info,
            "definitions": self.definitions,
            "per_image": self.per_image,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvalReport:
        return cls(
            metrics=d["metrics"],
            counts=d["counts"],
            breakdown=d.get("breakdown", {}),
            per_image=d.get("per_image", []),
            info=d.get("info", {}),
            definitions=d.get("definitions", dict(METRIC_DEFINITIONS)),
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> EvalReport:
        return cls.from_dict(json.loads(Path(path).read_text()))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str) + "\n"

    def to_markdown(self) -> str:
        lines = ["# Evaluation", ""]
        for key in ("checkpoint", "model", "data", "split", "gt_mode"):
            if key in self.info:
                lines.append(f"- **{key}**: `{self.info[key]}`")
        c = self.counts
        lines += [
            f"- **images**: {c.get('n_images', 0)} ({c.get('n_manipulated', 0)} manipulated, "
            f"{c.get('n_authentic', 0)} authentic; {c.get('n_auc_skipped', 0)} single-class GT "
            "skipped in auc_pixel)"
            + (f"; **{c['n_unreadable']} unreadable, left out**" if c.get("n_unreadable") else ""),
            "",
            "| metric | value | definition |",
            "|---|---|---|",
        ]
        lines += [f"| `{k}` | {_fmt(v)} | {self.definitions.get(k, '')} |" for k, v in self.metrics.items()]
        for key, groups in self.breakdown.items():
            names = list(next(iter(groups.values())).keys()) if groups else []
            lines += [
                "",
                f"## By {key}",
                "",
                f"| {key} | " + " | ".join(f"`{n}`" for n in names) + " |",
                "|---" * (len(names) + 1) + "|",
            ]
            lines += [f"| {value} | " + " | ".join(_fmt(m.get(n)) for n in names) + " |" for value, m in groups.items()]
        return "\n".join(lines) + "\n"

    def save(self, out_dir: str | os.PathLike, *, stem: str = "eval") -> tuple[Path, Path]:
        """Write ``<stem>.json`` and ``<stem>.md`` atomically into ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / f"{stem}.json", self.to_json())
        atomic_write_text(out / f"{stem}.md", self.to_markdown())
        return out / f"{stem}.json", out / f"{stem}.md"


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    dataset: Dataset,
    *,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    gt_mode: str = "core",
    tile: int | None = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    num_workers: int = 0,
    progress: bool = False,
    progress_label: str = "evaluate",
    group_keys: Sequence[str] = GROUP_KEYS,
    keep_per_image: bool = True,
    info: dict[str, Any] | None = None,
) -> EvalReport:
    """Evaluate ``model`` (a :class:`~inpaintscope.models.Detector`) on a contract ``dataset``.

    The dataset yields ``{"image", "mask", "label", "meta"}`` items (see
    ``inpaintscope.data.readers.open_dataset``); ``gt_mode`` says how its masks were made
    (``soft`` masks are scored on their core, see :func:`binarise_gt`). The model runs in
    eval mode without gradients and is moved to ``device``; images larger than ``tile`` are
    tiled exactly as ``detect`` tiles them (``tile=None``: whole images, untiled). ``progress``
    shows a bar named ``progress_label``. Returns an :class:`EvalReport`.
    """
    if len(dataset) == 0:  # type: ignore[arg-type]
        raise InpaintscopeError("the evaluation dataset is empty; check --data, --split and --modes")
    dev = resolve_device(device)
    was_training = model.training
    model.eval().to(dev)
    acc = MetricAccumulator(group_keys=group_keys)
    loader = DataLoader(
        _Readable(dataset), batch_size=batch_size, shuffle=False, num_workers=num_workers, collate_fn=list
    )
    from tqdm.auto import tqdm

    unreadable: list[dict[str, Any]] = []
    for items in tqdm(loader, desc=progress_label, unit="batch", disable=not progress):
        unreadable += [it for it in items if "unreadable" in it]
        items = [it for it in items if "unreadable" not in it]
        for batch in batching.same_size_batches(items) if items else ():
            pred = run_detector(model, batch["image"], tile=tile, overlap=overlap, device=dev)
            score_batch(acc, pred.mask_logits, pred.image_logit, batch, gt_mode=gt_mode)
    model.train(was_training)
    if unreadable:
        if len(unreadable) == len(dataset):  # type: ignore[arg-type]
            raise InpaintscopeError(
                f"none of the {len(unreadable)} items could be read; the first: {unreadable[0]['error']}"
            )
        for it in unreadable[:_NAMED]:
            warnings.warn(f"left out of the evaluation: {it['error']}", stacklevel=2)
        more = f" ({len(unreadable) - _NAMED} more not named here; all are in the report's info)"
        warnings.warn(
            f"{len(unreadable)} of {len(dataset)} items could not be read and were left out of every metric"  # type: ignore[arg-type]
            + (more if len(unreadable) > _NAMED else ""),
            stacklevel=2,
        )
    per_image = []
    if keep_per_image:
        per_image = [
            {
                "id": r.id,
                "label": r.label,
                "score": r.score,
                "f1@0.5": r.f1,
                "iou@0.5": r.iou,
                "f1@best": r.f1_best,
                "auc_pixel": r.auc,
                "pred_area": r.pred_area,
                **r.groups,
            }
            for r in acc.records
        ]
    info = {
        "gt_mode": gt_mode,
        "threshold": THRESHOLD,
        "tile": tile,
        "overlap": overlap if tile else None,
        **(info or {}),
    }
    counts = acc.counts()
    if unreadable:
        counts["n_unreadable"] = len(unreadable)
        info["unreadable"] = unreadable
    return EvalReport(metrics=acc.compute(), counts=counts, breakdown=acc.breakdown(), per_image=per_image, info=info)


#: unreadable items named one per warning line (the rest are counted)
_NAMED = 10


class _Readable(Dataset):
    """The items of ``dataset``; one whose files cannot be read (missing, truncated) becomes
    ``{"unreadable": True, "index", "error"}``, so one bad file costs that item, not the run."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> dict[str, Any]:
        try:
            return self.dataset[index]
        except InpaintscopeError as e:
            return {"unreadable": True, "index": index, "error": str(e)}
