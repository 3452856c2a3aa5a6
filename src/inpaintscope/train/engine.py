"""The training loop: :func:`fit` reads top to bottom (nanoGPT spirit), each step a small function.

What it fixes relative to the training code of IID-Net and of the Bochum report's NIX-Net and
FCN-ResNet50 (docs/references.md, §1–§3):

* early stopping keeps a **deep copy** of the best state (the Bochum report kept a reference to
  the live model, so its "best" weights were the last epoch's) and restores it at the end;
  ``report_compat`` keeps the last epoch instead, to reproduce the Bochum report's numbers;
* the plateau schedule maximises the validation metric (IID-Net stepped a mode='min'
  scheduler with an AUC, halving the LR every 11 validations);
* augmentation never resamples (crops, flips, 90° turns only);
* everything random is seeded per (seed, epoch[, index]) and every piece of state is
  checkpointed, so ``resume`` continues a killed run to the same weights as an uninterrupted
  one; runs on CPU, CUDA (with bf16/fp16 autocast) and under ``torchrun`` (DDP).

A run is two objects: a :class:`Run`, what stays fixed while training (config, device,
processes, data, loss), and a :class:`TrainState`, what changes (model, optimiser, schedule,
counters, early stopping), which is exactly what a checkpoint holds. The run folder and its
crash-consistent checkpoints are described in :mod:`inpaintscope.train.run_folder`.

The Bochum report: P. Adler, H. Günther, D. Gann, H. Ehringfeld, "Inpainting Detection", student
project report (MPDL project, group 2), Ruhr-Universität Bochum, 2023.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from ..data import batching
from ..data.specs import open_data
from ..errors import InpaintscopeError
from ..evaluate.evaluator import score_batch
from ..evaluate.metrics import MetricAccumulator
from ..evaluate.selection import cheap_strata
from ..models import create_model, save_checkpoint
from ..models.checkpoint import load_state_dict
from ..models.inference import forward_padded, resolve_device
from .augment import AugmentedDataset, CachedCues
from .config import TrainConfig
from .distributed import Processes, launched_as_main, setup_distributed
from .early_stopping import EarlyStopping
from .logs import write_logs
from .losses import build_loss, image_bce_loss
from .run_folder import (
    BEST_WEIGHTS,
    LAST_WEIGHTS,
    STATE_FILE,
    check_run_folder,
    last_weights_step,
    open_run_folder,
    save_last_checkpoint,
)
from .warm_start import warm_start


@dataclass
class RunResult:
    run_dir: Path
    #: the weights ``model`` holds: best.safetensors, or last.safetensors with report_compat
    checkpoint: Path
    best_checkpoint: Path | None
    last_checkpoint: Path
    history: list[dict[str, Any]]
    best_epoch: int | None
    stopped_early: bool
    steps: int
    model: torch.nn.Module = field(repr=False)


@dataclass
class Run:
    """What a run is made of and keeps while it trains."""

    config: TrainConfig
    run_dir: Path
    device: torch.device
    procs: Processes
    train_data: AugmentedDataset
    #: also used without DDP (1 replica): a permutation seeded by seed + epoch, so resumable
    sampler: DistributedSampler
    val_data: Dataset | None
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    amp_dtype: torch.dtype | None

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.sampler) / self.config.batch_size)

    def autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast("cuda", dtype=self.amp_dtype) if self.amp_dtype else contextlib.nullcontext()


@dataclass
class TrainState:
    """What changes while a run trains; :func:`state_dict` of it is the resume checkpoint."""

    model: torch.nn.Module
    #: ``model`` itself, or its DistributedDataParallel wrapper under torchrun
    train_model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    stopper: EarlyStopping
    epoch: int = 0  # the epoch in progress, 0-based (= epochs completed)
    step_in_epoch: int = 0
    global_step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    loss_sum: float = 0.0  # running train loss of the epoch in progress
    loss_n: int = 0
    finished: bool = False  # early stopping ended the run (a resume does nothing more)
    budget_hit: bool = False  # max_steps / max_minutes reached in this session
    trained_seconds: float = 0.0  # training time of earlier sessions, for max_minutes
    session_start: float = field(default_factory=time.perf_counter)

    def elapsed_seconds(self) -> float:
        return self.trained_seconds + time.perf_counter() - self.session_start


def fit(
    config: TrainConfig,
    *,
    train_dataset: Dataset | None = None,
    val_dataset: Dataset | None = None,
    resume: bool = False,
) -> RunResult:
    """Train ``config.model`` as ``config`` says; return the run's result.

    ``train_dataset``/``val_dataset`` replace ``config.data`` (for in-memory datasets).
    ``resume=True`` continues the run in ``config.out`` from its last checkpoint (see
    :func:`~inpaintscope.train.run_folder.resume_config`), giving the same weights as an
    uninterrupted run. Under ``torchrun`` every rank calls ``fit``; rank 0 writes the files.
    """
    if launched_as_main():
        # a bad --out fails now, not after the data is opened; rank 0 alone, since the other ranks
        # would see the folder rank 0 is preparing as someone else's (if it refuses, torchrun stops them all)
        check_run_folder(config, resume=resume)
    run = build_run(config, train_dataset=train_dataset, val_dataset=val_dataset)
    checkpoint = open_run_folder(config, resume=resume, main=run.procs.main)
    state = build_state(run, checkpoint)
    state.budget_hit = over_budget(run, state)
    while not (state.finished or state.budget_hit) and state.epoch < config.epochs:
        t0 = time.perf_counter()
        train_one_epoch(run, state)
        record = epoch_record(run, state)
        metrics: dict[str, float | None] = {}
        if run.val_data is not None:
            record["val_loss"], metrics = validate(run, state.model)
            record.update({f"val_{k}": v for k, v in metrics.items()})
        improved = maybe_stop_early(state, record)
        step_schedule(run, state, partial=record["partial"], metrics=metrics)
        record["time_s"] = round(time.perf_counter() - t0, 3)
        state.history.append(record)
        if improved:
            save_best(run, state, record)
        print_epoch(run, record, improved=improved)
        next_epoch(state, partial=record["partial"])
        save_last(run, state)
        if run.procs.main:  # the plot costs ~0.5 s: redraw it per epoch only when epochs are slow
            write_logs(run.run_dir, state.history, plot=record["time_s"] > 20)
    return finish(run, state)


# ---- setup ----------------------------------------------------------------------------------


def build_run(config: TrainConfig, *, train_dataset: Dataset | None, val_dataset: Dataset | None) -> Run:
    """Device and processes, the (augmented) data, the loss and the autocast type of ``config``."""
    device, amp = resolve_device(config.device), config.amp
    procs, device = setup_distributed(device)
    if amp != "none" and device.type != "cuda":
        warnings.warn(f"amp={amp} needs CUDA; training in float32 on {device}", stacklevel=3)
        amp = "none"
    if train_dataset is None:
        train_dataset = open_data(
            config.data,
            split=config.train_split,
            modes=config.modes,
            gt_mode=config.gt_mode,
            include_authentic=config.include_authentic,
        )
    if val_dataset is None and config.val_split is not None:
        val_dataset = open_data(
            config.val_data or config.data,
            split=config.val_split,
            modes=config.modes,
            gt_mode=config.gt_mode,
            include_authentic=config.include_authentic,
        )
    strata = cheap_strata(train_dataset)
    if strata and not any(label == 1 for label, _ in strata):
        # a --modes filter that matches none of the edits leaves only authentic photos: a detector
        # trained on those learns nothing about inpainting, and would say so only in its metrics
        raise InpaintscopeError(
            f"the training data ({', '.join(config.data) or 'given'}, split {config.train_split!r}"
            + (f", modes {','.join(config.modes)}" if config.modes else "")
            + f") holds {len(strata)} authentic images and no manipulated one; check the modes and the data"
        )
    if config.cache_cues and getattr(create_model(config.model, **config.model_kwargs), "cues", ()):
        train_dataset = CachedCues(train_dataset, config.model, config.model_kwargs)
    train_data = AugmentedDataset(train_dataset, config.augment, seed=config.seed)
    sampler = DistributedSampler(train_data, num_replicas=procs.world, rank=procs.rank, shuffle=True, seed=config.seed)
    return Run(
        config=config,
        run_dir=Path(config.out),
        device=device,
        procs=procs,
        train_data=train_data,
        sampler=sampler,
        val_data=val_dataset,
        loss_fn=build_loss(config.loss),
        amp_dtype={"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp),
    )


def build_state(run: Run, checkpoint: dict[str, Any] | None) -> TrainState:
    """Model, optimiser, schedule, scaler and early stopping: fresh, or restored from ``checkpoint``."""
    config = run.config
    torch.manual_seed(config.seed)  # same initial weights on every rank and every repeat
    # ``init`` fine-tunes from earlier weights (e.g. the shipped model, to continue training it
    # in a later session); a resumed run overwrites them with its own state.
    if config.init is not None and config.init_mode == "warm":
        model = create_model(config.model, **config.model_kwargs)
        warm_start(model, config.init)
    else:
        model = create_model(config.model, checkpoint=config.init, **config.model_kwargs)
    model = model.to(run.device)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler: Any = None
    if config.schedule == "plateau":
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", patience=config.plateau_patience, factor=config.plateau_factor
        )
    elif config.schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    stopper = EarlyStopping(
        config.early_stopping_patience if run.val_data is not None else None, config.early_stopping_min_delta
    )
    state = TrainState(
        model=model,
        train_model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        scaler=torch.amp.GradScaler("cuda", enabled=run.amp_dtype == torch.float16),
        stopper=stopper,
    )
    if checkpoint is not None:
        restore_state(run, state, checkpoint)
        catch_up_last_weights(run, state)
    if run.procs.world > 1:
        state.train_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[run.device.index] if run.device.type == "cuda" else None
        )
    state.session_start = time.perf_counter()
    return state


# ---- training -------------------------------------------------------------------------------


def train_one_epoch(run: Run, state: TrainState) -> None:
    """Train from ``state.step_in_epoch`` to the end of the epoch, or until the budget runs out."""
    from tqdm.auto import tqdm

    config = run.config
    run.sampler.set_epoch(state.epoch)
    run.train_data.set_epoch(state.epoch)
    order = list(run.sampler)[state.step_in_epoch * config.batch_size :]
    loader = DataLoader(
        run.train_data,
        batch_size=config.batch_size,
        sampler=order,
        collate_fn=batching.collate_samples,
        num_workers=config.num_workers,
        pin_memory=run.device.type == "cuda",
        # a private generator: creating the iterator must not consume global RNG
        generator=torch.Generator().manual_seed(config.seed + state.epoch),
    )
    bar = tqdm(
        loader,
        total=run.steps_per_epoch,
        initial=state.step_in_epoch,
        unit="step",
        leave=False,
        desc=f"epoch {state.epoch + 1}/{config.epochs}",
        disable=not (config.progress and run.procs.main),
    )
    for batch in bar:
        loss = train_step(run, state, batch)
        state.global_step, state.step_in_epoch = state.global_step + 1, state.step_in_epoch + 1
        state.loss_sum, state.loss_n = state.loss_sum + loss, state.loss_n + 1
        bar.set_postfix(loss=f"{state.loss_sum / state.loss_n:.4f}")
        if (
            config.checkpoint_every
            and state.global_step % config.checkpoint_every == 0
            and state.step_in_epoch < run.steps_per_epoch
        ):
            save_last(run, state)
        if over_budget(run, state):
            state.budget_hit = True
            break
    bar.close()


def train_step(run: Run, state: TrainState, batch: dict[str, Any]) -> float:
    """One optimiser step on ``batch``; returns its loss."""
    x = batch["image"].to(run.device, non_blocking=True)
    y = batch["mask"].to(run.device, non_blocking=True)
    extra = {"cue_maps": batch["cues"].to(run.device, non_blocking=True)} if "cues" in batch else {}
    with run.autocast():
        out = state.train_model(state.model.preprocess(x), **extra)
    loss = compute_loss(run, out.mask_logits, out.image_logit, y, batch["label"].to(run.device))
    if not torch.isfinite(loss):
        raise InpaintscopeError(f"loss became {loss.item()} at step {state.global_step}; lower lr or use amp=bf16/none")
    state.optimizer.zero_grad(set_to_none=True)
    state.scaler.scale(loss).backward()
    state.scaler.step(state.optimizer)
    state.scaler.update()
    return loss.item()


def compute_loss(
    run: Run, mask_logits: torch.Tensor, image_logit: torch.Tensor | None, target: torch.Tensor, label: torch.Tensor
) -> torch.Tensor:
    """The mask loss, plus the weighted image-level BCE when the model has an image logit."""
    loss = run.loss_fn(mask_logits, target)
    if image_logit is not None and run.config.image_loss_weight:
        loss = loss + run.config.image_loss_weight * image_bce_loss(image_logit, label)
    return loss


def over_budget(run: Run, state: TrainState) -> bool:
    """``max_steps`` reached, or ``max_minutes`` of training time (not bit-reproducible) spent."""
    if run.config.max_steps is not None and state.global_step >= run.config.max_steps:
        return True
    if run.config.max_minutes is None:
        return False
    over = state.elapsed_seconds() >= 60.0 * run.config.max_minutes
    return run.procs.any(over, run.device)  # every rank must stop at the same step


# ---- end of an epoch (or of the budget) -------------------------------------------------------


def epoch_record(run: Run, state: TrainState) -> dict[str, Any]:
    """The epoch's line of ``metrics.jsonl`` before validation: step, partial?, train loss, lr."""
    train_loss = run.procs.sum(torch.tensor([state.loss_sum, state.loss_n], dtype=torch.float64))
    return {
        "epoch": state.epoch + 1,
        "step": state.global_step,
        "partial": state.step_in_epoch < run.steps_per_epoch,
        "train_loss": float(train_loss[0] / max(train_loss[1], 1)),
        "lr": state.optimizer.param_groups[0]["lr"],
    }


@torch.no_grad()
def validate(run: Run, model: torch.nn.Module) -> tuple[float, dict[str, float | None]]:
    """Validation loss (image-weighted mean) and named metrics, sharded over DDP ranks."""
    model.eval()
    indices = list(range(run.procs.rank, len(run.val_data), run.procs.world))  # type: ignore[arg-type]
    loader = DataLoader(
        run.val_data,
        batch_size=run.config.val_batch_size,
        sampler=indices,
        collate_fn=list,
        num_workers=run.config.num_workers,
    )
    acc = MetricAccumulator()
    total = torch.zeros(2, dtype=torch.float64)
    for items in loader:
        for batch in batching.same_size_batches(items):
            x, y = batch["image"].to(run.device), batch["mask"].to(run.device)
            with run.autocast():
                logits, image_logit = forward_padded(model, x)
            loss = compute_loss(run, logits, image_logit, y, batch["label"].to(run.device))
            total += torch.tensor([loss.item() * len(x), len(x)], dtype=torch.float64)
            score_batch(acc, logits, image_logit, batch, gt_mode=run.config.gt_mode)
    run.procs.sum(total)
    if run.procs.world > 1:
        acc = MetricAccumulator.interleave(run.procs.gather(acc))
    model.train()
    return float(total[0] / total[1]), acc.compute()


def maybe_stop_early(state: TrainState, record: dict[str, Any]) -> bool:
    """Score the epoch's validation loss; True when it is the best so far (always, without validation)."""
    if "val_loss" not in record:
        return True
    improved = state.stopper.step(record["val_loss"], state.model, record["epoch"])
    state.finished = state.stopper.should_stop
    return improved


def step_schedule(run: Run, state: TrainState, *, partial: bool, metrics: dict[str, float | None]) -> None:
    """Step the LR schedule once per complete epoch (plateau: on the validation metric, when there is one)."""
    if state.scheduler is None or partial:
        return
    if run.config.schedule == "plateau":
        value = metrics.get(run.config.schedule_metric)
        if value is not None:
            state.scheduler.step(value)
    else:
        state.scheduler.step()


def save_best(run: Run, state: TrainState, record: dict[str, Any]) -> None:
    """Write ``best.safetensors`` (rank 0) with the epoch's validation metrics."""
    if run.procs.main:
        metrics = {k[4:]: v for k, v in record.items() if k.startswith("val_")}
        save_checkpoint(
            run.run_dir / BEST_WEIGHTS,
            state.model.state_dict(),
            checkpoint_info(
                run, state.model, step=state.global_step, epoch=record["epoch"], kind="best", metrics=metrics
            ),
        )


def print_epoch(run: Run, record: dict[str, Any], *, improved: bool) -> None:
    if run.procs.main and run.config.progress:
        shown = {k: v for k, v in record.items() if k in ("train_loss", "val_loss", "val_f1@0.5", "val_auc_pixel")}
        print(
            f"epoch {record['epoch']}: "
            + ", ".join(f"{k} {v:.4f}" for k, v in shown.items() if v is not None)
            + (" (best)" if improved and run.val_data is not None else ""),
            file=sys.stderr,
            flush=True,
        )


def next_epoch(state: TrainState, *, partial: bool) -> None:
    """Reset the running loss; move to the next epoch unless the budget cut this one short."""
    state.loss_sum, state.loss_n = 0.0, 0
    if not partial:
        state.epoch, state.step_in_epoch = state.epoch + 1, 0


# ---- checkpoints ----------------------------------------------------------------------------


def checkpoint_info(run: Run, model: torch.nn.Module, **extra: Any) -> dict[str, Any]:
    """The description stored with a checkpoint, enough to rebuild the model from the file alone."""
    config = run.config
    return {
        "model": config.model,
        "kwargs": config.model_kwargs,
        "preprocessing": model.preprocessing.to_dict(),
        "gt_mode": config.gt_mode,
        "config": config.to_dict(),
        **extra,
    }


def state_dict(run: Run, state: TrainState) -> dict[str, Any]:
    """Everything needed to continue ``state`` bit-exactly, weights included (CPU tensors)."""
    cuda = run.device.type == "cuda"
    return {
        "model": {k: v.detach().to("cpu") for k, v in state.model.state_dict().items()},
        "epoch": state.epoch,
        "step_in_epoch": state.step_in_epoch,
        "global_step": state.global_step,
        "trained_seconds": state.elapsed_seconds(),
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict() if state.scheduler else None,
        "scaler": state.scaler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state(run.device) if cuda else None,
        "early_stopping": state.stopper.state_dict(),
        "history": state.history,
        "loss_sum": state.loss_sum,
        "loss_n": state.loss_n,
        "finished": state.finished,
        "config": run.config.to_dict(),
    }


def save_last(run: Run, state: TrainState) -> None:
    """Save the resume checkpoint (rank 0): ``last.state.pt``, then ``last.safetensors``."""
    if run.procs.main:
        info = checkpoint_info(run, state.model, step=state.global_step, epoch=state.epoch, kind="last")
        save_last_checkpoint(run.run_dir, state_dict(run, state), info)


def restore_state(run: Run, state: TrainState, checkpoint: dict[str, Any]) -> None:
    """Load ``checkpoint`` into ``state``; a file that does not fit this run is one line naming it."""
    try:
        state.model.load_state_dict(checkpoint["model"])
        state.optimizer.load_state_dict(checkpoint["optimizer"])
        if state.scheduler is not None and checkpoint["scheduler"] is not None:
            state.scheduler.load_state_dict(checkpoint["scheduler"])
        state.scaler.load_state_dict(checkpoint["scaler"])
        torch.set_rng_state(checkpoint["torch_rng"])
        if checkpoint.get("cuda_rng") is not None and run.device.type == "cuda":
            torch.cuda.set_rng_state(checkpoint["cuda_rng"], run.device)
        state.stopper.load_state_dict(checkpoint["early_stopping"])
        state.epoch, state.step_in_epoch = checkpoint["epoch"], checkpoint["step_in_epoch"]
        state.global_step, state.finished = checkpoint["global_step"], bool(checkpoint.get("finished", False))
        state.history = [dict(record) for record in checkpoint["history"]]
        state.loss_sum, state.loss_n = float(checkpoint["loss_sum"]), int(checkpoint["loss_n"])
        state.trained_seconds = float(checkpoint.get("trained_seconds", 0.0))
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        reason = " ".join(str(e).split())[:200] or type(e).__name__
        raise InpaintscopeError(
            f"{run.run_dir / STATE_FILE}: does not fit this run's model or optimiser "
            f"({reason}); delete it to start the run over, or train into another --out"
        ) from None
    best = run.run_dir / BEST_WEIGHTS
    if best.is_file() and state.stopper.best_epoch is not None:
        state.stopper.best_state = {k: v.to(run.device) for k, v in load_state_dict(best).items()}


def catch_up_last_weights(run: Run, state: TrainState) -> None:
    """After a kill between ``last.state.pt`` and ``last.safetensors``, rewrite the latter from the state."""
    if run.procs.main and last_weights_step(run.run_dir) != state.global_step:
        save_checkpoint(
            run.run_dir / LAST_WEIGHTS,
            state.model.state_dict(),
            checkpoint_info(run, state.model, step=state.global_step, epoch=state.epoch, kind="last"),
        )


# ---- finish ---------------------------------------------------------------------------------


def restore_best(run: Run, state: TrainState) -> None:
    """Put the best epoch's weights back into the model (unless reproducing the Bochum report's last-epoch habit)."""
    if not run.config.report_compat and state.stopper.best_state is not None:
        state.model.load_state_dict(state.stopper.best_state)


def finish(run: Run, state: TrainState) -> RunResult:
    """Final logs and plot, the best weights restored, processes closed: the run's result."""
    if run.procs.main and state.history:
        write_logs(run.run_dir, state.history, plot=True)
    restore_best(run, state)
    run.procs.close()
    state.model.eval()
    best = run.run_dir / BEST_WEIGHTS
    return RunResult(
        run_dir=run.run_dir,
        best_checkpoint=best if best.is_file() else None,
        checkpoint=run.run_dir / (LAST_WEIGHTS if run.config.report_compat else BEST_WEIGHTS),
        last_checkpoint=run.run_dir / LAST_WEIGHTS,
        history=state.history,
        best_epoch=state.stopper.best_epoch,
        stopped_early=state.stopper.should_stop,
        steps=state.global_step,
        model=state.model,
    )
