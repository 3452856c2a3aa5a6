"""``inpaintscope train`` (and train → evaluate) through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from inpaintscope.cli.main import cli
from inpaintscope.data.synthetic import open_synthetic
from inpaintscope.io import write_image
from inpaintscope.train import AugmentConfig, TrainConfig


def run(*args: str):
    return CliRunner().invoke(cli, [*args])


def test_cli_train_config_set_and_options_then_resume(tmp_path, tiny_detector):
    (tmp_path / "c.yaml").write_text(f"model: {tiny_detector}\nloss: focal\nlr: 0.5\nbatch_size: 8\n")
    out = tmp_path / "run"
    result = run(
        "train",
        "--config",
        str(tmp_path / "c.yaml"),
        "--set",
        "lr=0.01",
        "--set",
        "loss=bce",
        "--data",
        "synthetic:16x32",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--out",
        str(out),
        "--no-progress",
    )
    assert result.exit_code == 0, result.output
    assert "best epoch 1" in result.output and "validation: loss" in result.output and "f1@0.5" in result.output
    config = TrainConfig.from_yaml(out / "config.yaml")  # YAML < --set < explicit options
    got = (config.model, config.loss, config.lr, config.batch_size, config.epochs)
    assert got == (tiny_detector, "bce", 0.01, 4, 1)
    assert config.data == ["synthetic:16x32"]
    resumed = run("train", "--resume", str(out), "--epochs", "2", "--no-progress")
    assert resumed.exit_code == 0, resumed.output
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [4, 8]  # 16 images at batch 4: 4 steps per epoch
    assert TrainConfig.from_yaml(out / "config.yaml").epochs == 2  # the saved config records the new budget


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "nope", "--data", "synthetic:8"], "unknown model 'nope'"),
        (["--data", "synthetic:8", "--set", "nope=1"], "unknown config key"),
        (["--data", "synthetic:8", "--set", "lr"], "key=value"),
        (["--config", "missing.yaml"], "config file not found"),
        (["--model", "{tiny}"], "no data given"),
        (["--model", "{tiny}", "--data", "no/such/folder"], "no/such/folder"),
        (["--resume", "no/such/run"], "not a resumable run folder"),
        (["--model", "{tiny}", "--data", "synthetic:8", "--device", "tpu"], "device must be one of"),
        (["--model", "{tiny}", "--data", "synthetic:8", "--loss", "focal+hinge"], "unknown loss 'hinge'"),
        (["--data", "synthetic:8", "--seed", "-1"], "seed must be an integer in [0, 2^63), got -1"),
        (["--data", "synthetic:8", "--set", "seed=-1"], "seed must be an integer in [0, 2^63), got -1"),
        (["--data", "synthetic:8", "--set", "lr=1e400"], "lr must be > 0 and finite, got inf"),
        (
            ["--data", "synthetic:8", "--set", "model_kwargs.bogus=1"],
            "model 'scope_tiny': got an unexpected keyword argument 'bogus'; it accepts: depths,",
        ),
    ],
)
def test_cli_train_bad_input_exits_2_without_traceback(tmp_path, tiny_detector, args, message):
    args = [a.replace("{tiny}", tiny_detector) for a in args]
    result = run("train", *args, "--out", str(tmp_path / "r"), "--no-progress")
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def _write_folder_dataset(root, split: str, n: int) -> None:
    """Synthetic items as lossless PNGs in the readers' ``images/`` + ``masks/`` layout."""
    for k, item in enumerate(open_synthetic(f"synthetic:{n}x40", split=split)):
        image = np.round(item["image"].numpy().transpose(1, 2, 0) * 255).astype(np.uint8)
        write_image(root / split / "images" / f"{k:03d}.png", image)
        if int(item["label"]) == 1:
            mask = (item["mask"][0].numpy() * 255).astype(np.uint8)
            write_image(root / split / "masks" / f"{k:03d}.png", np.repeat(mask[..., None], 3, axis=2))


def test_cli_train_then_evaluate_on_a_dataset_folder(tmp_path, tiny_detector):
    data = tmp_path / "data"
    _write_folder_dataset(data, "train", 16)
    _write_folder_dataset(data, "val", 8)
    result = run(
        "train",
        "--model",
        tiny_detector,
        "--data",
        str(data),
        "--crop",
        "32",
        "--epochs",
        "2",
        "--lr",
        "0.01",
        "--out",
        str(tmp_path / "run"),
        "--no-progress",
    )
    assert result.exit_code == 0, result.output
    ckpt = tmp_path / "run" / "best.safetensors"
    result = run(
        "evaluate", str(ckpt), "--data", str(data), "--split", "val", "--out", str(tmp_path / "ev"), "--no-progress"
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "ev" / "eval.json").read_text())
    assert report["counts"] == {"n_images": 8, "n_manipulated": 6, "n_authentic": 2, "n_auc_skipped": 0}
    assert report["metrics"]["auc_pixel"] is not None and report["info"]["checkpoint"] == str(ckpt)


def test_cli_train_reads_old_flat_augment_keys_with_a_one_line_warning(tmp_path, tiny_detector):
    (tmp_path / "old.yaml").write_text(f"model: {tiny_detector}\nloss: bce\nlr: 0.01\ncrop: 24\nhflip: false\n")
    out = tmp_path / "run"
    result = run(
        "train",
        "--config",
        str(tmp_path / "old.yaml"),
        "--data",
        "synthetic:8x32",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--out",
        str(out),
        "--no-progress",
    )
    assert result.exit_code == 0, result.output
    warned = [line for line in result.output.splitlines() if "deprecated" in line]
    assert len(warned) == 1 and warned[0].startswith(f"warning: {tmp_path / 'old.yaml'}: flat key(s) crop, hflip")
    assert "FutureWarning" not in result.output and "warnings.warn" not in result.output
    assert TrainConfig.from_yaml(out / "config.yaml").augment == AugmentConfig(crop=24, hflip=False)
    crop = run(
        "train",
        "--model",
        tiny_detector,
        "--data",
        "synthetic:8x32",
        "--crop",
        "16",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--out",
        str(tmp_path / "crop"),
        "--no-progress",
    )
    assert crop.exit_code == 0 and "warning" not in crop.output, crop.output
    assert TrainConfig.from_yaml(tmp_path / "crop" / "config.yaml").augment.crop == 16


def test_cli_train_never_overwrites_a_users_folder_or_file(tmp_path, tiny_detector):
    mine = tmp_path / "mine"
    mine.mkdir()
    files = {"config.yaml": "# my notes\nlr: 0.1\n", "metrics.jsonl": "my numbers\n", "curves.png": "my plot"}
    for name, text in files.items():
        (mine / name).write_text(text)
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"the user's photo")
    cases = [
        (mine, "is not empty (config.yaml, curves.png, metrics.jsonl) and is not a run folder of ours"),
        (photo, "photo.jpg is a file, not a folder; choose another --out"),
        (photo / "run", "photo.jpg, which is a file, not a folder; choose another --out"),
    ]
    for out, message in cases:
        result = run("train", "--model", tiny_detector, "--data", "synthetic:8", "--out", str(out), "--no-progress")
        assert result.exit_code == 2 and message in result.output, result.output
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert {name: (mine / name).read_text() for name in files} == files
    assert photo.read_bytes() == b"the user's photo"


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux's /sys, where nothing can be created")
def test_cli_train_and_evaluate_refuse_an_unwritable_out_before_working(tmp_path, tiny_detector):
    result = run("train", "--model", tiny_detector, "--data", "synthetic:8", "--out", "/sys/x", "--no-progress")
    assert result.exit_code == 2 and "cannot write into /sys/x" in result.output, result.output
    assert "epoch" not in result.output  # refused before training
    result = run("evaluate", "default", "--data", "synthetic:4x32", "--out", "/sys/x", "--no-progress")
    assert result.exit_code == 2 and "cannot write into /sys/x" in result.output, result.output
    assert "Traceback" not in result.output
