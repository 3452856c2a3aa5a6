"""A tiny name -> factory registry shared by masks, inpainters and models.

One registry per kind of component, so a new component is one decorated function and every
registered entry is picked up by the parametrised tests automatically (the timm pattern).

Each kind exposes the same three functions over its registry: ``@register_<kind>(name)``,
``create_<kind>(name, ...)`` (build one) and ``list_<kind>s()`` (sorted names).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from .errors import BadArgumentsError, UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register ``obj`` under ``name`` (a name is registered once)."""

        def deco(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            return obj

        return deco

    def unregister(self, name: str) -> None:
        """Remove ``name`` (no error when it is not registered), e.g. a test's temporary entry."""
        self._entries.pop(name, None)

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}") from None

    def create(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call the factory registered under ``name`` with ``args`` and ``kwargs``.

        Arguments the factory does not take raise :class:`BadArgumentsError` naming the entry and
        the keywords it accepts. The signature is consulted only when the call raises TypeError
        (``create`` runs per mask drawn, so the common path stays a plain call), and a TypeError
        raised inside the factory with valid arguments (a bug, not the user's) surfaces as one.
        """
        factory = self.get(name)
        try:
            return factory(*args, **kwargs)  # type: ignore[operator]
        except TypeError as e:
            try:
                signature = inspect.signature(factory)  # type: ignore[arg-type]
            except (TypeError, ValueError):  # a builtin or C callable without a signature
                raise e from None
            try:
                signature.bind(*args, **kwargs)
            except TypeError as bad:
                raise BadArgumentsError(f"{self.kind} {name!r}: {bad}; {_accepted(signature, len(args))}") from None
            raise

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)


def _accepted(signature: inspect.Signature, n_positional: int) -> str:
    """The keywords a factory takes, for the message (those filled positionally left out)."""
    params = list(signature.parameters.values())
    names = [
        p.name
        for i, p in enumerate(params)
        if p.kind == p.KEYWORD_ONLY or (p.kind == p.POSITIONAL_OR_KEYWORD and i >= n_positional)
    ]
    return f"it accepts: {', '.join(names)}" if names else "it takes no keyword arguments"
