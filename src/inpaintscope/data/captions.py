"""Captions for prompt-conditioned inpainters (the Bochum report prompted Stable Diffusion with COCO captions).

Accepted files (chosen by suffix):

* ``.json``: an object ``{"<key>": "<caption>", ...}``; or a COCO captions annotation file
  (``captions_train2017.json``: ``images`` with ``id``/``file_name``, ``annotations`` with
  ``image_id``/``caption``/``id``), keyed by ``file_name``;
* ``.jsonl``: one ``{"file": "<key>", "caption": "<caption>"}`` object per line;
* ``.csv``: a header row naming the columns ``file`` and ``caption`` (others are ignored).

A key is a source's relative path as the builder names it (``sub/a.jpg``), that path without its
suffix, its file name (``a.jpg``) or its stem (``a``); they are tried in that order.

**First caption.** COCO has about five captions per image and the Bochum report kept "the first" after
an unstable sort, so which one was ill-defined. Here the first is the
annotation with the smallest ``id`` (ties: the earlier in the file); in the other formats a key
given twice keeps its first caption.

The Bochum report: P. Adler, H. Günther, D. Gann, H. Ehringfeld, "Inpainting Detection", student
project report (MPDL project, group 2), Ruhr-Universität Bochum, 2023.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import InpaintscopeError

CAPTION_SUFFIXES = (".json", ".jsonl", ".csv")


class CaptionsError(InpaintscopeError):
    """A captions file that cannot be read, or a photo it has no caption for."""


@dataclass(frozen=True)
class Captions:
    path: str
    digest: str  # blake2b of the file's bytes: what the dataset's build.json records
    by_key: dict[str, str]

    def lookup(self, relpath: str) -> str | None:
        """The caption for the source ``relpath`` (see the module docstring for the key rule)."""
        p = PurePosixPath(relpath.replace("\\", "/"))
        for key in (p.as_posix(), p.with_suffix("").as_posix(), p.name, p.stem):
            if key in self.by_key:
                return self.by_key[key]
        return None

    def caption_for(self, relpath: str) -> str:
        caption = self.lookup(relpath)
        if caption is None:
            raise CaptionsError(
                f"no caption for {relpath!r} in {Path(self.path).name} (keys are matched by "
                "relative path, path without suffix, file name or stem)"
            )
        return caption


def _norm_key(key: Any, where: str) -> str:
    if not isinstance(key, (str, int)) or isinstance(key, bool) or str(key).strip() == "":
        raise CaptionsError(f"{where}: a file key must be a non-empty string, got {key!r}")
    return str(key).strip().replace("\\", "/")


def _norm_caption(caption: Any, where: str) -> str:
    if not isinstance(caption, str):
        raise CaptionsError(f"{where}: a caption must be a string, got {type(caption).__name__}")
    return " ".join(caption.split())  # COCO captions carry stray newlines and double spaces


def _from_coco(data: dict[str, Any], name: str) -> dict[str, str]:
    images, annotations = data.get("images"), data.get("annotations")
    if not isinstance(images, list) or not isinstance(annotations, list):
        raise CaptionsError(f"{name}: a COCO captions file needs 'images' and 'annotations' lists")
    files: dict[Any, str] = {}
    for im in images:
        if not isinstance(im, dict) or "id" not in im or "file_name" not in im:
            raise CaptionsError(f"{name}: every COCO image needs 'id' and 'file_name'")
        files[im["id"]] = _norm_key(im["file_name"], name)
    best: dict[Any, tuple[Any, int, str]] = {}
    for pos, ann in enumerate(annotations):
        if not isinstance(ann, dict) or "image_id" not in ann or "caption" not in ann:
            raise CaptionsError(f"{name}: annotation {pos} needs 'image_id' and 'caption'")
        ann_id = ann.get("id")
        rank = (ann_id if isinstance(ann_id, int) and not isinstance(ann_id, bool) else float("inf"), pos)
        if ann["image_id"] not in best or rank < best[ann["image_id"]][:2]:
            best[ann["image_id"]] = (*rank, _norm_caption(ann["caption"], f"{name}: annotation {pos}"))
    return {files[i]: cap for i, (_, _, cap) in best.items() if i in files}


def _add(out: dict[str, str], key: Any, caption: Any, where: str) -> None:
    key = _norm_key(key, where)
    out.setdefault(key, _norm_caption(caption, where))


def _parse(path: Path, raw: bytes) -> dict[str, str]:
    name = path.name
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CaptionsError(f"{name}: not UTF-8 text") from None
    suffix = path.suffix.lower()
    out: dict[str, str] = {}
    if suffix == ".json":
        try:
            data = json.loads(text)
        except ValueError as e:
            raise CaptionsError(f"{name}: not valid JSON ({e})") from None
        if not isinstance(data, dict):
            raise CaptionsError(f"{name}: expected a JSON object mapping file → caption, or COCO annotations")
        if "annotations" in data:
            return _from_coco(data, name)
        for key, caption in data.items():
            _add(out, key, caption, f"{name}: key {key!r}")
    elif suffix == ".jsonl":
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as e:
                raise CaptionsError(f"{name}:{n}: not valid JSON ({e})") from None
            if not isinstance(row, dict) or "file" not in row or "caption" not in row:
                raise CaptionsError(f"{name}:{n}: each line must be an object with 'file' and 'caption'")
            _add(out, row["file"], row["caption"], f"{name}:{n}")
    elif suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames or not {"file", "caption"} <= set(reader.fieldnames):
            raise CaptionsError(f"{name}: the first row must name the columns 'file' and 'caption'")
        for n, row in enumerate(reader, 2):
            _add(out, row["file"], row["caption"] or "", f"{name}:{n}")
    else:
        raise CaptionsError(f"{name}: captions must be a {', '.join(CAPTION_SUFFIXES)} file")
    return out


def load_captions(path: str | Path) -> Captions:
    """Read a captions file (cached per path, size and modification time for this process)."""
    p = Path(path).expanduser().resolve()
    try:
        st = p.stat()
    except OSError:
        raise CaptionsError(f"captions file not found: {path}") from None
    if not p.is_file():
        raise CaptionsError(f"captions file is not a file: {path}")
    return _load(str(p), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _load(path: str, size: int, mtime_ns: int) -> Captions:
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise CaptionsError(f"cannot read captions file {path}: {e.strerror or e}") from None
    by_key = _parse(Path(path), raw)
    if not by_key:
        raise CaptionsError(f"{Path(path).name}: holds no captions")
    return Captions(path=path, digest=hashlib.blake2b(raw, digest_size=16).hexdigest(), by_key=by_key)
