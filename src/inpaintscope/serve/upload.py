"""Receive the image of a request into the request's own temp folder, never past the byte limit.

Two ways to send it: a ``multipart/form-data`` form whose file part is named ``file`` (a form
without one is refused with 400 ``no_file``), or the raw bytes as the body with any other Content-Type.
The body is streamed and counted as it arrives, so an oversized upload is refused (413) after
at most ``max_bytes`` plus one chunk, whether or not the client declared a ``Content-Length``.
Form parts other than the file are read and dropped (they count towards the limit).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .errors import ApiError

#: room for multipart boundaries and part headers on top of the file itself
MULTIPART_OVERHEAD = 64 * 1024
#: name of the received file inside the request's folder
UPLOAD_NAME = "upload"
_UNSAFE = re.compile(r"[^\w.+ -]")


@dataclass(frozen=True)
class Upload:
    """The received file: where it is, its size, and the client's name for it (display only)."""

    path: Path
    size: int
    filename: str


def display_name(raw: str | None) -> str:
    """A client-supplied file name made safe to echo back: base name only, odd characters
    replaced, at most 200 characters; ``upload`` when there is none."""
    if not raw:
        return UPLOAD_NAME
    base = raw.replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE.sub("_", base).strip(" .")[:200]
    return base or UPLOAD_NAME


def too_large(max_bytes: int) -> ApiError:
    return ApiError(
        413,
        "upload_too_large",
        f"upload is larger than the limit of {max_bytes:,} bytes ({max_bytes / 2**20:.1f} MiB); "
        "send a smaller file or start the server with a larger --max-bytes",
    )


def check_declared_length(headers: dict[str, str] | object, *, max_bytes: int, multipart: bool) -> None:
    """413 at once when the declared ``Content-Length`` is already over the limit."""
    raw = headers.get("content-length")  # type: ignore[attr-defined]
    if raw is None:
        return
    try:
        length = int(raw)
    except ValueError:
        raise ApiError(400, "bad_request", f"invalid Content-Length header {raw!r}") from None
    if length > max_bytes + (MULTIPART_OVERHEAD if multipart else 0):
        raise too_large(max_bytes)


class _Counter:
    def __init__(self, limit: int, max_bytes: int) -> None:
        self.limit = limit
        self.max_bytes = max_bytes
        self.total = 0

    def add(self, n: int) -> None:
        self.total += n
        if self.total > self.limit:
            raise too_large(self.max_bytes)


async def receive_raw(chunks: AsyncIterator[bytes], folder: Path, *, max_bytes: int) -> Upload:
    """The body itself is the image."""
    path = folder / UPLOAD_NAME
    counter = _Counter(max_bytes, max_bytes)
    with open(path, "wb") as f:
        async for chunk in chunks:
            counter.add(len(chunk))
            f.write(chunk)
    if counter.total == 0:
        raise ApiError(
            400,
            "empty_upload",
            "empty upload (0 bytes): send the image as the request body or as the 'file' part of a multipart form",
        )
    return Upload(path, counter.total, UPLOAD_NAME)


def _disposition(value: bytes) -> tuple[str | None, str | None]:
    from python_multipart.multipart import parse_options_header

    _, params = parse_options_header(value)
    name = params.get(b"name")
    filename = params.get(b"filename")
    return (
        name.decode("utf-8", "replace") if name is not None else None,
        filename.decode("utf-8", "replace") if filename is not None else None,
    )


async def receive_multipart(chunks: AsyncIterator[bytes], content_type: str, folder: Path, *, max_bytes: int) -> Upload:
    """The image is the form's ``file`` part; a form without one is a 400 ``no_file``."""
    from python_multipart.exceptions import FormParserError
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise ApiError(400, "bad_request", "multipart/form-data without a boundary parameter")
    path = folder / UPLOAD_NAME
    body = _Counter(max_bytes + MULTIPART_OVERHEAD, max_bytes)
    state: dict = {
        "field": b"",
        "value": b"",
        "headers": {},
        "target": False,
        "done": False,
        "filename": None,
        "size": 0,
        "file": None,
        "parts": [],
    }

    def on_part_begin() -> None:
        state["headers"] = {}
        state["target"] = False

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["field"].strip().lower()] = state["value"].strip()
        state["field"] = state["value"] = b""

    def on_headers_finished() -> None:
        name, filename = _disposition(state["headers"].get(b"content-disposition", b""))
        if len(state["parts"]) < 5:  # enough to name them in the error
            state["parts"].append(name)
        # only the part named "file", as documented: a form field that happens to carry a
        # file name (an attachment, a thumbnail) is not the image to analyse
        if not state["done"] and name == "file":
            state["target"] = True
            state["filename"] = filename
            state["file"] = open(path, "wb")  # noqa: SIM115 - stays open across the part's data callbacks

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["target"]:
            state["size"] += end - start
            if state["size"] > max_bytes:
                raise too_large(max_bytes)
            f: IO[bytes] = state["file"]
            f.write(data[start:end])

    def on_part_end() -> None:
        if state["target"]:
            state["file"].close()
            state["file"] = None
            state["target"] = False
            state["done"] = True

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        async for chunk in chunks:
            body.add(len(chunk))
            parser.write(chunk)
        parser.finalize()
    except FormParserError as e:
        raise ApiError(400, "bad_request", f"malformed multipart form ({e})") from None
    finally:
        if state["file"] is not None:
            state["file"].close()
    if not state["done"]:
        names = [display_name(n) if n is not None else "(unnamed)" for n in state["parts"]]
        got = f" (its parts: {', '.join(names)})" if names else " (it has no parts)"
        raise ApiError(
            400, "no_file", f"the multipart form has no part named 'file'{got}: send the image as a part named 'file'"
        )
    if state["size"] == 0:
        raise ApiError(400, "empty_upload", "empty upload (0 bytes) in the form's file part")
    return Upload(path, state["size"], display_name(state["filename"]))


def is_multipart(content_type: str | None) -> bool:
    return bool(content_type) and content_type.split(";", 1)[0].strip().lower() == "multipart/form-data"
