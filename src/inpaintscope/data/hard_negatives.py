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

The mining is built in a hidden folder beside ``out`` (``.<out name>.mining``) and moved into
place when it is complete, so ``out`` is either absent or a whole mining, never half of one that a
reader would take for a dataset. Each source's result is kept there as it finishes: a run that was
stopped resumes with the next source. Photos that cannot be read are skipped and listed.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from torch.utils.data import Subset

from ..errors import InpaintscopeError
from ..io.atomic import atomic_write_text
from ..io.outputs import check_output_folder, is_within
from ..io.records import read_json_object
from .readers import open_dataset

RECORD = "mining.json"
MANIFEST = "manifest.jsonl"
_PROGRESS = "progress"  # per-source results inside the staging folder
_SPLIT_NAME = re.compile(r"[A-Za-z0-9_-]+")


def _settings(
    checkpoint: Path,
    sources: Sequence[Path],
    *,
    split: str,
    min_score: float,
    min_area: float,
    tile: int,
    overlap: int,
) -> dict[str, Any]:
    """What the mined photos depend on: a rerun with equal settings is the same mining. The
    checkpoint counts by content (its path may be written any way) and sources by resolved path."""
    from ..detection.outputs import file_sha256

    return {
        "checkpoint_sha256": file_sha256(checkpoint),
        "sources": [str(s) for s in sources],
        "split": split,
        "min_score": float(min_score),
        "min_area": float(min_area),
        "tile": int(tile),
        "overlap": int(overlap),
    }


def _read_record(path: Path) -> dict[str, Any]:
    return read_json_object(path, hint="; move it away and run again")


def _finished(out: Path, settings: dict[str, Any]) -> dict[str, Any] | None:
    """The record of a finished mining with these settings in ``out``; None when ``out`` is
    absent or an empty folder. Anything else is refused: we never write over what we did not make."""
    if not out.exists():
        return None
    if not out.is_dir():
        raise InpaintscopeError(f"{out} exists and is not a folder; give a new folder for the mined photos")
    if not (out / RECORD).is_file():
        if any(out.iterdir()):
            raise InpaintscopeError(f"{out} is not empty and holds no {RECORD}; give a new or empty folder")
        return None
    record = _read_record(out / RECORD)
    if record.get("settings") != settings:
        raise InpaintscopeError(f"{out} was mined with other settings ({RECORD}); give a new folder or move {out} away")
    return record


def _check_places(out: Path, sources: Sequence[Path]) -> None:
    for source in sources:
        if is_within(out, source):
            raise InpaintscopeError(
                f"{out} is inside the dataset {source}: the mined photos would join the photos they came from; "
                "give a folder outside it"
            )
        if is_within(source, out):
            raise InpaintscopeError(f"the dataset {source} is inside {out}; give a new folder for the mined photos")
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise InpaintscopeError(f"two datasets share a folder name ({', '.join(names)}); mined ids would collide")


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        dst.unlink()  # ours: a stopped run left it in the staging folder
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed: a plain copy
        shutil.copyfile(src, dst)


def _readable(paths: Sequence[Path]) -> dict[Path, str]:
    """Why each unreadable photo cannot be read (decoded as the readers decode it). The detector
    decodes each photo again: a few milliseconds against its tenths of a second, the price of
    skipping a bad photo instead of stopping the run in the middle of ``evaluate``."""
    from ..io import read_image

    failed = {}
    for path in paths:
        try:
            read_image(path)
        except Exception as e:  # any decode failure: the photo is skipped and named, the rest go on
            failed[path] = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}".rstrip(": ")
    return failed


def _staging(out: Path, settings: dict[str, Any], echo: Callable[[str], None]) -> Path:
    """The hidden folder the mining is built in; a stopped run with the same settings is resumed,
    one with other settings (ours, never published) is started over."""
    staging = out.parent / f".{out.name}.mining"
    if staging.is_dir() and (staging / RECORD).is_file():
        record = _read_record(staging / RECORD)
        if record.get("settings") == settings:
            done = sorted(p.stem for p in (staging / _PROGRESS).glob("*.json"))
            if done:
                echo(f"{out}: resuming a stopped mining ({len(done)} source(s) done)")
            return staging
        if record.get("finished"):
            raise InpaintscopeError(f"{staging} holds a finished mining; move it away and run again")
        shutil.rmtree(staging)
    elif staging.exists():
        raise InpaintscopeError(f"{staging} is in the way (not a mining of ours); move it away and run again")
    (staging / _PROGRESS).mkdir(parents=True)
    atomic_write_text(staging / RECORD, json.dumps({"settings": settings, "finished": False}, indent=2) + "\n")
    return staging


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
    with the same settings on a finished ``out`` does nothing; other settings are refused; a
    stopped run resumes. Returns the summary written to ``out/mining.json``.
    """
    from ..evaluate import evaluate
    from ..models import load_detector
    from ..models.inference import DEFAULT_OVERLAP, DEFAULT_TILE, resolve_device

    if not sources:
        raise InpaintscopeError("no datasets given to mine")
    if not (0.0 <= min_score <= 1.0 and 0.0 <= min_area <= 1.0):
        raise InpaintscopeError(f"--min-score and --min-area must be in [0, 1], got {min_score} and {min_area}")
    if not isinstance(split, str) or not _SPLIT_NAME.fullmatch(split):
        raise InpaintscopeError(f"--split takes one split name (letters, digits, - and _), got {split!r}")
    tile = DEFAULT_TILE if tile is None else int(tile)
    overlap = DEFAULT_OVERLAP if overlap is None else int(overlap)
    out = Path(out).absolute().resolve()
    paths = [Path(s).absolute().resolve() for s in sources]
    _check_places(out, paths)
    checkpoint = Path(checkpoint)
    settings = _settings(
        checkpoint, paths, split=split, min_score=min_score, min_area=min_area, tile=tile, overlap=overlap
    )
    previous = _finished(out, settings)
    if previous is not None:
        echo(f"{out}: already mined with these settings; nothing to do")
        return previous
    opened, taken = [], {}
    for source, path in zip(sources, paths):  # every source checked before anything is written
        ds = open_dataset(path, split=split, include_authentic=True)
        authentic = [i for i, entry in enumerate(ds.entries) if entry[2] == 0]
        if not authentic:
            raise InpaintscopeError(f"{source}: no authentic photos in split {split!r} to mine")
        ids = _mined_ids(ds, authentic, path.name)
        for index, new_id in ids.items():
            if new_id in taken:
                raise InpaintscopeError(
                    f"{ds.entries[index][0]} and {taken[new_id]} would both be mined as {new_id!r}; "
                    "rename one of them (or its folder) and run again"
                )
            taken[new_id] = ds.entries[index][0]
        opened.append((ds, ids))
    resolve_device(device)  # a bad --device is refused before anything is written
    detector = load_detector(checkpoint)
    check_output_folder(out.parent, option="OUT", create=True)
    staging = _staging(out, settings, echo)

    for source, path, (ds, ids) in zip(sources, paths, opened):
        done = staging / _PROGRESS / f"{path.name}.json"
        if done.is_file():
            continue
        records, skipped = _mine_source(
            ds,
            ids,
            path,
            staging,
            split=split,
            min_score=min_score,
            min_area=min_area,
            mine=functools.partial(
                evaluate,
                detector,
                batch_size=1,
                device=device,
                tile=tile,
                overlap=overlap,
                progress=progress,
                progress_label=f"mine {path.name}",
            ),
        )
        result = {"authentic": len(ids), "kept": len(records), "skipped": skipped, "records": records}
        atomic_write_text(done, json.dumps(result, sort_keys=True) + "\n")
        echo(f"{source}: {len(records)} of {len(ids) - len(skipped)} authentic {split} photos flagged")
        for bad in skipped:
            echo(f"  skipped {bad['path']}: {bad['reason']}")

    records, per_source = [], {}
    for path in paths:
        result = _read_record(staging / _PROGRESS / f"{path.name}.json")
        records += result["records"]
        per_source[str(path)] = {k: result[k] for k in ("authentic", "kept", "skipped")}
    atomic_write_text(staging / MANIFEST, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    summary = {
        "settings": settings,
        "checkpoint": str(checkpoint),
        "finished": True,
        "kept": len(records),
        "per_source": per_source,
    }
    atomic_write_text(staging / RECORD, json.dumps(summary, indent=2) + "\n")
    shutil.rmtree(staging / _PROGRESS)
    if out.is_dir():
        out.rmdir()  # empty (checked above): the finished mining takes its place
    os.replace(staging, out)
    return summary


def _mined_ids(ds: Any, authentic: list[int], name: str) -> dict[int, str]:
    """The id each authentic item gets in the mining: ``<source folder>__<its id>``, or, where
    ids repeat across sub-folders (the report's layout), ``<source folder>__<sub-folders>__<id>``."""
    metas = [ds.entries[i][3] for i in authentic]
    ids = [m["id"] for m in metas]
    if len(set(ids)) != len(ids):
        ids = [f"{Path(m['path']).parent.as_posix().replace('/', '__')}__{m['id']}" for m in metas]
    return {i: f"{name}__{x}" for i, x in zip(authentic, ids)}


def _mine_source(
    ds: Any,
    ids: dict[int, str],
    source: Path,
    staging: Path,
    *,
    split: str,
    min_score: float,
    min_area: float,
    mine: Callable[[Subset], Any],
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Score the readable authentic photos of one source (``ids``: dataset index -> mined id);
    link the flagged ones into ``staging``."""
    unreadable = _readable([ds.entries[i][0] for i in ids])
    skipped = [{"path": str(p), "reason": why} for p, why in unreadable.items()]
    readable = [i for i in ids if ds.entries[i][0] not in unreadable]
    records = []
    if readable:
        report = mine(Subset(ds, readable))
        for index, row in zip(readable, report.per_image):
            path, _, _, meta = ds.entries[index]
            if not (row["score"] >= min_score or row["pred_area"] >= min_area):
                continue
            new_id = ids[index]
            rel = f"{split}/{new_id}.original{path.suffix}"
            _link_or_copy(path, staging / rel)
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
    return records, skipped
