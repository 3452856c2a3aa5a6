"""Torch datasets over the three inpainting-data layouts, all yielding the same items.

Layouts:

* **manifest** — what :func:`inpaintscope.data.build_dataset` writes (``manifest.jsonl``);
* **report** — the Bochum report's naming (docs/references.md, §4.5): a folder (searched
  recursively) of ``<key>.original.*``, ``<key>.mask.*`` and ``<key>.inpainted.*`` /
  ``.realfake.*`` / ``.fakefake.*`` with any image suffix (its published data is lossless WebP).
  Files are paired by folder + key, never by separately sorted lists (the Bochum report's ``CombinedDataset`` bug);
* **folders** — generic ``images/`` + ``masks/`` trees, paired by relative path without suffix;
  an image without a mask is authentic.

Every item is a dict::

    image  float32 tensor 3×H×W, RGB in [0, 1]
    mask   float32 tensor 1×H×W, the ground truth (gt_mode core/any -> 0/1, soft -> [0, 1],
           see inpaintscope.contract.ground_truth); all zero for authentic items
    label  int64 0-dim tensor, 1 = manipulated, 0 = authentic
    meta   dict of JSON-able values: id, split, mode, inpainter, mask_kind, source, post, path

Authentic items are the original photos with an all-zero mask (``include_authentic=True``).
Constructing a dataset only indexes file names, so datasets larger than memory stream fine.

The Bochum report: P. Adler, H. Günther, D. Gann, H. Ehringfeld, "Inpainting Detection", student
project report (MPDL project, group 2), Ruhr-Universität Bochum, 2023.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..contract import GROUND_TRUTH_MODES, ground_truth
from ..errors import InpaintscopeError, ShapeError
from ..io import IMAGE_SUFFIXES, read_image, read_mask

MODES: tuple[str, ...] = ("inpainted", "realfake", "fakefake")
AUTHENTIC = "authentic"
_ROLE_RE = re.compile(
    r"^(?P<key>.+)\.(?P<role>original|mask|inpainted|realfake|fakefake)"
    r"\.(?P<ext>[A-Za-z0-9]+)$"
)


class DatasetLayoutError(InpaintscopeError):
    """A path that is not a dataset in any layout we read, or a dataset that does not fit the request."""


def _check_gt_mode(gt_mode: str) -> str:
    if gt_mode not in GROUND_TRUTH_MODES:
        raise DatasetLayoutError(
            f"unknown ground-truth mode {gt_mode!r}; choose one of {', '.join(GROUND_TRUTH_MODES)}"
        )
    return gt_mode


def _as_tuple(value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(value)


def _check_modes(modes: tuple[str, ...] | None) -> tuple[str, ...] | None:
    for m in modes or ():
        if m not in MODES:
            raise DatasetLayoutError(f"unknown mode {m!r}; choose from {', '.join(MODES)}")
    return modes


def _image_tensor(path: Path) -> torch.Tensor:
    img = read_image(path)
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float().div_(255.0)


def _mask_tensor(path: Path | None, shape: tuple[int, int], gt_mode: str) -> torch.Tensor:
    if path is None:
        return torch.zeros((1, *shape), dtype=torch.float32)
    soft = read_mask(path)
    if soft.shape != shape:
        raise ShapeError(
            f"{path}: mask is {soft.shape[1]}×{soft.shape[0]} but its image is "
            f"{shape[1]}×{shape[0]}; masks must match their images pixel for pixel"
        )
    gt = ground_truth(soft, gt_mode)  # type: ignore[arg-type]
    return torch.from_numpy(np.ascontiguousarray(gt, dtype=np.float32))[None]


class _PairDataset(Dataset):
    """Shared item loading: subclasses fill ``self.entries`` with (image, mask|None, label, meta)."""

    def __init__(self, gt_mode: str) -> None:
        self.gt_mode = _check_gt_mode(gt_mode)
        self.entries: list[tuple[Path, Path | None, int, dict[str, Any]]] = []

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> dict[str, Any]:
        image_path, mask_path, label, meta = self.entries[index]
        image = _image_tensor(image_path)
        mask = _mask_tensor(mask_path, tuple(image.shape[1:]), self.gt_mode)  # type: ignore[arg-type]
        return {"image": image, "mask": mask, "label": torch.tensor(label, dtype=torch.int64), "meta": dict(meta)}

    def labels(self) -> list[int]:
        """Labels of every item without reading any image (for samplers and class counts)."""
        return [e[2] for e in self.entries]

    def metas(self) -> list[dict[str, Any]]:
        """The ``meta`` of every item without reading any image (to pick items by mode or method)."""
        return [dict(e[3]) for e in self.entries]


class ManifestDataset(_PairDataset):
    """Items of a dataset built by :func:`inpaintscope.data.build_dataset`.

    One manipulated item per (sample, mode). Authentic items (``include_authentic``): the
    ``--authentic`` samples when the build made them, otherwise each sample's original.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        split: str | Sequence[str] | None = None,
        modes: str | Sequence[str] | None = None,
        gt_mode: str = "core",
        include_authentic: bool = True,
    ) -> None:
        super().__init__(gt_mode)
        root = Path(root)
        manifest = root / "manifest.jsonl" if root.is_dir() else root
        if not manifest.is_file():
            raise DatasetLayoutError(f"{root}: no manifest.jsonl (build one with `inpaintscope dataset build`)")
        self.root = manifest.parent
        splits = _as_tuple(split)
        want = _check_modes(_as_tuple(modes))
        records = []
        with open(manifest, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except ValueError:
                    raise DatasetLayoutError(f"{manifest}:{lineno}: not valid JSON") from None
                if splits is None or rec.get("split") in splits:
                    records.append(rec)
        has_authentic = any(r.get("authentic") for r in records)
        for rec in records:
            meta = {
                "id": rec["id"],
                "split": rec.get("split"),
                "source": rec.get("source"),
                "post": rec.get("post_spec"),
                "inpainter": (rec.get("inpainter") or {}).get("name"),
                "mask_kind": (rec.get("mask") or {}).get("kind"),
            }
            files = rec.get("files", {})
            if rec.get("authentic"):
                if include_authentic:
                    self._add_authentic(files["original"], meta)
                continue
            for mode, rel in rec.get("modes", {}).items():
                if want is None or mode in want:
                    self.entries.append(
                        (self.root / rel, self.root / files["mask"], 1, {**meta, "mode": mode, "path": rel})
                    )
            if include_authentic and not has_authentic and "original" in files:
                self._add_authentic(files["original"], meta)

    def _add_authentic(self, rel: str, meta: dict[str, Any]) -> None:
        self.entries.append(
            (self.root / rel, None, 0, {**meta, "mode": AUTHENTIC, "inpainter": None, "mask_kind": None, "path": rel})
        )


class ReportLayoutDataset(_PairDataset):
    """The Bochum report's ``<key>.<role>.<ext>`` layout (any image suffix; WebP in the published data).

    ``split`` selects the first sub-folder level under ``root`` (e.g. ``train``), which is also
    recorded as ``meta["split"]``. A manipulated file without its ``<key>.mask.*`` is skipped
    and counted in ``self.skipped``.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        split: str | Sequence[str] | None = None,
        modes: str | Sequence[str] | None = None,
        gt_mode: str = "core",
        include_authentic: bool = True,
    ) -> None:
        super().__init__(gt_mode)
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetLayoutError(f"{root}: not a folder")
        splits = _as_tuple(split)
        want = _check_modes(_as_tuple(modes))
        groups: dict[tuple[str, str], dict[str, Path]] = {}
        for path in sorted(self.root.rglob("*")):
            m = _ROLE_RE.match(path.name)
            if not m or path.name.startswith(".") or ("." + m["ext"].lower()) not in IMAGE_SUFFIXES:
                continue
            rel_dir = path.parent.relative_to(self.root).as_posix()
            roles = groups.setdefault((rel_dir, m["key"]), {})
            if m["role"] in roles:
                raise DatasetLayoutError(
                    f"{path}: two {m['role']} files for key {m['key']!r} ({roles[m['role']].name} too); keep one"
                )
            roles[m["role"]] = path
        self.skipped = 0
        for (rel_dir, key), roles in sorted(groups.items()):
            split_name = rel_dir.split("/", 1)[0] if rel_dir != "." else None
            if splits is not None and split_name not in splits:
                continue
            meta = {"id": key, "split": split_name, "source": None, "post": None, "inpainter": None, "mask_kind": None}
            for mode in MODES:
                if mode in roles and (want is None or mode in want):
                    if "mask" not in roles:
                        self.skipped += 1
                        continue
                    self.entries.append(
                        (
                            roles[mode],
                            roles["mask"],
                            1,
                            {**meta, "mode": mode, "path": roles[mode].relative_to(self.root).as_posix()},
                        )
                    )
            if include_authentic and "original" in roles:
                self.entries.append(
                    (
                        roles["original"],
                        None,
                        0,
                        {**meta, "mode": AUTHENTIC, "path": roles["original"].relative_to(self.root).as_posix()},
                    )
                )


class FolderDataset(_PairDataset):
    """Generic ``images/`` + ``masks/`` folders, paired by relative path without suffix.

    An image with no mask is authentic (label 0, zero mask); an image with a mask is
    manipulated (label 1) — a mask is only ever given for a manipulated image. ``split``
    reads ``root/<split>/images``; a flat folder (no split sub-folders) has no splits, so asking
    for one is an error rather than a silent fallback that would, say, validate on the
    training images. Masks without an image are ignored.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        split: str | None = None,
        gt_mode: str = "core",
        include_authentic: bool = True,
        images: str = "images",
        masks: str = "masks",
    ) -> None:
        super().__init__(gt_mode)
        base = Path(root)
        if split is not None:
            if not (base / split / images).is_dir():
                raise DatasetLayoutError(
                    f"{base}: no {split}/{images}/ folder; this images/ + masks/ dataset has no split "
                    f"{split!r} (evaluate it with --split all; train with --val-data or val_split: null)"
                )
            base = base / split
        self.root = base
        image_dir, mask_dir = base / images, base / masks
        if not image_dir.is_dir():
            raise DatasetLayoutError(f"{base}: no {images}/ folder")
        mask_index: dict[str, Path] = {}
        if mask_dir.is_dir():
            for p in sorted(mask_dir.rglob("*")):
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."):
                    stem = p.relative_to(mask_dir).with_suffix("").as_posix()
                    if stem in mask_index:
                        raise DatasetLayoutError(f"{p}: two masks for {stem!r} ({mask_index[stem].name} too); keep one")
                    mask_index[stem] = p
        seen: set[str] = set()
        for p in sorted(image_dir.rglob("*")):
            if not p.is_file() or p.suffix.lower() not in IMAGE_SUFFIXES or p.name.startswith("."):
                continue
            stem = p.relative_to(image_dir).with_suffix("").as_posix()
            if stem in seen:
                raise DatasetLayoutError(f"{p}: two images named {stem!r} with different suffixes; keep one")
            seen.add(stem)
            mask = mask_index.get(stem)
            if mask is None and not include_authentic:
                continue
            meta = {
                "id": stem,
                "split": split,
                "source": p.relative_to(base).as_posix(),
                "post": None,
                "inpainter": None,
                "mask_kind": None,
                "mode": "manipulated" if mask else AUTHENTIC,
                "path": p.relative_to(base).as_posix(),
            }
            self.entries.append((p, mask, 1 if mask is not None else 0, meta))


def detect_layout(path: str | os.PathLike) -> str:
    """``"manifest"``, ``"folders"`` or ``"report"`` for a dataset path (else an error)."""
    p = Path(path)
    if p.is_file() and p.name.endswith(".jsonl"):
        return "manifest"
    if not p.is_dir():
        raise DatasetLayoutError(f"{path}: no such dataset folder")
    if (p / "manifest.jsonl").is_file():
        return "manifest"
    if (p / "images").is_dir() or any((c / "images").is_dir() for c in p.iterdir() if c.is_dir()):
        return "folders"
    for f in p.rglob("*"):
        if _ROLE_RE.match(f.name):
            return "report"
    raise DatasetLayoutError(
        f"{path}: not a dataset: expected manifest.jsonl, images/ + masks/ folders, or files named "
        "<key>.original.*/<key>.mask.*/<key>.realfake.* (the Bochum report's layout)"
    )


def open_dataset(
    path: str | os.PathLike,
    *,
    split: str | None = None,
    modes: str | Sequence[str] | None = None,
    gt_mode: str = "core",
    include_authentic: bool = True,
) -> _PairDataset:
    """Open a dataset in any of the three layouts (detected from the files)."""
    layout = detect_layout(path)
    if layout == "manifest":
        return ManifestDataset(path, split=split, modes=modes, gt_mode=gt_mode, include_authentic=include_authentic)
    if layout == "report":
        return ReportLayoutDataset(path, split=split, modes=modes, gt_mode=gt_mode, include_authentic=include_authentic)
    if modes is not None:
        raise DatasetLayoutError(f"{path}: an images/ + masks/ dataset has no compositing modes; drop modes=")
    return FolderDataset(path, split=split, gt_mode=gt_mode, include_authentic=include_authentic)
