"""JSON records read back from disk (a run's settings, a pipeline's config): one object per file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import InpaintscopeError


def read_json_object(path: str | Path, *, hint: str = "") -> dict[str, Any]:
    """The JSON object in ``path``, or a one-line :class:`InpaintscopeError` naming the file
    (``hint``, e.g. ``"; move it away and run again"``, is appended to say what to do)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InpaintscopeError(f"{path}: not readable JSON ({e}){hint}") from None
    if not isinstance(data, dict):
        raise InpaintscopeError(f"{path}: expected a JSON object{hint}")
    return data
