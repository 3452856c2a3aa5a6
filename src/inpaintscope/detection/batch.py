"""Folder runs: expand inputs, detect each, write its pictures and one record; never stop on a bad input.

Inputs are files, folders (``recursive`` to descend), glob patterns (expanded here too, so a
quoted ``"photos/*.jpg"`` works the same as the shell's expansion) and ``-`` for image bytes on
stdin. Explicit files are always attempted whatever their suffix, and so is every file a glob
matches (as if the shell had expanded it); folders contribute what
:func:`inpaintscope.io.list_image_files` lists (the rule ``dataset build`` uses too: image
suffixes, hidden entries skipped, dangling links listed so they get an error record). Anything
that is not a regular file (a FIFO, a device) gets an error record without being opened for a
blocking read. Files an earlier run wrote into
the output folder are never read as inputs, and an output folder that is an input folder (or,
with ``recursive``, lies inside one) is refused.

Outputs (see :mod:`.outputs`): the pictures of input ``p`` are ``OUT/<p mirrored>.<kind>.png``,
a function of the path alone; every record names them (relative to ``OUT``) with their SHA-256.

Results: ``results.jsonl``/``.csv`` and ``index.html`` hold one record per input ever run into
this folder: this run's records, in input order, after the records of earlier runs for other
inputs (a record whose pictures this run rewrote is dropped). They are rewritten atomically at
the end; while the run goes on, each finished record is journalled, so a run that is killed
loses nothing a ``--skip-existing`` resume cannot verify.

Resume (``skip_existing``): an input is skipped only when its previous record is ``ok``, was
computed from the same content (size, mtime and SHA-256 of the file), with the same model and
both thresholds, names the pictures this run would write, and each of them still exists with the
recorded SHA-256. Anything else is redone.
"""

from __future__ import annotations

import glob
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import InpaintscopeError
from ..io import DEFAULT_MAX_PIXELS, decode_image, encode_image, list_image_files, printable, read_file_bytes
from ..io.outputs import is_within
from ..tiling import check_tile_overlap
from .api import DEFAULT_IMAGE_THRESHOLD, DEFAULT_PIXEL_THRESHOLD, PICTURE_KINDS
from .loader import LoadedModel
from .outputs import (
    INDEX_HTML,
    RESULTS_CSV,
    RESULTS_JSONL,
    STATE_DIR,
    OutputFolder,
    OutputWriteError,
    known_outputs,
    output_base,
    output_paths,
)
from .report import (
    OUTPUT_KEYS,
    RECORD_KEYS,
    IndexRow,
    InputFingerprint,
    count_decisions,
    detection_record,
    href,
    read_records,
    records_csv,
    records_jsonl,
    render_index_html,
)

STDIN = "-"
_GLOB_CHARS = set("*?[")


@dataclass
class InputItem:
    """One input: ``file`` is the name written in the record (printable text); ``path`` None
    means stdin (or an input that failed before reading, with ``error`` set); ``base`` is where
    its pictures go (see :func:`.outputs.output_base`)."""

    file: str
    path: Path | None
    base: PurePosixPath | None = None
    error: str | None = None

    def outputs(self, *, overlay: bool = True) -> dict[str, PurePosixPath]:
        """Picture kind → path relative to the output folder."""
        if self.base is None:
            return {}
        return output_paths(self.base, PICTURE_KINDS if overlay else PICTURE_KINDS[:2])


@dataclass
class BatchSummary:
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    flagged: int = 0
    clean: int = 0
    seconds: float = 0.0
    #: every record now in results.jsonl (earlier runs' records for other inputs first)
    records: list[dict[str, Any]] = field(default_factory=list)
    #: this run's records, one per input item, in input order
    run_records: list[dict[str, Any]] = field(default_factory=list)
    #: results files that could not be written (one line each)
    write_errors: list[str] = field(default_factory=list)
    #: temporary files of a killed run removed from the output folder
    removed_temporaries: int = 0
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        return 0 if self.failed == 0 and not self.write_errors else 2


def _glob_root(pattern: str) -> Path:
    fixed = []
    for part in Path(pattern).parts:
        if _GLOB_CHARS & set(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def expand_inputs(
    inputs: Sequence[str | bytes | os.PathLike], *, out_dir: str | os.PathLike, recursive: bool = False
) -> list[InputItem]:
    """Every input as an :class:`InputItem`, in the order given (folders and globs sorted).

    Raises :class:`InpaintscopeError` for an output folder that would collect its own outputs as
    inputs; every other problem becomes an item with ``error`` set.
    """
    out_res = Path(os.path.realpath(out_dir))
    ours = {Path(os.path.realpath(p)) for p in known_outputs(out_dir)}
    state = out_res / STATE_DIR

    def excluded(f: Path) -> bool:
        real = Path(os.path.realpath(f))
        return real in ours or is_within(real, state)

    found: list[tuple[str, Path | None, str | None]] = []  # file, path, error
    stdin_used = False
    for raw_any in inputs:
        raw = os.fsdecode(raw_any)
        shown = printable(raw)
        if raw == STDIN:
            found.append((STDIN, None, "stdin can be read only once" if stdin_used else None))
            stdin_used = True
            continue
        p = Path(os.path.expanduser(raw))
        if p.is_dir():
            root_res = Path(os.path.realpath(p))
            dest = Path(os.path.realpath(Path(out_dir) / output_base(p)))
            if out_res == root_res or (recursive and is_within(out_res, root_res)):
                where = "the input folder" if out_res == root_res else "inside the input folder"
                raise InpaintscopeError(
                    f"output folder {printable(os.fsdecode(out_dir))} is {where} {shown}; "
                    "choose an output folder outside it (outputs would be read as inputs "
                    "next time)"
                )
            if dest == root_res or (recursive and is_within(dest, root_res)):
                raise InpaintscopeError(
                    f"the outputs of {shown} would be written into {shown} itself "
                    f"({printable(str(dest))}); choose an output folder outside it"
                )
            found.extend(
                (printable(str(f)), f, None) for f in list_image_files(p, recursive=recursive) if not excluded(f)
            )
        elif os.path.lexists(p):
            found.append((shown, p, None))
        elif _GLOB_CHARS & set(raw):
            matches = sorted(Path(m) for m in glob.glob(os.path.expanduser(raw), recursive=True))
            files = [m for m in matches if not m.is_dir()]
            kept = [m for m in files if not excluded(m)]
            if not files:
                found.append((shown, None, f"{shown}: no files match this pattern"))
            elif not kept:
                found.append(
                    (
                        shown,
                        None,
                        f"{shown}: all {len(files)} matching file(s) are outputs an earlier "
                        f"detect run wrote into the output folder {printable(str(out_dir))}; "
                        "outputs are never read as inputs",
                    )
                )
            found.extend((printable(str(m)), m, None) for m in kept)
        else:
            found.append((shown, None, f"{shown}: no such file or folder"))

    items: list[InputItem] = []
    seen: set[Path] = set()
    owners: dict[PurePosixPath, str] = {}
    for file, path, error in found:
        if error is not None or (path is None and file != STDIN):
            items.append(InputItem(file, None, error=error))
            continue
        if path is not None:
            # a file named twice (a folder and a glob over it) is analysed once
            key = Path(os.path.realpath(path))
            if key in seen:
                continue
            seen.add(key)
        base = output_base(path)
        if base in owners:
            items.append(
                InputItem(
                    file,
                    None,
                    error=f"its pictures would be {base}.*.png in the output folder, "
                    f"like those of {owners[base]}; run it into another output "
                    "folder",
                )
            )
            continue
        owners[base] = file
        items.append(InputItem(file, path, base))
    return items


def _line(file: str, message: str) -> str:
    message = printable(message)
    return f"error: {message}" if message.startswith(file) else f"error: {file}: {message}"


def _reusable(
    prev: Mapping[str, Any] | None,
    fingerprint: InputFingerprint,
    *,
    model: str,
    pixel_threshold: float,
    image_threshold: float,
    cues: list[str],
    outputs: Mapping[str, PurePosixPath],
    folder: OutputFolder,
) -> bool:
    """May ``prev`` stand for this run's result (see the module doc)?"""
    return (
        prev is not None
        and prev.get("status") == "ok"
        and fingerprint.matches(prev)
        and prev.get("model") == model
        and prev.get("pixel_threshold") == pixel_threshold
        and prev.get("image_threshold") == image_threshold
        and (prev.get("cues") or []) == cues
        and all(prev.get(k) == str(p) for k, p in outputs.items())
        and folder.verified(prev, outputs)
    )


def _original_href(path: Path, out: Path) -> str | None:
    try:
        return href(os.path.relpath(os.path.abspath(path), out))
    except ValueError:  # another drive (Windows)
        return Path(os.path.abspath(path)).as_uri()


def _settings_sentence(records: Sequence[Mapping[str, Any]], model: str, pixel: float, image: float) -> str:
    text = f"This run: model {model}, pixel threshold {pixel:g}, image threshold {image:g}."
    other = sum(
        1
        for r in records
        if r.get("status") == "ok"
        and (r.get("model"), r.get("pixel_threshold"), r.get("image_threshold")) != (model, pixel, image)
    )
    if other:
        text += (
            f" {other} record(s) kept from earlier runs used another model or other thresholds "
            "(hover a decision to see its own)."
        )
    return text


def run_batch(
    items: Sequence[InputItem],
    out: OutputFolder | str | os.PathLike,
    *,
    model: LoadedModel,
    pixel_threshold: float = DEFAULT_PIXEL_THRESHOLD,
    image_threshold: float = DEFAULT_IMAGE_THRESHOLD,
    cues: Sequence[str] = (),
    tile: int,
    overlap: int,
    overlay: bool = True,
    skip_existing: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    stdin_reader: Callable[[], bytes] | None = None,
    progress: bool | None = None,
    echo: Callable[[str], None] | None = None,
) -> BatchSummary:
    """Detect every item, write its pictures and the results files; never stops on a bad input.

    ``out``: an :class:`OutputFolder` already opened (and locked) by the caller, or a path to
    open here. ``echo`` prints one line per failure (default: stderr, through tqdm so the bar
    stays intact). ``progress``: None shows the bar only on a terminal. A ``tile`` too small for
    ``overlap`` is refused here, before ``out`` is made, not once for every image larger than a tile.
    """
    from tqdm import tqdm

    from .api import detect

    # getattr: any torch module may be loaded, and only Detector declares its size multiple
    check_tile_overlap(tile, overlap, multiple=int(getattr(getattr(model, "detector", None), "size_multiple", 1)))
    folder = out if isinstance(out, OutputFolder) else OutputFolder.open(out)
    try:
        return _run(
            items,
            folder,
            model=model,
            pixel_threshold=pixel_threshold,
            image_threshold=image_threshold,
            cues=list(cues),
            tile=tile,
            overlap=overlap,
            overlay=overlay,
            skip_existing=skip_existing,
            max_pixels=max_pixels,
            stdin_reader=stdin_reader,
            progress=progress,
            echo=echo,
            tqdm=tqdm,
            detect=detect,
        )
    finally:
        if folder is not out:
            folder.close()


def _run(
    items: Sequence[InputItem],
    folder: OutputFolder,
    *,
    model: LoadedModel,
    pixel_threshold: float,
    image_threshold: float,
    cues: list[str],
    tile: int,
    overlap: int,
    overlay: bool,
    skip_existing: bool,
    max_pixels: int,
    stdin_reader: Callable[[], bytes] | None,
    progress: bool | None,
    echo: Callable[[str], None] | None,
    tqdm: Any,
    detect: Callable[..., Any],
) -> BatchSummary:
    if echo is None:

        def echo(msg: str) -> None:
            tqdm.write(msg, file=sys.stderr)

    if stdin_reader is None:

        def stdin_reader() -> bytes:
            return sys.stdin.buffer.read()

    input_files = {Path(os.path.realpath(it.path)) for it in items if it.path is not None and os.path.lexists(it.path)}
    # the records of earlier runs: results.jsonl, then what an unfinished run journalled (newer).
    # A list: two records may share a name (stdin twice), and both are kept
    journalled = {r["file"] for r in folder.unfinished_records}
    earlier = [r for r in read_records(folder.path / RESULTS_JSONL) if r["file"] not in journalled]
    earlier += folder.unfinished_records
    previous: dict[str, dict[str, Any]] = {}  # per name, for --skip-existing: its result, else its error
    for r in earlier:
        if r["file"] not in previous or r["status"] == "ok":
            previous[r["file"]] = r
    by_output = {r[k]: r for r in earlier for k in OUTPUT_KEYS if r.get(k)}

    summary = BatchSummary(removed_temporaries=folder.removed_temporaries)
    start = time.perf_counter()
    # by position, not by name: two inputs can share a name (stdin twice, or names that print
    # alike), and the second one's error must not replace the first one's result
    current: dict[int, dict[str, Any]] = {}
    asked = {
        "model": printable(model.label),
        "pixel_threshold": pixel_threshold,
        "image_threshold": image_threshold,
        "cues": cues,
    }
    try:
        bar = tqdm(
            items, desc="detect", unit="img", file=sys.stderr, disable=None if progress is None else not progress
        )
        for index, item in enumerate(bar):
            t0 = time.perf_counter()
            outputs = item.outputs(overlay=overlay)
            fingerprint: InputFingerprint | None = None
            try:
                if item.error is not None:
                    raise InpaintscopeError(item.error)
                clash = [p for p in outputs.values() if Path(os.path.realpath(folder.path / p)) in input_files]
                if clash:
                    raise InpaintscopeError(
                        f"output {folder.display(clash[0])} would overwrite an input file; choose another output folder"
                    )
                if item.path is None:
                    data = stdin_reader()
                    if not data:
                        raise InpaintscopeError("empty input on stdin (0 bytes)")
                    fingerprint = InputFingerprint.of(data)
                else:
                    data, st = read_file_bytes(item.path)
                    fingerprint = InputFingerprint.of(data, st)
                    prev = previous.get(item.file) or by_output.get(str(outputs["mask"]))
                    if skip_existing and _reusable(prev, fingerprint, outputs=outputs, folder=folder, **asked):
                        current[index] = {**prev, "file": item.file}  # type: ignore[dict-item]
                        summary.skipped += 1
                        continue
                foreign = folder.foreign(outputs.values())
                if foreign:
                    raise OutputWriteError(folder.refusal(foreign[0]))
                rgb = decode_image(data, name=item.file, max_pixels=max_pixels)
                del data
                det = detect(
                    rgb,
                    model=model,
                    pixel_threshold=pixel_threshold,
                    image_threshold=image_threshold,
                    cues=cues,
                    tile=tile,
                    overlap=overlap,
                    max_pixels=max_pixels,
                )
                det.source = item.file
                del rgb
                sums = {}
                for kind, rel in outputs.items():  # mask, heatmap, overlay
                    picture = det.picture(kind)
                    # drop each full-size array as soon as nothing further needs it (peak memory
                    # of 100 MP photos): the mask once drawn, the photo once in the overlay
                    if kind == "mask":
                        det.mask = None  # type: ignore[assignment]
                    elif kind == "overlay":
                        det.image = None
                    png = encode_image(picture, "png")
                    del picture
                    sums[kind] = folder.write(rel, png)
                    del png
                det.image = None
                record = detection_record(
                    item.file,
                    det,
                    outputs={k: str(p) for k, p in outputs.items()},
                    output_sha256=sums,
                    input_fingerprint=fingerprint,
                    seconds=time.perf_counter() - t0,
                )
            except InpaintscopeError as e:
                record = detection_record(
                    item.file, error=str(e), input_fingerprint=fingerprint, seconds=time.perf_counter() - t0, **asked
                )
                echo(_line(item.file, str(e)))
            except (MemoryError, RuntimeError, OSError, ValueError) as e:
                # not the user's fault, but one image must not end a long batch either
                msg = f"internal error ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
                record = detection_record(
                    item.file, error=msg, input_fingerprint=fingerprint, seconds=time.perf_counter() - t0, **asked
                )
                echo(_line(item.file, msg))
            current[index] = record
            folder.journal_record(record)
    except KeyboardInterrupt:
        summary.interrupted = True  # write what is done, then stop

    run_records = [current[i] for i in range(len(items)) if i in current]
    run_files = {r["file"] for r in run_records}
    # the inputs this run reached (in order; the last one perhaps cut short by Ctrl-C): the ones
    # after it keep their earlier records
    rewritten = {str(p) for i, it in enumerate(items) if i <= len(current) for p in it.outputs(overlay=True).values()}
    rewritten |= {r[k] for r in run_records for k in OUTPUT_KEYS if r.get(k)}
    final = [r for r in earlier if r["file"] not in run_files and not any(r.get(k) in rewritten for k in OUTPUT_KEYS)]
    final += run_records
    summary.records, summary.run_records = final, run_records
    for r in run_records:
        if r["status"] == "ok":
            summary.ok += 1
        else:
            summary.failed += 1
    counts = count_decisions(run_records)
    summary.flagged, summary.clean = counts["flagged"], counts["clean"]
    summary.seconds = time.perf_counter() - start

    real_paths = {it.file: it.path for it in items if it.path is not None}
    rows = []
    for r in final:
        pictures = {k: r[k] for k in OUTPUT_KEYS if r.get(k) and os.path.isfile(folder.path / r[k])}
        source = real_paths.get(r["file"]) or (Path(r["file"]) if r["file"] != STDIN else None)
        original = _original_href(source, folder.path) if source is not None and source.is_file() else None
        rows.append(IndexRow(r, original, pictures))
    settings = _settings_sentence(final, asked["model"], pixel_threshold, image_threshold)
    for name, text in (
        (RESULTS_JSONL, lambda: records_jsonl(final)),
        (RESULTS_CSV, lambda: records_csv(final)),
        (INDEX_HTML, lambda: render_index_html(rows, title=printable(folder.path.name), settings=settings)),
    ):
        try:
            folder.write(name, text().encode("utf-8"))
        except OutputWriteError as e:
            summary.write_errors.append(str(e))
    if not summary.write_errors:
        folder.compact()
    if summary.interrupted:
        raise KeyboardInterrupt
    return summary


__all__ = [
    "INDEX_HTML",
    "RECORD_KEYS",
    "RESULTS_CSV",
    "RESULTS_JSONL",
    "STDIN",
    "BatchSummary",
    "InputItem",
    "expand_inputs",
    "run_batch",
]
