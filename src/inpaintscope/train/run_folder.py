"""What a run folder holds, how its last checkpoint is saved and read, and when a run may resume.

Files (rank 0 writes them, each atomically):

* ``config.yaml``: the resolved config (rewritten on resume, to record a changed budget);
* ``last.state.pt``: **everything needed to resume** (weights, optimiser, schedule, AMP scaler,
  RNG, early stopping, history, counters), saved every epoch and every ``checkpoint_every``
  steps. Being one atomically replaced file, it always holds a complete checkpoint, the newest
  or the one before: a process killed while saving leaves the previous one (plus a ``.tmp-*``
  file nothing reads);
* ``last.safetensors`` (+ ``.json``): the same weights as a self-describing checkpoint, written
  right after the state. A kill between the two leaves it one save behind; resuming rewrites it;
* ``best.safetensors`` (+ ``.json``), ``metrics.jsonl``, ``curves.png``.

Runs written before the weights moved into ``last.state.pt`` still resume when their two files
agree. A folder without a complete checkpoint (killed before its first save, or an old run
killed between its two files) is started over in place, with a one-line note.

``last.state.pt`` is read with ``torch.load(weights_only=True)``: a file that needs anything
beyond tensors and plain containers (for instance code to run) is refused with one line naming it.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import yaml

from ..errors import InpaintscopeError
from ..io.atomic import atomic_open
from ..io.outputs import check_fresh_folder, check_output_folder
from ..models import save_checkpoint
from ..models.checkpoint import load_state_dict, read_checkpoint_info
from .config import TrainConfig

STATE_FILE = "last.state.pt"
LAST_WEIGHTS = "last.safetensors"
BEST_WEIGHTS = "best.safetensors"
#: written into ``last.state.pt``; states without it come from the two-file format before it
STATE_FORMAT = "inpaintscope-train-state/2"
#: keys a resumed run may change (they bound or place the run, not what it computes)
RESUMABLE_OVERRIDES = ("epochs", "max_steps", "max_minutes", "device", "num_workers", "progress", "checkpoint_every")
#: every state holds these (older states keep the weights in last.safetensors instead of "model")
_STATE_KEYS = (
    "epoch",
    "step_in_epoch",
    "global_step",
    "optimizer",
    "scheduler",
    "scaler",
    "torch_rng",
    "early_stopping",
    "history",
    "loss_sum",
    "loss_n",
)
#: test hooks (tests/test_train_engine.py): ``<point>@<n>`` SIGKILLs this process at ``point``
#: (``state``: state file half written; ``between``: state saved, weights not) of its n-th
#: last-checkpoint save; a number of seconds pauses every save there (a wide target for random kills)
KILL_ENV = "INPAINTSCOPE_TEST_KILL_IN_SAVE"
PAUSE_ENV = "INPAINTSCOPE_TEST_PAUSE_IN_SAVE"
_saves_in_this_process = 0


def resume_config(run_dir: str | os.PathLike, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """The config of a run folder, with only :data:`RESUMABLE_OVERRIDES` allowed to change."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise InpaintscopeError(f"{run_dir}: not a resumable run folder (no config.yaml there)")
    config = TrainConfig.from_yaml(run_dir / "config.yaml")
    bad = sorted(set(overrides or {}) - set(RESUMABLE_OVERRIDES))
    if bad:
        raise InpaintscopeError(f"cannot change {bad} when resuming; only {list(RESUMABLE_OVERRIDES)} may change")
    return config.with_overrides({**(overrides or {}), "out": str(run_dir)})


def check_run_folder(config: TrainConfig, *, resume: bool) -> None:
    """Refuse ``config.out`` before anything is built or trained: a file, a place that cannot be
    written, a folder holding a complete run (without ``resume``), or a non-empty folder that is
    not a run of ours (someone's ``config.yaml`` or ``metrics.jsonl`` would be overwritten)."""
    run_dir = Path(config.out)
    if resume or (run_dir / STATE_FILE).is_file():
        # a resume, or ours: open_run_folder refuses a complete run and starts an incomplete one over
        check_output_folder(run_dir, option="--out")
        return
    check_fresh_folder(  # it checks writability too
        run_dir, option="--out", ours=lambda folder: config_written_here(folder, _reread_train_config)
    )


def _reread_train_config(data: Any, source: str) -> tuple[str, Path]:
    saved = TrainConfig.from_dict(data, source=source)
    return saved.to_yaml(), Path(saved.out)


def config_written_here(run_dir: Path, reread: Callable[[Any, str], tuple[str, Path]]) -> bool:
    """Whether ``run_dir/config.yaml`` is the one a run into ``run_dir`` wrote before its first
    checkpoint: exactly the resolved config's YAML, with ``out`` naming this folder. A person's
    config (comments, partial keys, another ``out``) is never that.

    ``reread(data, source)`` builds the trainer's config from the parsed YAML (``source`` names
    the file in its messages) and returns the YAML that config is written as and the folder its
    ``out`` names, both as that trainer makes them; an :class:`InpaintscopeError` means not ours.
    """
    path = run_dir / "config.yaml"
    try:
        text = path.read_text(encoding="utf-8")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deprecated keys: not a file we wrote, and no warning to show
            written, folder = reread(yaml.safe_load(text), str(path))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, InpaintscopeError):
        return False
    return text == written and folder.resolve() == run_dir.resolve()


def open_run_folder(config: TrainConfig, *, resume: bool, main: bool) -> dict[str, Any] | None:
    """Prepare ``config.out`` for this run (rank 0) and return the checkpoint to resume from.

    :func:`check_run_folder` has already refused a file, an unwritable place and a non-empty
    folder that is not a run of ours (``fit`` calls it first, on rank 0). A fresh run refuses a
    folder with a complete checkpoint; ``resume`` needs a run folder. Either
    starts over in place (saying so in one line) when the folder holds no complete checkpoint.
    """
    run_dir = Path(config.out)
    checkpoint = read_last_checkpoint(run_dir)
    if checkpoint is not None and not resume:
        raise InpaintscopeError(
            f"{run_dir} already holds a run; resume it (--resume {run_dir}) or choose another --out"
        )
    started = (run_dir / "config.yaml").is_file() or (run_dir / STATE_FILE).is_file()
    if resume and not started:
        raise InpaintscopeError(f"{run_dir}: nothing to resume (no config.yaml or {STATE_FILE})")
    if checkpoint is None and started and main:
        print(
            f"note: {run_dir} holds no complete checkpoint (the run stopped before one was saved); "
            "starting it over in place",
            file=sys.stderr,
            flush=True,
        )
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        config.save(run_dir / "config.yaml")
    return checkpoint


def read_last_checkpoint(run_dir: Path) -> dict[str, Any] | None:
    """The complete checkpoint of ``run_dir`` (a dict with the weights under ``"model"``), or None.

    Raises a one-line error naming ``last.state.pt`` when that file cannot be read safely.
    """
    path = run_dir / STATE_FILE
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError for a file that wants more than tensors, EOFError, ...
        raise InpaintscopeError(
            f"{path}: refused, not a training state that loads safely ({type(e).__name__}); "
            "delete it to start the run over, or train into another --out"
        ) from None
    missing = [k for k in _STATE_KEYS if not isinstance(state, dict) or k not in state]
    if missing or not all(isinstance(state[k], int) for k in ("epoch", "step_in_epoch", "global_step")):
        raise InpaintscopeError(
            f"{path}: not a training state (missing or bad {missing or 'counters'}); "
            "delete it to start the run over, or train into another --out"
        )
    if "model" not in state:  # the two-file format: usable only when both files are of one save
        if last_weights_step(run_dir) != state["global_step"]:
            return None
        state["model"] = load_state_dict(run_dir / LAST_WEIGHTS)
    return state


def last_weights_step(run_dir: Path) -> int | None:
    """The step ``last.safetensors`` was saved at (None: missing or unreadable)."""
    try:
        return read_checkpoint_info(run_dir / LAST_WEIGHTS).get("step")
    except InpaintscopeError:
        return None


def save_last_checkpoint(run_dir: Path, state: dict[str, Any], info: dict[str, Any]) -> None:
    """Write ``last.state.pt`` (``state``, weights under ``"model"``), then ``last.safetensors``."""
    global _saves_in_this_process
    _saves_in_this_process += 1
    with atomic_open(run_dir / STATE_FILE, "wb") as f:
        torch.save({"format": STATE_FORMAT, **state}, f)
        _test_hook("state")
    _test_hook("between")
    save_checkpoint(run_dir / LAST_WEIGHTS, state["model"], info)


def _test_hook(point: str) -> None:
    if os.environ.get(KILL_ENV) == f"{point}@{_saves_in_this_process}":
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
    if point == "between" and os.environ.get(PAUSE_ENV):
        time.sleep(float(os.environ[PAUSE_ENV]))
