"""What every ``inpaintscope`` command shares: the user-error convention and option parsing.

The convention: a user's mistake (an :class:`~inpaintscope.errors.InpaintscopeError` raised by
the library, or a :class:`UserError` raised by a command) prints ``error: <one line>`` on
stderr and exits with code 2, never a traceback; a warning prints ``warning: <one line>``.
The command group applies it to every subcommand (:func:`user_errors`, used by
:class:`inpaintscope.cli.main.LazyGroup`), so commands just raise and warn.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import click

from ..errors import InpaintscopeError


class UserError(click.ClickException):
    """A user's mistake: ``error: <message>`` on stderr, exit code 2 (also under CliRunner).

    ``exit_code=1`` marks a run that did its work but could not do all of it (e.g. failed
    samples), as opposed to a refused command."""

    exit_code = 2

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    def format_message(self) -> str:
        return f"error: {self.message}"

    def show(self, file: Any = None) -> None:
        click.echo(self.format_message(), err=True, file=file)


class OutputPath(click.Path):
    """``click.Path`` for what a command writes. An empty value is refused: it would silently mean
    the current folder (and its outputs land beside the user's files)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, (str, bytes)) and not value:
            self.fail("is empty; name the folder or file to write to", param, ctx)
        return super().convert(value, param, ctx)


@contextlib.contextmanager
def warnings_as_lines() -> Iterator[None]:
    """Show each warning (deprecated config keys, too little calibration data...) as one
    ``warning: <message>`` line on stderr instead of Python's file:line format."""

    def show(message: Warning | str, *args: Any, **kwargs: Any) -> None:
        click.echo(f"warning: {message}", err=True)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn library errors into :class:`UserError` and warnings into lines (the group's handler)."""
    with warnings_as_lines():
        try:
            yield
        except InpaintscopeError as e:
            raise UserError(str(e)) from None


def comma_list(text: str | None) -> list[str] | None:
    """``"a, b,"`` → ``["a", "b"]``; None or empty → None (the option was not given)."""
    items = [t.strip() for t in (text or "").split(",") if t.strip()]
    return items or None


class FractionRange(click.ParamType):
    """An option value ``lo,hi`` of two numbers, e.g. a hole-area range ``0.05,0.3``."""

    name = "lo,hi"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[float, float]:
        if isinstance(value, tuple):
            return value
        try:
            lo, hi = (float(v) for v in str(value).split(","))
        except ValueError:
            self.fail(f"{value!r} is not 'lo,hi' (two fractions, e.g. 0.05,0.3)", param, ctx)
        return lo, hi
