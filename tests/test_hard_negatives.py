"""Hard-negative mining: the kept photos are exactly the flagged authentic ones of the mined split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch.utils.data import Subset

from inpaintscope.cli.main import cli
from inpaintscope.data.builder import BuildConfig, build_dataset
from inpaintscope.data.hard_negatives import mine_hard_negatives
from inpaintscope.data.readers import ManifestDataset, open_dataset
from inpaintscope.errors import InpaintscopeError
from inpaintscope.evaluate import evaluate
from inpaintscope.io import write_image
from inpaintscope.models import create_model, load_detector, save_checkpoint


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("mine")
    rng = np.random.default_rng(5)
    for i in range(8):
        # photos of varied noise so a noise-energy detector scores them differently
        img = np.clip(128 + rng.normal(0, 2 + 6 * i, (64, 80, 3)), 0, 255).astype(np.uint8)
        write_image(base / "src" / f"p{i}.png", img)
    cfg = BuildConfig(
        masks=("rectangle",), inpainters=("telea",), modes=("realfake",), size=64, split="train=0.5,test=0.5", seed=3
    )
    build_dataset([base / "src"], base / "photos", cfg, workers=1, progress=False)
    return base / "photos"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, tiny_detector: str) -> Path:
    torch.manual_seed(0)
    model = create_model(tiny_detector)
    return save_checkpoint(
        tmp_path_factory.mktemp("ckpt") / "tiny.safetensors",
        model.state_dict(),
        {"model": tiny_detector, "kwargs": {}, "preprocessing": model.preprocessing.to_dict()},
    )


def _authentic_scores(checkpoint: Path, dataset: Path, split: str) -> dict[str, float]:
    ds = open_dataset(dataset, split=split)
    idx = [i for i, e in enumerate(ds.entries) if e[2] == 0]
    report = evaluate(load_detector(checkpoint), Subset(ds, idx), batch_size=1)
    assert all(r["pred_area"] < 1.0 for r in report.per_image)
    return {ds.entries[i][3]["id"]: r["score"] for i, r in zip(idx, report.per_image)}


def test_keeps_exactly_the_flagged_photos_of_the_split(tmp_path: Path, checkpoint: Path, dataset: Path) -> None:
    scores = _authentic_scores(checkpoint, dataset, "train")
    ranked = sorted(scores.values())
    assert len(set(ranked)) == len(ranked) >= 3
    cut = (ranked[1] + ranked[2]) / 2  # all but the two lowest scores reach it
    out = tmp_path / "hard"
    summary = mine_hard_negatives(
        checkpoint, [dataset], out, split="train", min_score=cut, min_area=1.0, echo=lambda s: None
    )
    want = {f"photos__{k}" for k, v in scores.items() if v >= cut}
    mined = ManifestDataset(out, split="train")
    assert {e[3]["id"] for e in mined.entries} == want and summary["kept"] == len(want) == len(scores) - 2
    assert mined.labels() == [0] * len(want)
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    source = {e[3]["id"]: e[0] for e in open_dataset(dataset, split="train").entries if e[2] == 0}
    for rec in records:
        assert rec["mined"]["score"] == pytest.approx(scores[rec["mined"]["id"]])
        assert (out / rec["files"]["original"]).read_bytes() == source[rec["mined"]["id"]].read_bytes()
    assert not any("test" in str(p.relative_to(out)).split("/")[0] for p in out.rglob("*.png"))


def test_rerun_does_nothing_other_settings_and_foreign_folders_are_refused(
    tmp_path: Path, checkpoint: Path, dataset: Path
) -> None:
    out = tmp_path / "hard"
    first = mine_hard_negatives(checkpoint, [dataset], out, min_score=0.0, echo=lambda s: None)
    said = []
    assert mine_hard_negatives(checkpoint, [dataset], out, min_score=0.0, echo=said.append) == first
    assert "already mined" in said[0]
    with pytest.raises(InpaintscopeError, match="other settings"):
        mine_hard_negatives(checkpoint, [dataset], out, min_score=0.5, echo=lambda s: None)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(InpaintscopeError, match="not empty"):
        mine_hard_negatives(checkpoint, [dataset], foreign, echo=lambda s: None)
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_cli_mines_and_reports_in_one_line(tmp_path: Path, checkpoint: Path, dataset: Path) -> None:
    out = tmp_path / "hard"
    args = ["dataset", "hard-negatives", str(dataset), str(out), "--model", str(checkpoint), "--min-score", "0", "-q"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "4 of 4 authentic train photos flagged" in result.output
    fresh = tmp_path / "fresh"
    bad = CliRunner().invoke(
        cli,
        ["dataset", "hard-negatives", str(dataset), str(fresh), "--model", str(checkpoint), "--split", "nope", "-q"],
    )
    assert bad.exit_code == 2 and "no authentic photos in split 'nope'" in bad.output
    assert not fresh.exists()  # refused before anything was written


def _report_layout(root: Path) -> dict[str, bytes]:
    """A dataset in the report's layout whose two photos share a key in different sub-folders."""
    rng = np.random.default_rng(9)
    made = {}
    for sub in ("a", "b"):
        path = root / "train" / sub / "k.original.png"
        write_image(path, rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))
        made[sub] = path.read_bytes()
    return made


def test_photos_sharing_a_key_stay_apart_and_unreadable_ones_are_skipped(tmp_path: Path, checkpoint: Path) -> None:
    made = _report_layout(tmp_path / "rep")
    (tmp_path / "rep" / "train" / "c").mkdir()
    (tmp_path / "rep" / "train" / "c" / "bad.original.png").write_bytes(b"not a png")
    said: list[str] = []
    summary = mine_hard_negatives(checkpoint, [tmp_path / "rep"], tmp_path / "hard", min_score=0.0, echo=said.append)
    records = {r["id"]: r for r in map(json.loads, (tmp_path / "hard" / "manifest.jsonl").open())}
    assert summary["kept"] == 2 and sorted(records) == ["rep__train__a__k", "rep__train__b__k"]
    got = sorted((tmp_path / "hard" / r["files"]["original"]).read_bytes() for r in records.values())
    assert got == sorted(made.values())
    skipped = summary["per_source"][str((tmp_path / "rep").resolve())]["skipped"]
    assert [Path(s["path"]).name for s in skipped] == ["bad.original.png"]
    assert any("skipped" in line and "bad.original.png" in line for line in said)


def test_a_stopped_mining_is_not_a_dataset_and_resumes_with_the_next_source(
    tmp_path: Path, checkpoint: Path, dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    import inpaintscope.evaluate as evaluate_module

    second = tmp_path / "photos2"
    shutil.copytree(dataset, second)
    sources, out = [dataset, second], tmp_path / "hard"
    calls: list[int] = []

    def stop_on_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the user pressed Ctrl-C while the second source was scored
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(evaluate_module, "evaluate", stop_on_second)
    with pytest.raises(KeyboardInterrupt):
        mine_hard_negatives(checkpoint, sources, out, min_score=0.0, echo=lambda s: None)
    assert not out.exists()  # nothing a reader could take for a (half) dataset
    said: list[str] = []
    resumed = mine_hard_negatives(checkpoint, sources, out, min_score=0.0, echo=said.append)
    assert len(calls) == 3 and "resuming" in said[0]  # the first source was not scored again
    monkeypatch.undo()
    whole = mine_hard_negatives(checkpoint, sources, tmp_path / "whole", min_score=0.0, echo=lambda s: None)
    assert resumed["per_source"] == whole["per_source"]
    assert (out / "manifest.jsonl").read_text() == (tmp_path / "whole" / "manifest.jsonl").read_text()
    assert not list(tmp_path.glob(".*.mining"))


def test_places_splits_and_settings_are_checked(
    tmp_path: Path, checkpoint: Path, dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    quiet = {"echo": lambda s: None}
    with pytest.raises(InpaintscopeError, match="inside the dataset"):
        mine_hard_negatives(checkpoint, [dataset], dataset / "train" / "hard", **quiet)
    with pytest.raises(InpaintscopeError, match="one split name"):
        mine_hard_negatives(checkpoint, [dataset], tmp_path / "hard", split="val,train", **quiet)
    out = tmp_path / "hard"
    mine_hard_negatives(checkpoint, [dataset], out, min_score=0.0, **quiet)
    monkeypatch.chdir(dataset.parent)  # the same places written another way: the same mining
    said: list[str] = []
    mine_hard_negatives(checkpoint, [f"./{dataset.name}"], out, min_score=0.0, echo=said.append)
    assert "already mined" in said[0]
    with pytest.raises(InpaintscopeError, match="other settings"):
        mine_hard_negatives(checkpoint, [dataset], out, min_score=0.0, tile=32, **quiet)


def test_clashing_ids_a_bad_device_and_a_finished_mining_in_the_way_are_refused(
    tmp_path: Path, checkpoint: Path, dataset: Path
) -> None:
    quiet = {"echo": lambda s: None, "min_score": 0.0}
    rng = np.random.default_rng(4)
    for rel in ("train/a/deep/k.original.png", "train/a__deep/k.original.png"):
        write_image(tmp_path / "rep" / rel, rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))
    with pytest.raises(InpaintscopeError, match="would both be mined as 'rep__train__a__deep__k'"):
        mine_hard_negatives(checkpoint, [tmp_path / "rep"], tmp_path / "hard", **quiet)
    with pytest.raises(InpaintscopeError, match="device"):
        mine_hard_negatives(checkpoint, [dataset], tmp_path / "hard", device="bogus", **quiet)
    assert not list(tmp_path.glob(".*")) and not (tmp_path / "hard").exists()
    mine_hard_negatives(checkpoint, [dataset], tmp_path / ".z.mining", **quiet)  # someone's finished mining
    with pytest.raises(InpaintscopeError, match="holds a finished mining"):
        mine_hard_negatives(checkpoint, [dataset], tmp_path / "z", split="test", **quiet)
    assert (tmp_path / ".z.mining" / "manifest.jsonl").is_file()
