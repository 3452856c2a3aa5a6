"""File names as text that every output can take.

POSIX names are bytes; Python shows undecodable bytes as lone surrogates (``os.fsdecode``), which
cannot be encoded as UTF-8 or written to JSON. And a name may hold a newline or a terminal escape,
which would break (or forge) the one-line messages of the commands. :func:`printable` is the one
form in which datasets, results and messages name a file.
"""

from __future__ import annotations

import os
import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str | bytes | os.PathLike) -> str:
    """``text`` (a path, possibly with undecodable bytes) as valid UTF-8 text on one line.

    Bytes that are not UTF-8 and control characters (C0, DEL, C1) become ``\\xNN`` (a backslash,
    ``x`` and two hex digits); every other name comes back as it is."""
    if isinstance(text, (bytes, os.PathLike)):
        text = os.fsdecode(text)
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # lone surrogates that do not come from a file name
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    else:
        text = raw.decode("utf-8", "backslashreplace")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
