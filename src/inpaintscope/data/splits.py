"""Train/val/test splits by source photo.

A photo goes to exactly one split, so its samples (several masks, inpainters and modes of the
same picture) never leak between training and evaluation. Two ways to say the split:

* proportions ``train=0.8,val=0.1,test=0.1``: sources are ordered by a seeded hash of their
  relative path and cut into consecutive runs whose sizes follow the proportions by the
  largest-remainder rule (so 10 photos at 0.8/0.1/0.1 give exactly 8/1/1). The assignment of a
  photo depends only on the seed and the set of relative paths;
* a file listing ``relpath split`` per line (whitespace, comma or tab separated, ``#``
  comments), for a split decided elsewhere (e.g. BSDS500's official one). Sources not listed
  are left out and only counted (a test-only list over a big photo folder would otherwise
  bury the real skip reasons under thousands of "not listed" lines). A file name that is not
  UTF-8 is listed in its printable form (:func:`~inpaintscope.io.printable`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InpaintscopeError
from ..io import printable
from .sources import stable_hash

_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
DEFAULT_SPLIT = "train=0.8,val=0.1,test=0.1"


class SplitSpecError(InpaintscopeError):
    """A ``--split`` value that is neither valid proportions nor a readable split file."""


@dataclass(frozen=True)
class SplitSpec:
    """Either ``proportions`` (name -> fraction, summing to 1) or an explicit ``assignment``."""

    proportions: tuple[tuple[str, float], ...] = ()
    assignment: dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        if self.proportions:
            return [n for n, _ in self.proportions]
        return sorted(set(self.assignment.values()))

    def describe(self) -> dict:
        if self.proportions:
            return {"proportions": {n: p for n, p in self.proportions}}
        return {"file": {k: self.assignment[k] for k in sorted(self.assignment)}}


def parse_split(spec: str | os.PathLike) -> SplitSpec:
    """Parse ``train=0.8,val=0.1,test=0.1`` (weights are normalised to sum 1) or a split file."""
    text = os.fspath(spec).strip()
    if "=" not in text:
        path = Path(text).expanduser()
        if not path.is_file():
            raise SplitSpecError(
                f"--split {text!r} is neither name=fraction pairs "
                "(e.g. train=0.8,val=0.1,test=0.1) nor an existing split file"
            )
        return _parse_split_file(path)
    parts = [p.strip() for p in text.split(",") if p.strip()]
    props: list[tuple[str, float]] = []
    for part in parts:
        name, _, value = part.partition("=")
        name = name.strip()
        if not _NAME.match(name):
            raise SplitSpecError(f"split name {name!r} must be letters, digits, '_' or '-' (in {text!r})")
        if name in dict(props):
            raise SplitSpecError(f"split {name!r} appears twice in {text!r}")
        try:
            frac = float(value)
        except ValueError:
            raise SplitSpecError(f"split {name!r} has fraction {value.strip()!r}, not a number (in {text!r})") from None
        if not frac >= 0 or frac == float("inf"):
            raise SplitSpecError(f"split {name!r} has fraction {frac}; fractions must be >= 0")
        props.append((name, frac))
    total = sum(f for _, f in props)
    if not props or total <= 0:
        raise SplitSpecError(f"--split {text!r} gives no positive fraction; e.g. train=0.8,val=0.1,test=0.1")
    return SplitSpec(proportions=tuple((n, f / total) for n, f in props))


def _parse_split_file(path: Path) -> SplitSpec:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:  # e.g. a photo passed by mistake: one line, not a traceback
        raise SplitSpecError(f"--split {path}: not a text file of 'relpath split' lines") from None
    except OSError as e:
        raise SplitSpecError(f"--split {path}: cannot read ({e.strerror or e})") from None
    assignment: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = [f for f in re.split(r"[,\t ]+", line) if f]
        if len(fields) != 2:
            raise SplitSpecError(f"{path}:{lineno}: expected 'relpath split', got {raw.strip()!r}")
        rel, name = fields[0].replace("\\", "/"), fields[1]
        if not _NAME.match(name):
            raise SplitSpecError(f"{path}:{lineno}: split name {name!r} must be letters, digits, '_' or '-'")
        if assignment.get(rel, name) != name:
            raise SplitSpecError(f"{path}:{lineno}: {rel!r} is assigned to two splits")
        assignment[rel] = name
    if not assignment:
        raise SplitSpecError(f"split file {path} lists no 'relpath split' lines")
    return SplitSpec(assignment=assignment)


def split_counts(n: int, proportions: tuple[tuple[str, float], ...]) -> dict[str, int]:
    """Largest-remainder apportionment of ``n`` items (ties go to the split listed first)."""
    exact = [(name, frac * n) for name, frac in proportions]
    counts = {name: int(x) for name, x in exact}
    rest = n - sum(counts.values())
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i][1] - int(exact[i][1])), i))
    for i in order[:rest]:
        counts[exact[i][0]] += 1
    return counts


def assign_splits(relpaths: list[str], spec: SplitSpec, *, seed: int) -> dict[str, str | None]:
    """Map every relpath to its split (``None``: not in the split file)."""
    if spec.assignment:
        # a split file turns backslashes into "/", so a printable name is looked up that way too
        return {r: spec.assignment.get(r, spec.assignment.get(printable(r).replace("\\", "/"))) for r in relpaths}
    order = sorted(set(relpaths), key=lambda r: (stable_hash(f"split:{seed}:{r}"), r))
    out: dict[str, str | None] = {}
    start = 0
    for name, count in split_counts(len(order), spec.proportions).items():
        for r in order[start : start + count]:
            out[r] = name
        start += count
    return out
