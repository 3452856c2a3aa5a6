"""The output folder of a detect run: where each input's pictures go, which files are ours, one
run at a time, and a journal that survives ``kill -9`` and a full disk.

* **Names** are a function of the input path alone (:func:`output_base`): the input's path
  relative to the current folder (or, outside it, its absolute path without the root) is
  mirrored below the output folder and the picture kind appended:
  ``photos/2024/a.jpg`` → ``OUT/photos/2024/a.jpg.mask.png`` (``.heatmap.png``, ``.overlay.png``).
  Stdin is ``OUT/stdin.*.png``.
* **One run at a time**: :meth:`OutputFolder.open` takes an exclusive lock on
  ``OUT/.inpaintscope/lock`` (released by the OS even when the process is killed); a second run
  is refused with the first one's pid.
* **Ours only**: before a file is written, its path and content hash are appended to
  ``OUT/.inpaintscope/journal.jsonl``; a file that exists where a picture or results file would go
  and that the journal (or an earlier results.jsonl) does not list was made by someone else, and
  one whose content is none that detect wrote there was changed by someone since (an analyst's
  notes in results.csv, an overlay painted on): neither is ever overwritten.
* **Complete files only**: every file is written atomically (temporary sibling, then rename); a
  journal line that cannot be written whole (disk full) is cut back, so the journal holds complete
  lines only. Temporary files left by a killed run are removed by the next one.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import InpaintscopeError
from ..io.atomic import TMP_PREFIX, atomic_write_bytes
from ..io.names import printable
from ..io.outputs import first_existing
from .report import normalise_record, read_records

RESULTS_JSONL = "results.jsonl"
RESULTS_CSV = "results.csv"
INDEX_HTML = "index.html"
RESULTS_FILES = (RESULTS_JSONL, RESULTS_CSV, INDEX_HTML)
STATE_DIR = ".inpaintscope"
LOCK_FILE = "lock"
JOURNAL = "journal.jsonl"
STDIN_BASE = PurePosixPath("stdin")
#: the temporary files our atomic writes create (mkstemp: prefix, 8 random characters, suffix)
_TMP_NAME = re.compile(re.escape(TMP_PREFIX) + r"[a-z0-9_]{8}\.(png|jsonl|csv|html)$")


class OutputFolderError(InpaintscopeError):
    """The output folder cannot be used (not a folder, not writable, in use, holds someone's files)."""


class OutputWriteError(InpaintscopeError):
    """A file could not be written into the output folder (disk full, permissions...)."""


def output_base(path: str | os.PathLike | None, *, cwd: str | os.PathLike | None = None) -> PurePosixPath:
    """Where the pictures of input ``path`` go, relative to the output folder, without the
    ``.<kind>.png`` ending (``None``: stdin). See the module doc."""
    if path is None:
        return STDIN_BASE
    here = Path(os.path.abspath(cwd if cwd is not None else os.getcwd()))
    absolute = Path(os.path.normpath(here / os.fsdecode(path)))  # lexical: a symlinked folder keeps its name
    try:
        rel = absolute.relative_to(here)
    except ValueError:
        rel = absolute.relative_to(absolute.anchor)
        if absolute.drive:  # Windows: keep the drive as a folder (C: → C)
            rel = Path(absolute.drive.rstrip(":\\/")) / rel
    return PurePosixPath(*(printable(p) for p in rel.parts))


def output_paths(base: PurePosixPath, kinds: Iterable[str]) -> dict[str, PurePosixPath]:
    """``{kind: base.<kind>.png}``, relative to the output folder."""
    return {k: base.parent / f"{base.name}.{k}.png" for k in kinds}


def file_sha256(path: str | os.PathLike) -> str | None:
    """SHA-256 of a regular file's content, or None when it is missing or unreadable."""
    h = hashlib.sha256()
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None
    return h.hexdigest()


def _why(e: OSError) -> str:
    return e.strerror or type(e).__name__


def _looks_like_ours(name: str, path: Path) -> bool:
    """A results file an inpaintscope detect run wrote (one without a journal, e.g. an older version)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096).decode("utf-8", "replace")
    except OSError:
        return False
    if name == INDEX_HTML:
        return "<title>inpaintscope detect" in head
    if name == RESULTS_CSV:
        return head.startswith("file,status,error,")
    first = head.splitlines()[0] if head.strip() else ""
    try:
        obj = json.loads(first) if first else {}
    except json.JSONDecodeError:
        return False
    return (isinstance(obj, dict) and "file" in obj and obj.get("status") in ("ok", "error")) or not head.strip()


def known_outputs(out_dir: str | os.PathLike) -> set[Path]:
    """Absolute paths of the files earlier detect runs wrote into ``out_dir`` (read-only peek, no
    lock): what input expansion must never read as inputs."""
    out = Path(os.path.abspath(out_dir))
    journal, records = _read_journal(out / STATE_DIR / JOURNAL)
    rels = set(journal)
    for rec in [*read_records(out / RESULTS_JSONL), *records]:
        rels.update(rec[k] for k in ("mask", "heatmap", "overlay") if _inside_folder(rec.get(k)))
    return {out / r for r in rels} | {out / n for n in RESULTS_FILES}


_CHANGED = "was changed since inpaintscope detect wrote it"


_PNG_START, _PNG_END = b"\x89PNG\r\n\x1a\n", b"\x00\x00\x00\x00IEND\xaeB`\x82"


def _whole_png(path: Path) -> bool:
    """Does ``path`` start and end like a PNG file (signature, IEND chunk)?"""
    try:
        with open(path, "rb") as f:
            start = f.read(len(_PNG_START))
            f.seek(0, os.SEEK_END)
            if f.tell() < len(_PNG_START) + len(_PNG_END):
                return False
            f.seek(-len(_PNG_END), os.SEEK_END)
            return start == _PNG_START and f.read() == _PNG_END
    except OSError:
        return False


def _inside_folder(rel: object) -> bool:
    """A relative path that stays inside the output folder (a tampered journal must not point out)."""
    if not isinstance(rel, str) or not rel:
        return False
    p = PurePosixPath(rel)
    return not p.is_absolute() and ".." not in p.parts and not Path(rel).is_absolute()


def _read_journal(path: Path) -> tuple[dict[str, set[str]], list[dict[str, Any]]]:
    """(path → sha256 of every version written there, records of finished images) from the journal."""
    wrote: dict[str, set[str]] = {}
    records: list[dict[str, Any]] = []
    try:
        text = path.read_bytes().decode("utf-8", "replace")
    except OSError:
        return wrote, records
    for line in text.splitlines():
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a crash is simply not there
        if not isinstance(obj, dict):
            continue
        if _inside_folder(obj.get("wrote")):
            versions = wrote.setdefault(obj["wrote"], set())
            if isinstance(obj.get("sha256"), str):
                versions.add(obj["sha256"])
        elif isinstance(obj.get("record"), dict) and isinstance(obj["record"].get("file"), str):
            records.append(normalise_record(obj["record"]))
    return wrote, records


def _cut_partial_line(path: Path) -> None:
    """Cut a last journal line that a killed write left without its newline: the next run's
    first line would be glued to it and lost, and a file it wrote would then look changed by
    someone (the journal lacking its hash)."""
    try:
        with open(path, "rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)
    except FileNotFoundError:
        pass


def _lock_fd(fd: int) -> bool:
    """Try to take an exclusive lock on ``fd`` without waiting; True when taken."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


class OutputFolder:
    """An output folder opened for one run: validated, created, locked and journalled.

    Use :meth:`open` (or ``with OutputFolder.open(path) as folder``); :meth:`close` releases the lock.
    """

    def __init__(self, path: Path, lock_fd: int, journal_fd: int, *, shown: str | None = None) -> None:
        self.path = path
        #: the folder as the user named it (for messages)
        self.shown = shown if shown is not None else printable(str(path))
        self._lock_fd = lock_fd
        self._journal_fd = journal_fd
        self.state = path / STATE_DIR
        #: relative path → sha256 of every version a detect run wrote there (empty: ours, content
        #: not recorded). A killed run may have journalled a version it never put in place, so the
        #: file may hold any of them.
        self.owned: dict[str, set[str]] = {}
        #: records journalled by an earlier run that did not finish (newest last)
        self.unfinished_records: list[dict[str, Any]] = []
        #: temporary files of killed runs removed when the folder was opened
        self.removed_temporaries = 0

    # ---- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike) -> OutputFolder:
        """Validate ``path`` as an output folder, create it, lock it and read its journal.

        Every problem is an :class:`OutputFolderError` with one line saying what to do.
        """
        out = Path(os.path.abspath(os.fsdecode(path)))
        shown = printable(os.fsdecode(path))
        if os.path.islink(out) and not out.exists():
            raise OutputFolderError(
                f"output folder {shown} is a symbolic link to {printable(os.readlink(out))}, "
                "which does not exist; remove the link or point it at a folder"
            )
        try:
            out.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            blocker = first_existing(Path(os.fsdecode(path)))
            what = "a file is in the way" if blocker.is_dir() else f"{printable(str(blocker))} is a file, not a folder"
            raise OutputFolderError(f"cannot create output folder {shown}: {what}") from None
        except OSError as e:
            raise OutputFolderError(f"cannot create output folder {shown}: {_why(e)}") from None
        state = out / STATE_DIR
        created_state = not os.path.lexists(state)
        try:
            state.mkdir(exist_ok=True)
            lock_fd = os.open(state / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
        except (FileExistsError, NotADirectoryError):
            raise OutputFolderError(
                f"{printable(os.path.join(shown, STATE_DIR))} is a file, not inpaintscope's "
                "state folder; move it away or choose another output folder"
            ) from None
        except OSError as e:
            raise OutputFolderError(
                f"output folder {shown} is not writable ({_why(e)}); choose another output folder"
            ) from None
        if not _lock_fd(lock_fd):
            try:
                other = os.read(lock_fd, 64).decode("ascii", "replace").strip() or "unknown"
            finally:
                os.close(lock_fd)
            raise OutputFolderError(
                f"output folder {shown} is in use by another inpaintscope detect run "
                f"(pid {other}); wait for it to finish or choose another output folder"
            )
        try:
            os.ftruncate(lock_fd, 0)
            os.lseek(lock_fd, 0, os.SEEK_SET)
            os.write(lock_fd, f"{os.getpid()}\n".encode())
            _cut_partial_line(state / JOURNAL)
            journal_fd = os.open(state / JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        except OSError as e:
            os.close(lock_fd)
            raise OutputFolderError(
                f"output folder {shown} is not writable ({_why(e)}); choose another output folder"
            ) from None
        folder = cls(out, lock_fd, journal_fd, shown=shown)
        try:
            folder._load()
        except BaseException:
            folder.close()
            if created_state:  # refused before writing anything: leave the folder as we found it
                for name in (JOURNAL, LOCK_FILE):
                    with contextlib.suppress(OSError):
                        os.unlink(state / name)
                with contextlib.suppress(OSError):
                    state.rmdir()
            raise
        return folder

    def display(self, rel: str | PurePosixPath) -> str:
        """``OUT/rel`` as the user named the folder."""
        return printable(os.path.join(self.shown, str(rel)))

    def _load(self) -> None:
        self.owned, self.unfinished_records = _read_journal(self.state / JOURNAL)
        for rec in read_records(self.path / RESULTS_JSONL):
            for k in ("mask", "heatmap", "overlay"):
                if _inside_folder(rec.get(k)):
                    sha = (rec.get("output_sha256") or {}).get(k)
                    self.owned.setdefault(rec[k], set()).update([sha] if isinstance(sha, str) else [])
        for name in RESULTS_FILES:
            p = self.path / name
            if not os.path.lexists(p):
                continue
            if p.is_dir():
                raise OutputFolderError(
                    f"{self.display(name)} is a folder; move it away or choose another output folder"
                )
            if not p.is_file():
                raise OutputFolderError(
                    f"{self.display(name)} is not a regular file; move it away or choose another output folder"
                )
            if name not in self.owned:
                if not _looks_like_ours(name, p):
                    raise OutputFolderError(
                        f"{self.display(name)} exists and was not written by inpaintscope "
                        "detect; move it away or choose another output folder"
                    )
                self.owned[name] = set()
            elif self._changed(name):
                raise OutputFolderError(
                    f"{self.display(name)} {_CHANGED}; move it away or choose another output folder"
                )
        self.removed_temporaries = self._remove_temporaries()

    def _remove_temporaries(self) -> int:
        """Delete the temporary files a killed run left in the folders this tool writes to."""
        folders = {self.path, self.state} | {(self.path / rel).parent for rel in self.owned}
        removed = 0
        for d in folders:
            try:
                names = os.listdir(d)
            except OSError:
                continue
            for name in names:
                if _TMP_NAME.match(name):
                    with contextlib.suppress(OSError):
                        os.unlink(d / name)
                        removed += 1
        return removed

    # ---- writing -------------------------------------------------------------------------

    def _append(self, obj: Mapping[str, Any]) -> None:
        """Append one complete journal line, or nothing (a partial line is cut back)."""
        data = (json.dumps(obj, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
        end = os.lseek(self._journal_fd, 0, os.SEEK_END)
        try:
            written = os.write(self._journal_fd, data)
            if written != len(data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self._journal_fd, end)
            raise

    def foreign(self, rel_paths: Iterable[str | PurePosixPath]) -> list[str]:
        """Those of ``rel_paths`` that exist but were not written by this tool, or were changed
        since (never overwrite them)."""
        out = []
        for rel in rel_paths:
            rel = str(rel)
            if os.path.lexists(self.path / rel) and (rel not in self.owned or self._changed(rel)):
                out.append(rel)
        return out

    def _changed(self, rel: str) -> bool:
        """Does our file ``rel`` hold content that someone made since a detect run wrote it?

        A picture that is no longer a whole PNG (emptied, cut short) was damaged, not made: it
        is redone like a missing one."""
        versions = self.owned.get(rel)
        if not versions or file_sha256(self.path / rel) in versions:
            return False
        return not rel.endswith(".png") or _whole_png(self.path / rel)

    def refusal(self, rel: str | PurePosixPath) -> str:
        """Why :meth:`foreign` lists ``rel``, as the start of an error line."""
        why = _CHANGED if str(rel) in self.owned else "exists and was not written by inpaintscope detect"
        return f"{self.display(rel)} {why}; not overwritten (move it away or choose another output folder)"

    def write(self, rel: str | PurePosixPath, data: bytes) -> str:
        """Write ``data`` to ``OUT/rel`` atomically, journalled first; returns its sha256.

        Refuses (:class:`OutputWriteError`) a path that holds someone else's file; any OS error
        (disk full, permissions) becomes an :class:`OutputWriteError` naming the file.
        """
        rel = str(rel)
        if self.foreign([rel]):
            raise OutputWriteError(self.refusal(rel))
        sha = hashlib.sha256(data).hexdigest()
        try:
            self._append({"wrote": rel, "sha256": sha})
            self.owned.setdefault(rel, set()).add(sha)  # journalled: ours even if the write below fails
            atomic_write_bytes(self.path / rel, data)
            self.owned[rel] = {sha}  # in place: the earlier versions are gone (compact need not hash it)
        except OSError as e:
            raise OutputWriteError(f"cannot write {self.display(rel)}: {_why(e)}") from None
        return sha

    def journal_record(self, record: Mapping[str, Any]) -> bool:
        """Journal a finished image's record (what a resume after a crash reads); False when the
        disk would not take it (the record still goes into the results files at the end)."""
        try:
            self._append({"record": dict(record)})
            return True
        except OSError:
            return False

    def verified(self, record: Mapping[str, Any], kinds: Iterable[str]) -> bool:
        """True when every picture ``kinds`` of ``record`` exists with the content it recorded."""
        sums = record.get("output_sha256")
        if not isinstance(sums, dict):
            return False
        for kind in kinds:
            rel = record.get(kind)
            if not _inside_folder(rel) or not sums.get(kind) or file_sha256(self.path / rel) != sums[kind]:
                return False
        return True

    def compact(self) -> None:
        """Rewrite the journal as the list of files we wrote that still exist (after the results
        files hold every record)."""
        lines = []
        for rel, versions in sorted(self.owned.items()):
            if not os.path.lexists(self.path / rel):
                continue
            if len(versions) > 1:  # a killed run's versions: keep the one in place, all if someone changed it
                now = file_sha256(self.path / rel)
                versions = {now} if now in versions else versions
            shas: list[str | None] = sorted(versions) or [None]
            lines += [json.dumps({"wrote": rel, "sha256": sha}, ensure_ascii=False) + "\n" for sha in shas]
        try:
            atomic_write_bytes(self.state / JOURNAL, "".join(lines).encode("utf-8"))
        except OSError:
            return  # the longer journal is still correct
        os.close(self._journal_fd)
        self._journal_fd = os.open(self.state / JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        self.unfinished_records = []

    def close(self) -> None:
        """Release the lock (the lock file stays: deleting it would race with the next run)."""
        for fd in (self._journal_fd, self._lock_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._journal_fd = self._lock_fd = -1

    def __enter__(self) -> OutputFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = [
    "INDEX_HTML",
    "JOURNAL",
    "RESULTS_CSV",
    "RESULTS_FILES",
    "RESULTS_JSONL",
    "STATE_DIR",
    "OutputFolder",
    "OutputFolderError",
    "OutputWriteError",
    "file_sha256",
    "known_outputs",
    "output_base",
    "output_paths",
]
