"""The training engine on tiny generated data: learning, early stopping, resume (also after kill -9
while saving), checkpoints, and the collation it shares with evaluate."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file
from torch.utils.data import Dataset

from inpaintscope.data import batching
from inpaintscope.data.synthetic import open_synthetic
from inpaintscope.errors import InpaintscopeError, ShapeError
from inpaintscope.evaluate import evaluate
from inpaintscope.models import Preprocessing, list_models, load_detector, save_checkpoint
from inpaintscope.models.checkpoint import read_checkpoint_info
from inpaintscope.train import AugmentConfig, EarlyStopping, TrainConfig, augment_pair, fit, resume_config
from inpaintscope.train.run_folder import KILL_ENV, PAUSE_ENV, last_weights_step

DATA = "synthetic:32x64"  # 32 images of 64², 8 authentic → 4 steps per epoch at batch 8
AUGMENT = {"crop": 48, "rot90": True}


def make_config(tmp_path, name: str, model: str, **kw) -> TrainConfig:
    base = dict(
        model=model,
        data=[DATA],
        lr=3e-2,
        loss="bce+dice:0.5",
        batch_size=8,
        epochs=2,
        device="cpu",
        progress=False,
        out=str(tmp_path / name),
    )
    return TrainConfig(**{**base, **kw})


def weights(path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float = 1e-5) -> None:
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=atol, rtol=0, msg=k)


def differs(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return any(not torch.allclose(a[k], b[k]) for k in a)


# ---- augmentation --------------------------------------------------------------------------


def test_augmentation_is_joint_exact_and_seeded():
    # every pixel value is unique, and the mask is a function of the pixel, so any resampling or
    # any transform applied to only one of the two would show
    image = torch.arange(3 * 20 * 24, dtype=torch.float32).reshape(3, 20, 24) / (3 * 20 * 24)
    mask = (image[:1] * 7 % 1 > 0.5).float()
    cfg = AugmentConfig(crop=16, hflip=True, vflip=True, rot90=True)
    outs = [augment_pair(image, mask, rng=np.random.default_rng(s), config=cfg) for s in range(12)]
    for img, m in outs:
        assert img.shape == (3, 16, 16) and m.shape == (1, 16, 16)
        assert set(img.flatten().tolist()) <= set(image.flatten().tolist())  # no new values: no interpolation
        assert torch.equal(m, (img[:1] * 7 % 1 > 0.5).float())  # the mask moved with the image
    assert len({tuple(o[0][0, 0, :3].tolist()) for o in outs}) > 4  # the draws do differ
    again = augment_pair(image, mask, rng=np.random.default_rng(3), config=cfg)
    assert torch.equal(again[0], outs[3][0]) and torch.equal(again[1], outs[3][1])
    # smaller than the crop: mirrored, still only original values
    img, m = augment_pair(image[:, :10, :10], mask[:, :10, :10], rng=np.random.default_rng(0), config=cfg)
    assert img.shape == (3, 16, 16) and set(img.flatten().tolist()) <= set(image[:, :10, :10].flatten().tolist())


def test_synthetic_items_follow_the_contract():
    ds = open_synthetic("synthetic:8x32", split="val", gt_mode="any")
    item = ds[1]
    assert item["image"].dtype == torch.float32 and item["image"].shape == (3, 32, 32)
    assert item["image"].min() >= 0 and item["image"].max() <= 1
    assert item["mask"].shape == (1, 32, 32) and set(item["mask"].unique().tolist()) == {0.0, 1.0}
    assert item["label"].dtype == torch.int64 and item["label"].ndim == 0 and int(item["label"]) == 1
    assert int(ds[0]["label"]) == 0 and ds[0]["mask"].sum() == 0
    assert {"id", "split", "mode", "inpainter", "mask_kind", "source", "post"} <= set(item["meta"])
    soft = open_synthetic("synthetic:8x32", split="val", gt_mode="soft")[1]["mask"]
    core = open_synthetic("synthetic:8x32", split="val", gt_mode="core")[1]["mask"]
    assert torch.equal(core, (soft == 1).float()) and torch.equal(item["mask"], (soft > 0).float())
    assert not torch.equal(open_synthetic("synthetic:8x32", split="train")[1]["image"], item["image"])


# ---- a real (tiny) training run ----------------------------------------------------------------


def test_training_run_learns_and_writes_its_run_folder(tmp_path, tiny_detector):
    config = make_config(
        tmp_path, "run", tiny_detector, epochs=10, augment={"crop": 48}, model_kwargs={"image_head": True}
    )
    result = fit(config)
    h = result.history
    assert len(h) == 10 and result.steps == 40
    assert h[-1]["val_loss"] < 0.8 * h[0]["val_loss"], [r["val_loss"] for r in h]
    assert h[-1]["train_loss"] < h[0]["train_loss"]
    best = next(r for r in h if r["epoch"] == result.best_epoch)
    assert best["val_f1@0.5"] > 0.5 and best["val_auc_pixel"] > 0.9
    run = result.run_dir
    for name in (
        "config.yaml",
        "best.safetensors",
        "best.json",
        "last.safetensors",
        "last.state.pt",
        "metrics.jsonl",
        "curves.png",
    ):
        assert (run / name).is_file(), name
    assert TrainConfig.from_yaml(run / "config.yaml") == config
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == list(range(1, 11))
    info = json.loads((run / "best.json").read_text())
    assert info["model"] == tiny_detector and info["kwargs"] == {"image_head": True}
    assert info["gt_mode"] == "core" and info["epoch"] == result.best_epoch and info["step"] == 4 * result.best_epoch
    assert Preprocessing.from_dict(info["preprocessing"]) == result.model.preprocessing
    assert info["metrics"]["f1@0.5"] == pytest.approx(best["val_f1@0.5"]) and "version" in info
    assert info["config"]["lr"] == config.lr
    # the checkpoint alone rebuilds the model, and evaluate() reproduces the engine's validation
    model = load_detector(result.checkpoint)
    x = torch.rand(2, 3, 64, 64)
    torch.testing.assert_close(model(x).mask_logits, result.model(x).mask_logits)
    report = evaluate(model, open_synthetic(DATA, split="val"), batch_size=8)
    for name in ("f1@0.5", "auc_pixel", "image_auc", "report_iou"):
        assert report.metrics[name] == pytest.approx(best[f"val_{name}"]), name


@pytest.mark.skipif("scope_tiny" not in list_models(), reason="scope_tiny is not registered in this build")
def test_scope_tiny_trains(tmp_path):
    result = fit(make_config(tmp_path, "scope", "scope_tiny", lr=3e-3, epochs=3, early_stopping_patience=None))
    h = result.history
    assert h[-1]["train_loss"] < h[0]["train_loss"]
    assert h[-1]["val_auc_pixel"] > h[0]["val_auc_pixel"] + 0.1


# ---- early stopping ------------------------------------------------------------------------


class InvertedMasks(Dataset):
    """Validation data whose GT is the complement: learning the task makes val loss worse."""

    def __init__(self, base: Dataset) -> None:
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> dict:
        item = dict(self.base[i])
        item["mask"] = 1 - item["mask"]
        return item


def test_early_stopping_keeps_a_deep_copy():
    model = torch.nn.Linear(2, 1)
    stopper = EarlyStopping(patience=2)
    assert stopper.step(1.0, model, 1)
    snapshot = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)  # in-place change, like an optimiser step
    assert torch.equal(stopper.best_state["weight"], snapshot)
    assert not stopper.step(1.0, model, 2)  # equal is not better (min_delta 0, strict)
    assert not stopper.should_stop and not stopper.step(2.0, model, 3) and stopper.should_stop


def test_early_stopping_restores_best_and_report_compat_keeps_last(tmp_path, tiny_detector):
    val = InvertedMasks(open_synthetic(DATA, split="val"))
    result = fit(make_config(tmp_path, "es", tiny_detector, epochs=10, early_stopping_patience=2), val_dataset=val)
    losses = [r["val_loss"] for r in result.history]
    assert result.stopped_early and result.best_epoch == int(np.argmin(losses)) + 1
    assert len(result.history) == result.best_epoch + 2 < 10
    restored = {k: v.detach() for k, v in result.model.state_dict().items()}
    best, last = weights(result.run_dir / "best.safetensors"), weights(result.run_dir / "last.safetensors")
    assert differs(best, last)
    assert_same_weights(restored, best, atol=0)  # the best epoch's snapshot, not the last epoch
    compat = fit(
        make_config(tmp_path, "compat", tiny_detector, epochs=10, early_stopping_patience=2, report_compat=True),
        val_dataset=val,
    )
    assert compat.checkpoint.name == "last.safetensors"
    assert_same_weights(
        {k: v.detach() for k, v in compat.model.state_dict().items()},
        weights(compat.run_dir / "last.safetensors"),
        atol=0,
    )


# ---- resume ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory, tiny_detector):
    return fit(make_config(tmp_path_factory.mktemp("straight"), "straight", tiny_detector, augment=AUGMENT))


def test_resume_at_epoch_boundary_equals_straight_run(tmp_path, tiny_detector, straight_run):
    first = fit(make_config(tmp_path, "split", tiny_detector, augment=AUGMENT, epochs=1))
    assert len(first.history) == 1
    resumed = fit(resume_config(first.run_dir, {"epochs": 2}), resume=True)
    assert resumed.steps == straight_run.steps == 8
    assert_same_weights(weights(resumed.last_checkpoint), weights(straight_run.last_checkpoint))
    assert_same_weights(weights(resumed.checkpoint), weights(straight_run.checkpoint))
    assert [r["val_loss"] for r in resumed.history] == pytest.approx([r["val_loss"] for r in straight_run.history])


class CrashAfter(Dataset):
    """Raise (like a killed process) once ``n`` items have been read."""

    def __init__(self, base: Dataset, n: int) -> None:
        self.base, self.n, self.reads = base, n, 0

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> dict:
        self.reads += 1
        if self.reads > self.n:
            raise RuntimeError("killed")
        return self.base[i]


def test_resume_after_a_kill_mid_epoch_equals_straight_run(tmp_path, tiny_detector, straight_run):
    config = make_config(tmp_path, "killed", tiny_detector, augment=AUGMENT, checkpoint_every=1)
    # killed while loading the 2nd batch of epoch 2 (step 6); the last step checkpoint is step 5
    with pytest.raises(RuntimeError, match="killed"):
        fit(config, train_dataset=CrashAfter(open_synthetic(DATA, split="train"), 8 * 5 + 3))
    state = torch.load(tmp_path / "killed" / "last.state.pt", weights_only=True)
    assert (state["epoch"], state["step_in_epoch"], state["global_step"]) == (1, 1, 5)
    resumed = fit(resume_config(config.out), resume=True)
    assert resumed.steps == 8
    assert_same_weights(weights(resumed.last_checkpoint), weights(straight_run.last_checkpoint))
    assert [r["val_loss"] for r in resumed.history] == pytest.approx([r["val_loss"] for r in straight_run.history])


def test_resume_guards(tmp_path, tiny_detector, straight_run):
    with pytest.raises(InpaintscopeError, match="already holds a run"):
        fit(make_config(straight_run.run_dir.parent, "straight", tiny_detector))
    with pytest.raises(InpaintscopeError, match="cannot change"):
        resume_config(straight_run.run_dir, {"lr": 1.0})
    with pytest.raises(InpaintscopeError, match="not a resumable run folder"):
        resume_config(tmp_path / "nowhere")
    # resuming a finished run does nothing more
    again = fit(resume_config(straight_run.run_dir), resume=True)
    assert again.steps == 8 and len(again.history) == 2


# ---- crash-consistent checkpoints: kill -9 anywhere, then resume -------------------------------

WORKER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from conftest import register_tiny_detector
    from inpaintscope.cli.main import main

    register_tiny_detector()
    main(sys.argv[1:])
""")


def start_train(tmp_path: Path, *args: str, kill_at: str | None = None, pause: float | None = None) -> subprocess.Popen:
    """``inpaintscope train ARGS`` in a new process; ``kill_at`` makes it SIGKILL itself while saving,
    ``pause`` makes every save wait that many seconds between its two files."""
    script = tmp_path / "train_worker.py"
    script.write_text(WORKER.format(tests=str(Path(__file__).resolve().parent)))
    env = {k: v for k, v in os.environ.items() if k not in (KILL_ENV, PAUSE_ENV)}
    if kill_at:
        env[KILL_ENV] = kill_at
    if pause:
        env[PAUSE_ENV] = str(pause)
    return subprocess.Popen(
        [sys.executable, str(script), "train", *args, "--no-progress"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def assert_same_run(result, straight) -> None:
    assert result.steps == straight.steps
    assert_same_weights(weights(result.last_checkpoint), weights(straight.last_checkpoint))
    assert_same_weights(weights(result.checkpoint), weights(straight.checkpoint))
    assert [r["val_loss"] for r in result.history] == pytest.approx([r["val_loss"] for r in straight.history])


@pytest.mark.parametrize("kill_at", ["state@1", "between@1", "state@5", "between@8"])
def test_kill9_while_saving_then_resume_equals_straight_run(tmp_path, tiny_detector, straight_run, kill_at, capfd):
    # checkpoint_every=1: save n is made after step n (8 steps); "state": killed with last.state.pt half
    # written, "between": killed after last.state.pt, before last.safetensors
    config = make_config(tmp_path, "killed", tiny_detector, augment=AUGMENT, checkpoint_every=1)
    proc = start_train(tmp_path, "--config", str(config.save(tmp_path / "config.yaml")), kill_at=kill_at)
    _, stderr = proc.communicate(timeout=240)
    assert proc.returncode == -signal.SIGKILL, stderr[-3000:]
    run, (point, n) = Path(config.out), kill_at.split("@")
    saved_step = int(n) if point == "between" else int(n) - 1  # the newest complete checkpoint
    state_file = run / "last.state.pt"
    assert (torch.load(state_file, weights_only=True)["global_step"] if state_file.exists() else 0) == saved_step
    assert bool(list(run.glob(".tmp-*"))) == (point == "state")  # the half-written file, never trusted
    if point == "between":  # the weights file is one save behind (or missing): resume must not mind
        assert last_weights_step(run) == (int(n) - 1 if int(n) > 1 else None)
    capfd.readouterr()
    resumed = fit(resume_config(run), resume=True)
    assert ("starting it over in place" in capfd.readouterr().err) == (saved_step == 0)
    assert_same_run(resumed, straight_run)
    assert last_weights_step(run) == 8


def test_a_fresh_run_refuses_a_folder_that_is_not_a_run_of_ours(tmp_path, tiny_detector, monkeypatch):
    from inpaintscope.train import engine

    def never(*args, **kwargs):
        raise AssertionError("the run folder must be checked before the data is opened")

    def reached(*args, **kwargs):
        raise RuntimeError("the run folder was accepted")

    monkeypatch.setattr(engine, "build_run", never)
    config = make_config(tmp_path, "run", tiny_detector)
    run = Path(config.out)
    run.mkdir()
    # a copy of another run's config.yaml, put here by hand: our format, but not written by a run into this folder
    config.with_overrides({"out": str(tmp_path / "elsewhere")}).save(run / "config.yaml")
    (run / "metrics.jsonl").write_text("my numbers\n")
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    with pytest.raises(InpaintscopeError, match="is not empty .* not a run folder of ours"):
        fit(config)
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    # hidden files (a file manager's, our own partial writes) do not make a folder someone's
    for name in before:
        (run / name).unlink()
    (run / ".DS_Store").write_text("x")
    monkeypatch.setattr(engine, "build_run", reached)
    with pytest.raises(RuntimeError, match="was accepted"):
        fit(config)


def test_restart_in_place_when_no_checkpoint_is_complete(tmp_path, tiny_detector, straight_run, capfd):
    config = make_config(tmp_path, "restart", tiny_detector, augment=AUGMENT, checkpoint_every=1)
    with pytest.raises(RuntimeError, match="killed"):  # killed during step 1, before any checkpoint
        fit(config, train_dataset=CrashAfter(open_synthetic(DATA, split="train"), 3))
    assert (tmp_path / "restart" / "config.yaml").is_file() and not (tmp_path / "restart" / "last.state.pt").exists()
    capfd.readouterr()
    assert_same_run(fit(config), straight_run)  # not refused as "already holds a run"
    note = [line for line in capfd.readouterr().err.splitlines() if "holds no complete checkpoint" in line]
    assert len(note) == 1 and "starting it over in place" in note[0]
    # an older run killed between its two files (weights of step 6, state of step 5, no weights inside
    # the state) has no complete checkpoint either: it is started over, not refused forever
    legacy = tmp_path / "legacy"
    shutil.copytree(config.out, legacy)
    state = torch.load(legacy / "last.state.pt", weights_only=True)
    state = {k: v for k, v in state.items() if k not in ("model", "format")}
    state.update(epoch=1, step_in_epoch=1, global_step=5)
    torch.save(state, legacy / "last.state.pt")
    info = read_checkpoint_info(legacy / "last.safetensors")
    save_checkpoint(legacy / "last.safetensors", weights(legacy / "last.safetensors"), {**info, "step": 6})
    restarted = fit(resume_config(legacy), resume=True)
    assert "starting it over in place" in capfd.readouterr().err
    assert_same_run(restarted, straight_run)


def test_an_old_run_folder_resumes(tmp_path, tiny_detector, straight_run):
    """Flat augmentation keys in config.yaml, weights only in last.safetensors: what older versions wrote."""
    first = fit(make_config(tmp_path, "old", tiny_detector, augment=AUGMENT, epochs=1))
    run = first.run_dir
    state = torch.load(run / "last.state.pt", weights_only=True)
    torch.save({k: v for k, v in state.items() if k not in ("model", "format")}, run / "last.state.pt")
    old = yaml.safe_load((run / "config.yaml").read_text())
    old.update(old.pop("augment"))
    (run / "config.yaml").write_text(yaml.safe_dump(old, sort_keys=False))
    with pytest.warns(FutureWarning, match=r"flat key\(s\) crop, hflip, vflip, rot90 are deprecated"):
        config = resume_config(run, {"epochs": 2})
    assert config.augment == AugmentConfig(**AUGMENT)
    assert_same_run(fit(config, resume=True), straight_run)
    assert yaml.safe_load((run / "config.yaml").read_text())["augment"] == {**AugmentConfig().__dict__, **AUGMENT}


@pytest.mark.slow
def test_kill9_at_random_times_then_resume_equals_straight_run(tmp_path, tiny_detector, straight_run):
    config = make_config(tmp_path, "random", tiny_detector, augment=AUGMENT, checkpoint_every=1)
    run, rng = Path(config.out), random.Random(0)
    args = ["--config", str(config.save(tmp_path / "config.yaml"))]
    interrupted = 0
    for _ in range(3):
        before = (run / "config.yaml").stat().st_mtime_ns if (run / "config.yaml").exists() else None
        # each of the 8 saves pauses 0.1 s between its two files: a whole session outlasts the first
        # kill on any machine, and many kills land inside a save
        proc = start_train(tmp_path, *args, pause=0.1)
        # wait until this session has set up (imports alone take seconds), then kill it at a random moment
        while proc.poll() is None and (
            not (run / "config.yaml").exists() or (run / "config.yaml").stat().st_mtime_ns == before
        ):
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.6))
        proc.send_signal(signal.SIGKILL)
        _, stderr = proc.communicate(timeout=240)
        assert proc.returncode in (0, -signal.SIGKILL), stderr[-3000:]
        interrupted += proc.returncode == -signal.SIGKILL
        args = ["--resume", str(run)]
    assert interrupted >= 1
    assert_same_run(fit(resume_config(run), resume=True), straight_run)


# ---- a last.state.pt that is not ours ----------------------------------------------------------


class Payload:
    """Pickles to a call of ``open(path, "w")``: loading it unsafely would create ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def test_a_malicious_state_file_is_refused_in_one_line(tmp_path, tiny_detector, straight_run):
    from click.testing import CliRunner

    from inpaintscope.cli.main import cli

    run = tmp_path / "run"
    shutil.copytree(straight_run.run_dir, run)
    marker = tmp_path / "pwned"
    torch.save({"epoch": Payload(marker), "global_step": 8}, run / "last.state.pt")
    result = CliRunner().invoke(cli, ["train", "--resume", str(run), "--no-progress"])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [result.output.strip()]
    assert f"{run / 'last.state.pt'}: refused" in result.output and "Traceback" not in result.output
    assert not marker.exists()
    with pytest.raises(InpaintscopeError, match="refused"):  # nor does a fresh run overwrite it
        fit(make_config(tmp_path, "run", tiny_detector))
    assert not marker.exists()


@pytest.mark.parametrize(
    "content, message",
    [
        ("list", "not a training state"),
        ("truncated", "refused"),
        ("no counters", "not a training state"),
        ("other model", "does not fit this run's model"),
    ],
)
def test_unusable_state_files_are_one_line_errors(tmp_path, tiny_detector, straight_run, content, message):
    run = tmp_path / "run"
    shutil.copytree(straight_run.run_dir, run)
    path = run / "last.state.pt"
    state = torch.load(path, weights_only=True)
    if content == "list":
        torch.save([1, 2, 3], path)
    elif content == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif content == "no counters":
        torch.save({k: v for k, v in state.items() if k != "global_step"}, path)
    else:
        torch.save({**state, "model": {k: torch.zeros(2) for k in state["model"]}}, path)
    with pytest.raises(InpaintscopeError, match=message) as caught:
        fit(resume_config(run), resume=True)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)


# ---- one collation for training, validation and evaluation ---------------------------------------


def test_train_validation_and_evaluate_share_one_collation(tmp_path, tiny_detector, monkeypatch):
    real, seen = batching.collate_samples, []

    def spy(items):
        batch = real(items)
        seen.append(tuple(batch["image"].shape))
        return batch

    monkeypatch.setattr(batching, "collate_samples", spy)
    result = fit(make_config(tmp_path, "spy", tiny_detector, epochs=1, augment={"crop": 48}))
    # 32 training items at batch 8, cropped to 48²; then 32 validation items at their 64²
    assert seen == [(8, 3, 48, 48)] * 4 + [(8, 3, 64, 64)] * 4
    seen.clear()
    evaluate(result.model, open_synthetic(DATA, split="val"), batch_size=8)
    assert seen == [(8, 3, 64, 64)] * 4


def test_same_size_batches_keep_order_and_split_at_size_changes():
    def item(size: int, k: int) -> dict:
        return {
            "image": torch.full((3, size, size), float(k)),
            "mask": torch.zeros(1, size, size),
            "label": k % 2,
            "meta": {"id": k},
        }

    items = [item(8, 0), item(8, 1), item(16, 2), item(8, 3)]
    batches = list(batching.same_size_batches(items))
    assert [tuple(b["image"].shape) for b in batches] == [(2, 3, 8, 8), (1, 3, 16, 16), (1, 3, 8, 8)]
    assert [m["id"] for b in batches for m in b["meta"]] == [0, 1, 2, 3]
    assert batches[0]["label"].dtype == torch.int64 and batches[0]["label"].tolist() == [0, 1]
    assert batches[0]["image"][1, 0, 0, 0] == 1.0
    with pytest.raises(ShapeError, match="differ in size.*augment.crop"):
        batching.collate_samples(items[1:3])


def test_step_budget_and_amp_on_cpu(tmp_path, tiny_detector):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit(
            make_config(tmp_path, "budget", tiny_detector, max_steps=6, epochs=5, amp="bf16", schedule="cosine")
        )
    assert any("needs CUDA" in str(w.message) for w in caught)
    assert result.steps == 6 and [r["partial"] for r in result.history] == [False, True]
    # cosine over 5 epochs, stepped once (the partial epoch does not step the schedule)
    assert result.history[1]["lr"] == pytest.approx(3e-2 * (1 + np.cos(np.pi / 5)) / 2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("amp", ["none", "bf16", "fp16"])
def test_cuda_training_with_amp(tmp_path, tiny_detector, amp):
    result = fit(make_config(tmp_path, f"cuda-{amp}", tiny_detector, device="cuda", amp=amp, epochs=3))
    assert all(np.isfinite(r["val_loss"]) for r in result.history)
    assert result.history[-1]["val_loss"] < result.history[0]["val_loss"]
    assert next(result.model.parameters()).is_cuda


def test_max_minutes_budget_stops_training(tmp_path):
    """A tiny wall-clock budget stops after the first step, validates, and writes the checkpoint."""
    from inpaintscope.train import TrainConfig, fit

    cfg = TrainConfig(
        model="scope_tiny",
        data=["synthetic:16x32"],
        batch_size=4,
        epochs=50,
        max_minutes=1e-6,
        device="cpu",
        out=str(tmp_path / "run"),
        progress=False,
    )
    result = fit(cfg)
    assert result.steps == 1 and len(result.history) == 1
    assert (tmp_path / "run" / "best.safetensors").is_file()


def test_crop_missing_the_region_relabels_as_authentic():
    import torch

    from inpaintscope.train import AugmentConfig, AugmentedDataset

    mask = torch.zeros(1, 64, 64)
    mask[:, :8, :8] = 1  # region in one corner: most 16² crops miss it
    item = {"image": torch.rand(3, 64, 64), "mask": mask, "label": torch.tensor(1), "meta": {}}
    ds = AugmentedDataset([item] * 40, AugmentConfig(16, False, False, False), seed=0)
    seen = {(bool(it["mask"].any()), int(it["label"])) for it in (ds[i] for i in range(40))}
    assert seen == {(True, 1), (False, 0)}


def test_init_starts_from_given_weights(tmp_path):
    import torch

    from inpaintscope.models import create_model, save_checkpoint
    from inpaintscope.train import TrainConfig, fit

    source = create_model("scope_tiny")
    with torch.no_grad():
        for p in source.parameters():
            p.add_(0.5)
    save_checkpoint(tmp_path / "init.safetensors", source.state_dict(), {"model": "scope_tiny"})
    cfg = TrainConfig(
        model="scope_tiny",
        init=str(tmp_path / "init.safetensors"),
        data=["synthetic:8x32"],
        batch_size=4,
        epochs=1,
        max_steps=1,
        lr=1e-12,
        val_split=None,
        device="cpu",
        out=str(tmp_path / "run"),
        progress=False,
    )
    trained = fit(cfg).model.state_dict()
    for key, value in source.state_dict().items():
        if value.is_floating_point() and "running" not in key:
            assert torch.allclose(trained[key].cpu(), value, atol=1e-6), key
