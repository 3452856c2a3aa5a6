"""``inpaintscope serve``: detection over HTTP, and a web page for analysts.

:func:`create_app` builds the FastAPI application (see :mod:`.app` for the endpoints and error
codes); :mod:`.limits` says what a request may be, :mod:`.pool` how many run at once,
:mod:`.upload` how a body is received, :mod:`.records` what the answer holds. FastAPI, uvicorn
and python-multipart come with the ``serve`` extra; :func:`require_serve_extra` says how to get
them when they are missing.
"""

from __future__ import annotations

import importlib.util

from ..errors import MissingDependencyError, install_hint

INSTALL_HINT = install_hint("serve")
_REQUIRED = ("fastapi", "uvicorn", "python_multipart")


def require_serve_extra() -> None:
    """Raise :class:`MissingDependencyError` (one line, with the install command) when a
    package of the ``serve`` extra is missing."""
    missing = [m for m in _REQUIRED if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingDependencyError(f"inpaintscope serve needs {', '.join(missing)}: {INSTALL_HINT}")


def create_app(**kwargs):  # noqa: ANN201 - FastAPI is optional, so no annotation that imports it
    """See :func:`inpaintscope.serve.app.create_app`."""
    require_serve_extra()
    from .app import create_app as build

    return build(**kwargs)


__all__ = ["INSTALL_HINT", "create_app", "require_serve_extra"]
