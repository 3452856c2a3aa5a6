"""Checks on where a command will write, made before it computes anything.

A bad output path must fail in a second with one line, not with a raw ``PermissionError``
after minutes of work, and nothing a user made may be overwritten. These checks are shared by
every command that writes a file (``calibrate -o``, ``Detection.save``) or a folder
(``train --out``, ``evaluate --out``).

Writability is probed by creating (and removing) a temporary file: ``os.access`` says yes to
root even where every write fails (``/sys``, read-only mounts).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import InpaintscopeError
from .atomic import TMP_PREFIX


class OutputPathError(InpaintscopeError):
    """An output path that cannot be used: a file where a folder is needed, an existing file that
    would be overwritten, or a place that cannot be written."""


def first_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (a dangling link counts). When that is not a
    folder, it is what stands in the way of making ``path``: nothing below a file exists."""
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(path.anchor or ".")


def is_within(path: Path, root: Path) -> bool:
    """Whether ``path`` is ``root`` or lies below it, comparing names only: resolve both first
    (``os.path.realpath``) to see through links and ``..``."""
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def check_output_folder(folder: str | os.PathLike, *, option: str = "--out", create: bool = False) -> Path:
    """``folder`` as a :class:`Path`, after checking that it is (or can become) a writable folder.

    Refuses a path that is a file or lies below a file, and one where no file can be created.
    A missing folder is created for the probe and removed again unless ``create``, so a command
    that fails later for another reason leaves nothing behind.
    """
    folder = Path(folder)
    shown = os.fsdecode(folder)
    existing = first_existing(folder.absolute())
    if existing.exists() and not existing.is_dir():
        where = "is a file" if existing == folder.absolute() else f"is inside {os.fsdecode(existing)}, which is a file"
        raise OutputPathError(f"{shown} {where}, not a folder; choose another {option}")
    missing, part = [], folder.absolute()
    while part != existing:
        missing.append(part)
        part = part.parent
    made: list[Path] = []
    try:
        for part in reversed(missing):
            try:
                os.mkdir(part)
            except FileExistsError:
                if not part.is_dir():
                    raise
                continue  # another process (a rank of the same run) made it meanwhile: not ours to remove
            made.append(part)
        fd, probe = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=".probe", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise OutputPathError(
            f"cannot write into {shown} ({e.strerror or e}); choose another {option} or fix its permissions"
        ) from None
    finally:
        if not create:
            for part in reversed(made):
                with contextlib.suppress(OSError):
                    os.rmdir(part)
    return folder


def check_new_file(
    path: str | os.PathLike, *, option: str = "-o", companions: Iterable[str | os.PathLike] = ()
) -> Path:
    """``path`` as a :class:`Path`, after checking that it (and each of ``companions``, files
    written beside it such as a checkpoint's ``.json`` description) does not exist yet and that
    its folder is writable. Existing files are never overwritten: the message says to choose
    another ``option``."""
    path = Path(path)
    shown = os.fsdecode(path)
    if path.is_dir():
        raise OutputPathError(f"{shown} is a folder; give {option} a file name to write, e.g. {shown}/out.safetensors")
    for target in (path, *(Path(c) for c in companions)):
        if os.path.lexists(target):
            what = "" if target == path else f" (written with {shown})"
            raise OutputPathError(
                f"{os.fsdecode(target)}{what} already exists and is never overwritten; "
                f"choose another {option} or move that file away"
            )
    check_output_folder(path.parent, option=option)
    return path


def visible_entries(folder: str | os.PathLike) -> list[str]:
    """The sorted names in ``folder`` that a person put or sees there: hidden names (dot files,
    our ``.tmp-*`` partial writes) left out. Empty for a missing folder."""
    try:
        return sorted(n for n in os.listdir(folder) if not n.startswith("."))
    except (FileNotFoundError, NotADirectoryError):
        return []


def check_fresh_folder(
    folder: str | os.PathLike, *, option: str = "--out", ours: Callable[[Path], bool] | None = None
) -> Path:
    """``folder`` for a new run: writable (:func:`check_output_folder`) and either empty (hidden
    files aside) or recognised by ``ours`` as one of our own unfinished runs, so the files a run
    writes (``config.yaml``, ``metrics.jsonl``, pictures...) never replace someone else's."""
    folder = check_output_folder(folder, option=option)
    names = visible_entries(folder)
    if names and (ours is None or not ours(folder)):
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        raise OutputPathError(
            f"{os.fsdecode(folder)} is not empty ({shown}) and is not a run folder of ours; its files "
            f"are never overwritten: choose a new or empty {option}"
        )
    return folder
