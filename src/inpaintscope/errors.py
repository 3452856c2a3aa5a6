"""Errors a user can cause. The CLI prints their message as one line, never a traceback."""


def one_line(error: BaseException | str, *, last: bool = False) -> str:
    """One line of an error message, for messages shown as one line: the first line (torch and
    safetensors write paragraphs), or with ``last`` the last one (OpenCV ends with the specific
    line, after source paths); at most 300 characters. The exception's type name when it says
    nothing."""
    text = str(error).strip()
    line = text.splitlines()[-1 if last else 0].strip() if text else ""
    if not line and isinstance(error, BaseException):
        line = type(error).__name__
    return line if len(line) <= 300 else line[:297] + "..."


class InpaintscopeError(Exception):
    """Base class for errors that are the user's to fix (bad input, bad option, missing file)."""


class UnknownNameError(InpaintscopeError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class BadArgumentsError(InpaintscopeError, TypeError):
    """Arguments a component (model, inpainter, mask generator) does not take, e.g. a keyword
    misspelt in ``--set model_kwargs.KEY=VALUE``; the message lists the ones it accepts."""


class ImageReadError(InpaintscopeError):
    """A file or buffer that is not a readable image (corrupt, truncated, empty, too large...)."""


class ShapeError(InpaintscopeError, ValueError):
    """An array of the wrong shape or dtype for the data contract."""


class MissingDependencyError(InpaintscopeError, ImportError):
    """An optional extra that a whole feature needs (``serve``, ``diffusers``) is not installed; the
    message ends with :func:`install_hint`. A single input that needs one (a HEIC photo) is an
    :class:`ImageReadError` with the same hint instead, so a batch goes on past it."""


def install_hint(extra: str) -> str:
    """The one way every message says how to install an optional extra."""
    return f'pip install "inpaintscope[{extra}]"'


class MissingWeightsError(InpaintscopeError, FileNotFoundError):
    """Weights the user must provide (we never download any) are not where they said."""
