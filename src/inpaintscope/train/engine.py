"""The training loop: one function, :func:`fit`, readable top to bottom (nanoGPT spirit).

What it fixes relative to the seeds (reference-models.md §1.6, §2.2.4, §3.2, §6):

* early stopping keeps a **deep copy** of the best state (the report kept a reference to the
  live model, so its "best" weights were the last epoch's) and restores it at the end;
  ``report_compat`` keeps the last epoch instead, to reproduce the report's numbers;
* the plateau schedule maximises the validation metric (IID-Net stepped a mode='min'
  scheduler with an AUC, halving the LR every 11 validations);
* augmentation never resamples (crops, flips, 90° turns only);
* everything random is seeded per (seed, epoch[, index]) and every piece of state is
  checkpointed, so ``resume`` continues a killed run to the same weights as an uninterrupted
  one; runs on CPU, CUDA (with bf16/fp16 autocast) and under ``torchrun`` (DDP).

Run folder: ``config.yaml`` (resolved config), ``last.safetensors`` + ``last.state.pt``
(optimiser, schedule, RNG, early-stopping state; every epoch and every ``checkpoint_every``
steps), ``best.safetensors`` (+ ``.json`` sidecars), ``metrics.jsonl`` and ``curves.png``.
"""
from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from ..errors import InpaintscopeError
from ..evaluate.evaluator import score_batch, _same_size_batches
from ..models.inference import forward_padded, resolve_device
from ..evaluate.metrics import MetricAccumulator
from ..io.atomic import atomic_open, atomic_write_text
from ..models import create_model, save_checkpoint
from ..models.checkpoint import load_state_dict, read_checkpoint_info
from .augment import AugmentConfig, AugmentedDataset, collate
from .config import TrainConfig
from .data import open_data
from .losses import build_loss, image_bce_loss

STATE_FILE = "last.state.pt"
#: keys a resumed run may change (they bound or place the run, not what it computes)
RESUMABLE_OVERRIDES = ("epochs", "max_steps", "max_minutes", "device", "num_workers", "progress", "checkpoint_every")


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


class EarlyStopping:
    """Stop after ``patience`` epochs without ``loss < best - min_delta``; keep a deep copy of the best state."""

    def __init__(self, patience: int | None, min_delta: float = 0.0) -> None:
        self.patience, self.min_delta = patience, min_delta
        self.best = math.inf
        self.best_epoch: int | None = None
        self.bad_epochs = 0
        self.best_state: dict[str, torch.Tensor] | None = None

    def step(self, loss: float, model: torch.nn.Module, epoch: int) -> bool:
        """Record one validation loss; return True when it is a new best."""
        if loss < self.best - self.min_delta:
            self.best, self.best_epoch, self.bad_epochs = loss, epoch, 0
            # a real copy: the report's stopper stored a reference that kept changing
            self.best_state = copy.deepcopy({k: v.detach() for k, v in model.state_dict().items()})
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.bad_epochs >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.best, self.best_epoch, self.bad_epochs = float(d["best"]), d["best_epoch"], int(d["bad_epochs"])


@dataclass
class _Dist:
    rank: int = 0
    world: int = 1
    initialised_here: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0


def _setup_distributed(device: torch.device) -> tuple[_Dist, torch.device]:
    """Join the process group torchrun describes (WORLD_SIZE/RANK/LOCAL_RANK), if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist(), device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    here = False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        here = True
    return _Dist(dist.get_rank(), dist.get_world_size(), here), device


def resume_config(run_dir: str | os.PathLike, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """The config of a run folder, with only :data:`RESUMABLE_OVERRIDES` allowed to change."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file() or not (run_dir / STATE_FILE).is_file():
        raise InpaintscopeError(f"{run_dir}: not a resumable run folder (needs config.yaml and {STATE_FILE})")
    config = TrainConfig.from_yaml(run_dir / "config.yaml")
    bad = sorted(set(overrides or {}) - set(RESUMABLE_OVERRIDES))
    if bad:
        raise InpaintscopeError(f"cannot change {bad} when resuming; only {list(RESUMABLE_OVERRIDES)} may change")
    return config.with_overrides({**(overrides or {}), "out": str(run_dir)})


def _checkpoint_info(config: TrainConfig, model: torch.nn.Module, **extra: Any) -> dict[str, Any]:
    return {"model": config.model, "kwargs": config.model_kwargs,
            "preprocessing": model.preprocessing.to_dict(), "gt_mode": config.gt_mode,
            "config": config.to_dict(), **extra}


def _write_state(path: Path, state: dict[str, Any]) -> None:
    with atomic_open(path, "wb") as f:
        torch.save(state, f)


def _write_logs(run_dir: Path, history: list[dict[str, Any]], *, plot: bool) -> None:
    atomic_write_text(run_dir / "metrics.jsonl", "".join(json.dumps(h) + "\n" for h in history))
    if not plot:
        return
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        if not (run_dir / "curves.txt").exists():
            atomic_write_text(run_dir / "curves.txt", "curves.png skipped: matplotlib is not installed "
                                                      "(pip install 'inpaintscope[eval]')\n")
        return
    ep = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(ep, [h["train_loss"] for h in history], "o-", label="train loss")
    if any(h.get("val_loss") is not None for h in history):
        ax1.plot(ep, [h.get("val_loss") for h in history], "o-", label="val loss")
    ax1.set_xlabel("epoch"), ax1.set_ylabel("loss"), ax1.legend(), ax1.grid(alpha=0.3)
    for name in ("f1@0.5", "iou@0.5", "auc_pixel", "image_auc"):
        vals = [h.get(f"val_{name}") for h in history]
        if any(v is not None for v in vals):
            ax2.plot(ep, [math.nan if v is None else v for v in vals], "o-", label=name)
    ax2.set_xlabel("epoch"), ax2.set_ylabel("validation metric"), ax2.set_ylim(0, 1.02), ax2.grid(alpha=0.3)
    if ax2.lines:
        ax2.legend()
    fig.tight_layout()
    with atomic_open(run_dir / "curves.png", "wb") as f:
        fig.savefig(f, format="png", dpi=80)
    plt.close(fig)


def _compute_loss(loss_fn, mask_logits: torch.Tensor, image_logit: torch.Tensor | None, target: torch.Tensor,
                  label: torch.Tensor, image_weight: float) -> torch.Tensor:
    loss = loss_fn(mask_logits, target)
    if image_logit is not None and image_weight:
        loss = loss + image_weight * image_bce_loss(image_logit, label)
    return loss


@torch.no_grad()
def _validate(model, dataset: Dataset, config: TrainConfig, loss_fn, device: torch.device, ctx: _Dist,
              autocast) -> tuple[float, dict[str, float | None]]:
    """Validation loss (image-weighted mean) and named metrics, sharded over DDP ranks."""
    model.eval()
    indices = list(range(ctx.rank, len(dataset), ctx.world))  # type: ignore[arg-type]
    loader = DataLoader(dataset, batch_size=config.val_batch_size, sampler=indices, collate_fn=list,
                        num_workers=config.num_workers)
    acc = MetricAccumulator()
    total = torch.zeros(2, dtype=torch.float64)
    for items in loader:
        for batch in _same_size_batches(items):
            x, y = batch["image"].to(device), batch["mask"].to(device)
            with autocast():
                logits, image_logit = forward_padded(model, x)
            loss = _compute_loss(loss_fn, logits, image_logit, y, batch["label"].to(device), config.image_loss_weight)
            total += torch.tensor([loss.item() * len(x), len(x)], dtype=torch.float64)
            score_batch(acc, logits, image_logit, batch, gt_mode=config.gt_mode)
    if ctx.world > 1:
        dist.all_reduce(total)
        gathered: list[Any] = [None] * ctx.world
        dist.all_gather_object(gathered, acc)
        acc = MetricAccumulator.interleave(gathered)
    model.train()
    return float(total[0] / total[1]), acc.compute()


def fit(config: TrainConfig, *, train_dataset: Dataset | None = None, val_dataset: Dataset | None = None,
        resume: bool = False) -> RunResult:
    """Train ``config.model`` as ``config`` says; return the run's result.

    ``train_dataset``/``val_dataset`` replace ``config.data`` (for in-memory datasets).
    ``resume=True`` continues the run in ``config.out`` from ``last.safetensors`` +
    ``last.state.pt`` (see :func:`resume_config`), giving the same weights as an
    uninterrupted run. Under ``torchrun`` every rank calls ``fit``; rank 0 writes the files.
    """
    # ---- setup: device, processes, data, model, optimiser ---------------------------------
    device = resolve_device(config.device)
    ctx, device = _setup_distributed(device)
    run_dir = Path(config.out)
    state_path = run_dir / STATE_FILE
    if resume and not state_path.is_file():
        raise InpaintscopeError(f"{run_dir}: nothing to resume ({STATE_FILE} not found)")
    if not resume and state_path.is_file():
        raise InpaintscopeError(f"{run_dir} already holds a run; resume it (--resume {run_dir}) or choose another --out")
    amp = config.amp
    if amp != "none" and device.type != "cuda":
        warnings.warn(f"amp={amp} needs CUDA; training in float32 on {device}", stacklevel=2)
        amp = "none"
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)

    def autocast():
        return torch.autocast("cuda", dtype=amp_dtype) if amp_dtype else contextlib.nullcontext()

    scaler = torch.amp.GradScaler("cuda", enabled=amp == "fp16")

    if train_dataset is None:
        train_dataset = open_data(config.data, split=config.train_split, modes=config.modes,
                                  gt_mode=config.gt_mode, include_authentic=config.include_authentic)
    if val_dataset is None and config.val_split is not None:
        val_dataset = open_data(config.val_data or config.data, split=config.val_split, modes=config.modes,
                                gt_mode=config.gt_mode, include_authentic=config.include_authentic)

    torch.manual_seed(config.seed)  # same initial weights on every rank and every repeat
    # ``init`` fine-tunes from earlier weights (e.g. the shipped model, to continue training it
    # in a later session); a resumed run overwrites them with its own state below.
    model = create_model(config.model, checkpoint=config.init, **config.model_kwargs).to(device)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler: Any = None
    if config.schedule == "plateau":
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", patience=config.plateau_patience,
                                                               factor=config.plateau_factor)
    elif config.schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    loss_fn = build_loss(config.loss)
    stopper = EarlyStopping(config.early_stopping_patience if val_dataset is not None else None,
                            config.early_stopping_min_delta)

    aug_data = AugmentedDataset(train_dataset, AugmentConfig(config.crop, config.hflip, config.vflip, config.rot90),
                                seed=config.seed)
    # also used without DDP (1 replica): a permutation seeded by seed + epoch, resumable
    sampler = DistributedSampler(aug_data, num_replicas=ctx.world, rank=ctx.rank, shuffle=True, seed=config.seed)
    steps_per_epoch = math.ceil(len(sampler) / config.batch_size)

    # ---- state: fresh or resumed ----------------------------------------------------------
    start_epoch, start_step, global_step = 0, 0, 0
    trained_seconds = 0.0  # wall-clock training time of earlier (resumed) sessions, for max_minutes
    history: list[dict[str, Any]] = []
    loss_sum, loss_n = 0.0, 0
    finished = False
    if resume:
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        weights_step = read_checkpoint_info(run_dir / "last.safetensors").get("step")
        if weights_step != state["global_step"]:
            raise InpaintscopeError(f"{run_dir}: last.safetensors (step {weights_step}) and {STATE_FILE} "
                                    f"(step {state['global_step']}) disagree; the run was killed while saving")
        model.load_state_dict(load_state_dict(run_dir / "last.safetensors"))
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state["scheduler"] is not None:
            scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") is not None and device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], device)
        stopper.load_state_dict(state["early_stopping"])
        if (run_dir / "best.safetensors").is_file() and stopper.best_epoch is not None:
            stopper.best_state = {k: v.to(device) for k, v in load_state_dict(run_dir / "best.safetensors").items()}
        start_epoch, start_step, global_step = state["epoch"], state["step_in_epoch"], state["global_step"]
        trained_seconds = float(state.get("trained_seconds", 0.0))
        history, loss_sum, loss_n = list(state["history"]), state["loss_sum"], state["loss_n"]
        finished = state.get("finished", False)
        if ctx.main:
            config.save(run_dir / "config.yaml")  # records a changed epochs/max_steps budget
    elif ctx.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        config.save(run_dir / "config.yaml")

    train_model: torch.nn.Module = model
    if ctx.world > 1:
        train_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)

    def save_last(epoch: int, step_in_epoch: int, done: bool = False) -> None:
        if not ctx.main:
            return
        save_checkpoint(run_dir / "last.safetensors", model.state_dict(),
                        _checkpoint_info(config, model, step=global_step, epoch=epoch, kind="last"))
        _write_state(state_path, {
            "epoch": epoch, "step_in_epoch": step_in_epoch, "global_step": global_step,
            "trained_seconds": trained_seconds + time.perf_counter() - session_start,
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict() if scheduler else None,
            "scaler": scaler.state_dict(), "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            "early_stopping": stopper.state_dict(), "history": history, "loss_sum": loss_sum, "loss_n": loss_n,
            "finished": done, "config": config.to_dict()})

    # ---- the loop -------------------------------------------------------------------------
    from tqdm.auto import tqdm

    epoch = start_epoch
    session_start = time.perf_counter()

    def over_time_budget() -> bool:
        # A wall-clock budget (equal-compute comparisons): not bit-reproducible, unlike max_steps.
        if config.max_minutes is None:
            return False
        over = trained_seconds + time.perf_counter() - session_start >= 60.0 * config.max_minutes
        if ctx.world > 1:  # every rank must stop at the same step
            flag = torch.tensor([float(over)], device=device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            over = bool(flag.item())
        return over

    budget_hit = (config.max_steps is not None and global_step >= config.max_steps) or over_time_budget()
    while not finished and epoch < config.epochs and not budget_hit:
        t0 = time.perf_counter()
        sampler.set_epoch(epoch)
        aug_data.set_epoch(epoch)
        order = list(sampler)[start_step * config.batch_size:]
        loader = DataLoader(aug_data, batch_size=config.batch_size, sampler=order, collate_fn=collate,
                            num_workers=config.num_workers, pin_memory=device.type == "cuda",
                            # a private generator: creating the iterator must not consume global RNG
                            generator=torch.Generator().manual_seed(config.seed + epoch))
        bar = tqdm(loader, total=steps_per_epoch, initial=start_step, desc=f"epoch {epoch + 1}/{config.epochs}",
                   unit="step", disable=not (config.progress and ctx.main), leave=False)
        step_in_epoch = start_step
        for batch in bar:
            x, y = batch["image"].to(device, non_blocking=True), batch["mask"].to(device, non_blocking=True)
            with autocast():
                out = train_model(model.preprocess(x))
            loss = _compute_loss(loss_fn, out.mask_logits, out.image_logit, y, batch["label"].to(device),
                                 config.image_loss_weight)
            if not torch.isfinite(loss):
                raise InpaintscopeError(f"loss became {loss.item()} at step {global_step}; lower lr or use amp=bf16/none")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            global_step += 1
            step_in_epoch += 1
            loss_sum, loss_n = loss_sum + loss.item(), loss_n + 1
            bar.set_postfix(loss=f"{loss_sum / loss_n:.4f}")
            if config.checkpoint_every and global_step % config.checkpoint_every == 0 and step_in_epoch < steps_per_epoch:
                save_last(epoch, step_in_epoch)
            if (config.max_steps is not None and global_step >= config.max_steps) or over_time_budget():
                budget_hit = True
                break
        bar.close()
        partial = step_in_epoch < steps_per_epoch

        # ---- end of epoch (or of the step budget): validate, stop?, schedule, save --------
        train_loss = torch.tensor([loss_sum, loss_n], dtype=torch.float64)
        if ctx.world > 1:
            dist.all_reduce(train_loss)
        record: dict[str, Any] = {"epoch": epoch + 1, "step": global_step, "partial": partial,
                                  "train_loss": float(train_loss[0] / max(train_loss[1], 1)),
                                  "lr": optimizer.param_groups[0]["lr"]}
        improved = True
        if val_dataset is not None:
            val_loss, metrics = _validate(model, val_dataset, config, loss_fn, device, ctx, autocast)
            record["val_loss"] = val_loss
            record.update({f"val_{k}": v for k, v in metrics.items()})
            improved = stopper.step(val_loss, model, epoch + 1)
            if scheduler is not None and not partial:
                if config.schedule == "plateau":
                    value = metrics.get(config.schedule_metric)
                    if value is not None:
                        scheduler.step(value)
                else:
                    scheduler.step()
        elif scheduler is not None and config.schedule == "cosine" and not partial:
            scheduler.step()
        record["time_s"] = round(time.perf_counter() - t0, 3)
        history.append(record)
        loss_sum, loss_n = 0.0, 0
        if ctx.main:
            if improved:
                save_checkpoint(run_dir / "best.safetensors", model.state_dict(), _checkpoint_info(
                    config, model, step=global_step, epoch=epoch + 1, kind="best",
                    metrics={k[4:]: v for k, v in record.items() if k.startswith("val_")}))
            if config.progress:
                shown = {k: v for k, v in record.items() if k in ("train_loss", "val_loss", "val_f1@0.5", "val_auc_pixel")}
                print(f"epoch {epoch + 1}: " + ", ".join(f"{k} {v:.4f}" for k, v in shown.items() if v is not None)
                      + (" (best)" if improved and val_dataset is not None else ""), file=sys.stderr, flush=True)
        finished = stopper.should_stop
        if partial:
            save_last(epoch, step_in_epoch, done=finished)
        else:
            epoch, start_step = epoch + 1, 0
            save_last(epoch, 0, done=finished)
        if ctx.main:
            # the plot costs ~0.5 s: redraw it per epoch only when epochs are slow
            _write_logs(run_dir, history, plot=record["time_s"] > 20)

    # ---- finish: restore the best weights (unless reproducing the report) ------------------
    if ctx.main and history:
        _write_logs(run_dir, history, plot=True)
    if not config.report_compat and stopper.best_state is not None:
        model.load_state_dict(stopper.best_state)
    if ctx.world > 1:
        dist.barrier()  # rank 0's files are complete before anyone returns
        if ctx.initialised_here:
            dist.destroy_process_group()
    model.eval()
    best = run_dir / "best.safetensors"
    return RunResult(run_dir=run_dir, checkpoint=run_dir / ("last.safetensors" if config.report_compat else "best.safetensors"),
                     best_checkpoint=best if best.is_file() else None, last_checkpoint=run_dir / "last.safetensors",
                     history=history, best_epoch=stopper.best_epoch, stopped_early=stopper.should_stop,
                     steps=global_step, model=model)
