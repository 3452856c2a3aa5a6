"""Folder runs: expand inputs, map each to its outputs, run detection, keep going on bad files.

Inputs are files, folders (``recursive`` to descend), glob patterns (expanded here too, so a
quoted ``"photos/*.jpg"`` works the same as the shell's expansion) and ``-`` for image bytes on
stdin. Explicit files are always attempted whatever their suffix, and so is every file a glob
matches (as if the shell had expanded it); folders contribute the files with an image suffix
(:data:`inpaintscope.io.IMAGE_SUFFIXES`).

Outputs mirror each input's position relative to its root (the folder given, the glob's fixed
prefix, or the file's own folder) under ``out_dir``; two inputs that would share a stem (``a.jpg``
and ``a.png``) get ``a_png``-style stems. Nothing is ever written over an input file, and an
output folder that is, or with ``recursive`` lies inside, an input folder is refused, since
its outputs would be read as inputs by the next run.
"""
from __future__ import annotations

import glob
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import InpaintscopeError
from ..io import DEFAULT_MAX_PIXELS, list_images
from .loader import LoadedModel
from .report import RECORD_KEYS, make_record, read_records, record_line, write_csv, write_index_html, write_jsonl

RESULTS_JSONL = "results.jsonl"
RESULTS_CSV = "results.csv"
INDEX_HTML = "index.html"
STDIN = "-"
_GLOB_CHARS = set("*?[")


@dataclass
class InputItem:
    """One input: ``file`` is the name written in the record; ``path`` None means stdin;
    ``rel_dir``/``stem`` place its outputs; ``error`` is set when it failed before reading."""

    file: str
    path: Path | None
    rel_dir: PurePosixPath = PurePosixPath(".")
    stem: str = "stdin"
    error: str | None = None

    def outputs(self, out_dir: Path, *, overlay: bool = True) -> dict[str, Path]:
        base = out_dir / self.rel_dir
        kinds = ("mask", "heatmap", "overlay") if overlay else ("mask", "heatmap")
        return {k: base / f"{self.stem}.{k}.png" for k in kinds}


@dataclass
class BatchSummary:
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 0 if self.failed == 0 else 2


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def _glob_root(pattern: str) -> Path:
    parts = Path(pattern).parts
    fixed = []
    for part in parts:
        if _GLOB_CHARS & set(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def expand_inputs(inputs: Sequence[str], *, out_dir: str | os.PathLike, recursive: bool = False) -> list[InputItem]:
    """Every input as an :class:`InputItem`, in the order given (folders and globs sorted)."""
    out_dir = Path(out_dir)
    out_res = out_dir.resolve()
    found: list[tuple[str, Path | None, Path | None, str | None]] = []  # file, path, root, error
    stdin_used = False
    for raw in inputs:
        if raw == STDIN:
            found.append((STDIN, None, None, "stdin can be read only once" if stdin_used else None))
            stdin_used = True
            continue
        p = Path(raw).expanduser()
        if p.is_dir():
            root_res = p.resolve()
            if out_res == root_res or (recursive and _inside(out_res, root_res)):
                raise InpaintscopeError(
                    f"output folder {out_dir} is {'the input folder' if out_res == root_res else 'inside the input folder'} "
                    f"{raw}; choose an output folder outside it (outputs would be read as inputs next time)")
            files = [f for f in list_images(p, recursive=recursive) if not _inside(f.resolve(), out_res)]
            found.extend((str(f), f, p, None) for f in files)
        elif p.exists() or os.path.lexists(p):
            found.append((str(p), p, p.parent, None))
        elif _GLOB_CHARS & set(raw):
            root = _glob_root(raw)
            matches = sorted(Path(m) for m in glob.glob(os.path.expanduser(raw), recursive=True))
            files = [m for m in matches if m.is_file() and not _inside(m.resolve(), out_res)]
            if not files:
                found.append((raw, None, None, f"{raw}: no files match this pattern"))
            found.extend((str(m), m, root, None) for m in files)
        else:
            found.append((raw, None, None, f"{raw}: no such file or folder"))

    items: list[InputItem] = []
    taken: set[tuple[str, str]] = set()
    seen: set[Path] = set()
    for file, path, root, error in found:
        if error is not None or (path is None and file != STDIN):
            items.append(InputItem(file, None, error=error))
            continue
        if path is not None:
            # a file named twice (a folder and a glob over it) is analysed once
            key = path.resolve()
            if key in seen:
                continue
            seen.add(key)
        if path is None:
            rel_dir, stem, suffix = PurePosixPath("."), "stdin", ""
        else:
            rel = path.relative_to(root) if root is not None and _inside(path, root) else Path(path.name)
            rel_dir, stem, suffix = PurePosixPath(*rel.parent.parts) if rel.parent.parts else PurePosixPath("."), path.stem, path.suffix
        candidate = stem
        if (str(rel_dir), candidate) in taken and suffix:
            candidate = f"{stem}_{suffix.lstrip('.').lower()}"
        n = 2
        while (str(rel_dir), candidate) in taken:
            candidate = f"{stem}_{n}"
            n += 1
        taken.add((str(rel_dir), candidate))
        items.append(InputItem(file, path, rel_dir, candidate))
    return items


def _line(file: str, message: str) -> str:
    return f"error: {message}" if message.startswith(file) else f"error: {file}: {message}"


def run_batch(
    items: Sequence[InputItem],
    out_dir: str | os.PathLike,
    *,
    model: LoadedModel,
    threshold: float = 0.5,
    tile: int,
    overlap: int,
    overlay: bool = True,
    skip_existing: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    stdin_reader: Callable[[], bytes] | None = None,
    progress: bool | None = None,
    echo: Callable[[str], None] | None = None,
) -> BatchSummary:
    """Detect every item, write outputs and the three results files; never stops on a bad input.

    ``echo`` prints one line per failure (default: stderr, through tqdm so the bar stays
    intact). ``progress``: None shows the bar only on a terminal.
    """
    from tqdm import tqdm

    from .api import detect

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jsonl = out_dir / RESULTS_JSONL
    if echo is None:
        def echo(msg: str) -> None:
            tqdm.write(msg, file=sys.stderr)
    if stdin_reader is None:
        def stdin_reader() -> bytes:
            return sys.stdin.buffer.read()

    input_files = {p.resolve() for it in items if it.path is not None for p in [it.path] if p.exists()}
    for name in (RESULTS_JSONL, RESULTS_CSV, INDEX_HTML):
        if (out_dir / name).resolve() in input_files:
            raise InpaintscopeError(f"{out_dir / name} is one of the inputs; choose another output folder")

    old = read_records(jsonl) if skip_existing else []
    old_by_file = {r["file"]: r for r in old}
    if not skip_existing and jsonl.exists():
        jsonl.unlink()  # a fresh run starts a fresh log; the final one is rewritten atomically below

    summary = BatchSummary()
    start = time.perf_counter()
    current: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    with open(jsonl, "a", encoding="utf-8") as log:
        for item in tqdm(items, desc="detect", unit="img", file=sys.stderr, disable=None if progress is None else not progress):
            outputs = item.outputs(out_dir, overlay=overlay)
            prev = old_by_file.get(item.file)
            if item.file not in current:
                order.append(item.file)
            if (skip_existing and prev is not None and prev.get("status") == "ok"
                    and item.path is not None and all(p.is_file() for p in outputs.values())):
                current[item.file] = prev
                summary.skipped += 1
                summary.ok += 1
                continue
            t0 = time.perf_counter()
            try:
                if item.error is not None:
                    raise InpaintscopeError(item.error)
                clash = [p for p in outputs.values() if p.resolve() in input_files]
                if clash:
                    raise InpaintscopeError(f"output {clash[0]} would overwrite an input file; choose another output folder")
                source: Any = stdin_reader() if item.path is None else item.path
                if item.path is None and not source:
                    raise InpaintscopeError("empty input on stdin (0 bytes)")
                det = detect(source, model=model, threshold=threshold, tile=tile, overlap=overlap,
                             max_pixels=max_pixels)
                det.save(out_dir / item.rel_dir, item.stem, overlay=overlay)
                det.image = None  # drop the pixels now, not at the next iteration
                record = make_record(item.file, status="ok", error=None, **det.to_record())
                summary.ok += 1
            except InpaintscopeError as e:
                record = make_record(item.file, status="error", error=str(e), model=model.label,
                                     version=_version(), seconds=round(time.perf_counter() - t0, 4))
                echo(_line(item.file, str(e)))
                summary.failed += 1
            except (MemoryError, RuntimeError, OSError) as e:
                # not the user's fault, but one image must not end a long batch either
                msg = f"internal error ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
                record = make_record(item.file, status="error", error=msg, model=model.label,
                                     version=_version(), seconds=round(time.perf_counter() - t0, 4))
                echo(_line(item.file, msg))
                summary.failed += 1
            current[item.file] = record
            log.write(record_line(record))
            log.flush()

    # final files: older records of inputs not in this run first, then this run in input order
    final = [r for r in old if r["file"] not in current]
    final += [current[f] for f in order]
    summary.records = final
    summary.seconds = time.perf_counter() - start
    write_jsonl(jsonl, final)
    write_csv(out_dir / RESULTS_CSV, final)
    pictures: dict[str, str] = {}
    for item in items:
        kind = "overlay" if overlay else "heatmap"
        p = item.outputs(out_dir, overlay=overlay)[kind]
        if p.is_file():
            pictures[item.file] = p.relative_to(out_dir).as_posix()
    text = (f"{summary.ok} ok, {summary.failed} failed"
            + (f" ({summary.skipped} skipped as already done)" if summary.skipped else "")
            + f", {len(final)} records. Model {model.label}, threshold {threshold:g}.")
    write_index_html(out_dir / INDEX_HTML, [(r, pictures.get(r["file"])) for r in final], summary=text)
    return summary


def _version() -> str:
    from .. import __version__

    return __version__


__all__ = ["INDEX_HTML", "RECORD_KEYS", "RESULTS_CSV", "RESULTS_JSONL", "BatchSummary", "InputItem",
           "expand_inputs", "run_batch"]
