"""Hard-negative mining: collect the authentic photos a detector flags into a dataset to train on.

A detector's false alarms are rare among the authentic photos it trains on (v0.5 flags about
one in twenty), so each carries little weight in a training epoch. Re-training with those photos
over-represented is the bootstrapping of Sung & Poggio ("Example-based learning for view-based
human face detection", IEEE TPAMI 1998), the hard-negative mining of detectors since (Felzenszwalb
et al., "Object detection with discriminatively trained part-based models", IEEE TPAMI 2010).

:func:`mine_hard_negatives` runs a detector over the authentic items of one split of one or more
datasets, exactly as ``detect`` and ``evaluate`` run it, and keeps each photo whose image score
reaches ``min_score`` or whose flagged area (pixels at heatmap ≥ 0.5) reaches ``min_area``. The
kept photos are hard-linked (copied across file systems) into ``out/<split>/`` with a manifest any
reader of ours opens as authentic items of that split; each record says where the photo came
from and what the detector scored. List the folder in a training config's ``data`` (more than
once to weigh it more). Only a split the detector is to be trained on should be mined: mining the
validation or test photos and training on them would leak them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from torch.utils.data import Subset

from ..errors import InpaintscopeError
from ..io.atomic import atomic_write_text
from .readers import open_dataset

RECORD = "mining.json"
MANIFEST = "manifest.jsonl"


def _settings(
    checkpoint: Path, sources: Sequence[str | os.PathLike], *, split: str, min_score: float, min_area: float
) -> dict[str, Any]:
    from ..detection.outputs import file_sha256

    return {
        "checkpoint": str(checkpoint),
        "checkpoint_sha256": file_sha256(checkpoint),
        "sources": [str(s) for s in sources],
        "split": split,
        "min_score": float(min_score),
        "min_area": float(min_area),
    }


def _check_out(out: Path, settings: dict[str, Any]) -> bool:
    """True when ``out`` already holds a finished mining with these settings; raise if it holds
    anything else (never overwrite what we did not write)."""
    if not out.exists():
        return False
    if not out.is_dir():
        raise InpaintscopeError(f"{out} exists and is not a folder; give a new folder for the mined photos")
    record = out / RECORD
    if not record.is_file():
        if any(out.iterdir()):
            raise InpaintscopeError(f"{out} is not empty and holds no {RECORD}; give a new or empty folder")
        return False
    try:
        previous = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InpaintscopeError(f"{record} is unreadable ({e}); move {out} away and run again") from None
    if previous.get("settings") != settings:
        raise InpaintscopeError(f"{out} was mined with other settings ({RECORD}); give a new folder or move {out} away")
    return previous.get("finished", False) and (out / MANIFEST).is_file()


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        dst.unlink()  # ours: an interrupted run with the same settings left it
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed: a plain copy
        shutil.copyfile(src, dst)


def mine_hard_negatives(
    checkpoint: str | os.PathLike,
    sources: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    split: str = "train",
    min_score: float = 0.3,
    min_area: float = 0.001,
    tile: int | None = None,
    overlap: int | None = None,
    device: str = "cpu",
    progress: bool = False,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Write the authentic ``split`` photos of ``sources`` that the detector in ``checkpoint`` flags
    into ``out``.

    A photo is kept when its image score is ≥ ``min_score`` or its flagged area (share of pixels
    at heatmap ≥ 0.5) is ≥ ``min_area``; images are tiled as ``detect`` tiles them. Re-running
    with the same settings on a finished ``out`` does nothing; other settings are refused.
    Returns the summary written to ``out/mining.json``.
    """
    from ..evaluate import evaluate
    from ..models import load_detector
    from ..models.inference import DEFAULT_OVERLAP, DEFAULT_TILE

    if not sources:
        raise InpaintscopeError("no datasets given to mine")
    if not (0.0 <= min_score <= 1.0 and 0.0 <= min_area <= 1.0):
        raise InpaintscopeError(f"--min-score and --min-area must be in [0, 1], got {min_score} and {min_area}")
    names = [Path(s).name for s in sources]
    if len(set(names)) != len(names):
        raise InpaintscopeError(f"two datasets share a folder name ({', '.join(names)}); mined ids would collide")
    out = Path(out)
    checkpoint = Path(checkpoint)
    settings = _settings(checkpoint, sources, split=split, min_score=min_score, min_area=min_area)
    if _check_out(out, settings):
        echo(f"{out}: already mined with these settings; nothing to do")
        return json.loads((out / RECORD).read_text(encoding="utf-8"))
    opened = []
    for source in sources:  # every source checked before anything is written
        ds = open_dataset(source, split=split, include_authentic=True)
        authentic = [i for i, entry in enumerate(ds.entries) if entry[2] == 0]
        if not authentic:
            raise InpaintscopeError(f"{source}: no authentic photos in split {split!r} to mine")
        opened.append((ds, authentic))
    detector = load_detector(checkpoint)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / RECORD, json.dumps({"settings": settings, "finished": False}, indent=2) + "\n")

    records, per_source = [], {}
    for source, name, (ds, authentic) in zip(sources, names, opened):
        report = evaluate(
            detector,
            Subset(ds, authentic),
            batch_size=1,
            device=device,
            tile=DEFAULT_TILE if tile is None else tile,
            overlap=DEFAULT_OVERLAP if overlap is None else overlap,
            progress=progress,
            progress_label=f"mine {name}",
        )
        kept = 0
        for index, row in zip(authentic, report.per_image):
            path, _, _, meta = ds.entries[index]
            if not (row["score"] >= min_score or row["pred_area"] >= min_area):
                continue
            new_id = f"{name}__{meta['id']}"
            rel = f"{split}/{new_id}.original{path.suffix}"
            _link_or_copy(path, out / rel)
            records.append(
                {
                    "authentic": True,
                    "files": {"original": rel},
                    "id": new_id,
                    "inpainter": None,
                    "mask": None,
                    "modes": {},
                    "post_spec": meta.get("post"),
                    "source": meta.get("source"),
                    "split": split,
                    "mined": {
                        "from": str(source),
                        "id": meta["id"],
                        "score": row["score"],
                        "flagged_area": row["pred_area"],
                    },
                }
            )
            kept += 1
        per_source[str(source)] = {"authentic": len(authentic), "kept": kept}
        echo(f"{source}: {kept} of {len(authentic)} authentic {split} photos flagged")
    atomic_write_text(out / MANIFEST, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    summary = {"settings": settings, "finished": True, "kept": len(records), "per_source": per_source}
    atomic_write_text(out / RECORD, json.dumps(summary, indent=2) + "\n")
    return summary
