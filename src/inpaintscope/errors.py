"""Errors a user can cause. The CLI prints their message as one line, never a traceback."""


class InpaintscopeError(Exception):
    """Base class for errors that are the user's to fix (bad input, bad option, missing file)."""


class UnknownNameError(InpaintscopeError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ImageReadError(InpaintscopeError):
    """A file or buffer that is not a readable image (corrupt, truncated, empty, too large...)."""


class ShapeError(InpaintscopeError, ValueError):
    """An array of the wrong shape or dtype for the data contract."""


class MissingDependencyError(InpaintscopeError, ImportError):
    """An optional extra is not installed; the message says which `pip install` fixes it."""


class MissingWeightsError(InpaintscopeError, FileNotFoundError):
    """Weights the user must provide (we never download any) are not where they said."""
