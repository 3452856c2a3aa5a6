"""evaluate(): streaming over a dataset, breakdowns, JSON/Markdown, tables and the CLI."""

from __future__ import annotations

import json
import math

import pytest
import torch
from click.testing import CliRunner
from torch.utils.data import Dataset

from inpaintscope.cli.main import cli
from inpaintscope.detection import DEFAULT_MODEL
from inpaintscope.errors import InpaintscopeError
from inpaintscope.evaluate import EvalReport, cross_method_table, evaluate
from inpaintscope.models import Detector, DetectorOutput, read_checkpoint_info, save_checkpoint

S5 = 1 / (1 + math.exp(-5))  # σ(5): the probability the planted detector gives "inpainted" pixels


class PlantedDetector(Detector):
    """Predicts +5 where the red channel > 0.5, else -5: the prediction is planted in the image.
    ``size_multiple`` 8 makes evaluate() pad the 4×4 images and crop the output back."""

    size_multiple = 8

    def forward(self, x: torch.Tensor) -> DetectorOutput:
        assert x.shape[-1] % 8 == 0 and x.shape[-2] % 8 == 0, "evaluate() must pad to size_multiple"
        return DetectorOutput(torch.where(x[:, :1] > 0.5, 5.0, -5.0))


def item(pred: list[tuple[int, int]], gt: list[tuple[int, int]], label: int, size: int = 4, **meta) -> dict:
    image, mask = torch.zeros(3, size, size), torch.zeros(1, size, size)
    for y, x in pred:
        image[0, y, x] = 1.0
    for y, x in gt:
        mask[0, y, x] = 1.0
    return {"image": image, "mask": mask, "label": torch.tensor(label), "meta": meta}


TOP_LEFT = [(0, 0), (0, 1), (1, 0), (1, 1)]


class ListDataset(Dataset):
    def __init__(self, items: list[dict]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


def planted_dataset() -> ListDataset:
    return ListDataset(
        [
            # m1: predicted top-left 2×2, GT that plus (2,0): TP 4, FP 0, FN 1 → F1 8/9, IoU 4/5
            item(TOP_LEFT, TOP_LEFT + [(2, 0)], 1, id="m1", inpainter="telea", mode="realfake", mask_kind="irregular"),
            # m2 (8×8, mixed sizes in one batch): empty GT, empty prediction → F1 = IoU = 1 by definition
            item([], [], 1, size=8, id="m2", inpainter="lama", mode="fakefake", mask_kind="irregular"),
            # a1: authentic, 2 of 16 pixels predicted → area 1/8
            item([(3, 3), (3, 2)], [], 0, id="a1", mode="authentic"),
        ]
    )


@pytest.mark.parametrize("batch_size", [1, 3])
def test_evaluate_planted_predictions(batch_size):
    report = evaluate(PlantedDetector(), planted_dataset(), batch_size=batch_size)
    m = report.metrics
    assert m["f1@0.5"] == pytest.approx((8 / 9 + 1.0) / 2)
    assert m["iou@0.5"] == pytest.approx((4 / 5 + 1.0) / 2)
    assert m["iou_pooled@0.5"] == pytest.approx(4 / 5)
    assert m["report_iou"] == pytest.approx(4 / 5)  # one batch: TP 4 / (4 + 0 + 1)
    # m1: 4 GT pixels at σ(5) beat 11 negatives; the missed one at σ(-5) ties them (1/2 each);
    # m2 has a single-class GT and is skipped
    assert m["auc_pixel"] == pytest.approx((4 * 11 + 11 / 2) / 55)
    assert report.counts == {"n_images": 3, "n_manipulated": 2, "n_authentic": 1, "n_auc_skipped": 1}
    # image score = max prob: m1 σ(5), m2 σ(-5), a1 σ(5) → m1 ties a1 (1/2), m2 loses → 1/4
    assert m["image_auc"] == pytest.approx(0.25)
    assert m["image_acc@0.5"] == pytest.approx(1 / 3)
    assert m["image_bacc@0.5"] == pytest.approx((1 / 2 + 0) / 2)  # m1 of 2 manipulated, 0 of 1 authentic
    assert m["authentic_fp_area"] == pytest.approx(2 / 16)
    assert report.breakdown["inpainter"]["telea"]["f1@0.5"] == pytest.approx(8 / 9)
    assert report.breakdown["mode"]["fakefake"]["iou@0.5"] == pytest.approx(1.0)
    assert report.breakdown["mask_kind"]["irregular"]["n_manipulated"] == 2
    assert [p["id"] for p in report.per_image] == ["m1", "m2", "a1"]
    assert report.per_image[0]["score"] == pytest.approx(S5)


def test_soft_ground_truth_is_scored_on_its_core():
    soft = item(TOP_LEFT, TOP_LEFT, 1)
    soft["mask"][0, 2, 0] = 0.5  # a blurred band pixel: not GT in "soft" mode
    report = evaluate(PlantedDetector(), ListDataset([soft]), gt_mode="soft")
    assert report.metrics["f1@0.5"] == pytest.approx(1.0)
    assert evaluate(PlantedDetector(), ListDataset([soft]), gt_mode="any").metrics["f1@0.5"] == pytest.approx(1.0)


def test_report_files_and_round_trip(tmp_path):
    report = evaluate(PlantedDetector(), planted_dataset(), info={"checkpoint": "x.safetensors"})
    json_path, md_path = report.save(tmp_path)
    loaded = EvalReport.load(json_path)
    assert loaded.metrics == report.metrics and loaded.breakdown == report.breakdown
    assert loaded.info["checkpoint"] == "x.safetensors" and loaded.info["gt_mode"] == "core"
    assert "ORACLE" in loaded.definitions["f1@best"]
    md = md_path.read_text()
    assert "| `f1@0.5` | 0.9444 |" in md and "## By inpainter" in md and "| telea |" in md


def test_cross_method_table():
    a = evaluate(PlantedDetector(), planted_dataset())
    b = EvalReport.from_dict(json.loads(a.to_json()))
    b.breakdown["mode"].pop("fakefake")
    table = cross_method_table([("trained on realfake", a), ("trained on fakefake", b)], by="mode", metric="f1@0.5")
    assert table.cols == ("fakefake", "realfake", "all") and table.rows[1] == "trained on fakefake"
    assert table.values[0] == pytest.approx((1.0, 8 / 9, (1 + 8 / 9) / 2))
    assert table.values[1][0] is None
    md = table.to_markdown()
    assert "| trained on realfake | 1.000 | 0.889 | 0.944 |" in md and "n/a" in md
    with pytest.raises(InpaintscopeError, match="unknown metric"):
        cross_method_table([("x", a)], metric="accuracy")
    with pytest.raises(InpaintscopeError, match="at least one"):
        cross_method_table([])


class FlakyDataset(ListDataset):
    """Item 1's files cannot be read (a mask deleted after the build, a truncated image)."""

    def __getitem__(self, i: int) -> dict:
        if i == 1:
            raise InpaintscopeError("data/train/x.mask.png: cannot read mask (no such file)")
        return super().__getitem__(i)


def test_an_unreadable_item_is_left_out_and_named_not_the_end_of_the_run():
    with pytest.warns(UserWarning) as caught:
        report = evaluate(PlantedDetector(), FlakyDataset(planted_dataset().items), batch_size=3)
    said = [str(w.message) for w in caught]
    assert said == [
        "left out of the evaluation: data/train/x.mask.png: cannot read mask (no such file)",
        "1 of 3 items could not be read and were left out of every metric",
    ]
    assert report.counts["n_images"] == 2 and report.counts["n_unreadable"] == 1
    assert report.info["unreadable"] == [{"unreadable": True, "index": 1, "error": said[0].split(": ", 1)[1]}]
    assert math.isclose(report.metrics["f1@0.5"], 8 / 9)  # m1 alone: m2 was the unreadable one
    assert "1 unreadable, left out" in report.to_markdown()
    with pytest.raises(InpaintscopeError, match="none of the 1 items could be read; the first: data/train"):
        evaluate(PlantedDetector(), _OnlyBad())


class _OnlyBad(FlakyDataset):
    """One item, unreadable."""

    def __init__(self) -> None:
        super().__init__([{}])

    def __getitem__(self, i: int) -> dict:
        return super().__getitem__(1)


def test_empty_dataset_is_a_user_error():
    with pytest.raises(InpaintscopeError, match="empty"):
        evaluate(PlantedDetector(), ListDataset([]))


# ---- CLI ---------------------------------------------------------------------------------


@pytest.fixture
def checkpoint(tmp_path, tiny_detector):
    from inpaintscope.models import create_model

    torch.manual_seed(0)
    model = create_model(tiny_detector)
    return save_checkpoint(
        tmp_path / "tiny.safetensors",
        model.state_dict(),
        {
            "model": tiny_detector,
            "kwargs": {},
            "preprocessing": model.preprocessing.to_dict(),
            "config": {"modes": ["realfake"]},
        },
    )


def test_cli_evaluate_writes_json_and_markdown(tmp_path, checkpoint):
    out = tmp_path / "eval"
    result = CliRunner().invoke(
        cli,
        [
            "evaluate",
            str(checkpoint),
            "--data",
            "synthetic:8x32",
            "--split",
            "val",
            "--out",
            str(out),
            "--no-progress",
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "`f1@0.5`" in result.output and "## By inpainter" in result.output
    report = EvalReport.load(out / "eval.json")
    assert report.counts["n_images"] == 8 and report.counts["n_authentic"] == 2
    assert (out / "eval.md").read_text().startswith("# Evaluation")


def test_cli_evaluate_tiles_like_detect_unless_told_not_to(tmp_path, checkpoint):
    for args, tile, overlap in (
        (["--tile", "32", "--overlap", "8"], 32, 8),
        (["--no-tile"], None, None),
        ([], 1024, 128),
    ):
        out = tmp_path / f"tile{tile}"
        result = CliRunner().invoke(
            cli,
            [
                "evaluate",
                str(checkpoint),
                "--data",
                "synthetic:4x64",
                "--split",
                "val",
                "--out",
                str(out),
                "--no-progress",
                "--device",
                "cpu",
                *args,
            ],
        )
        assert result.exit_code == 0, result.output
        info = EvalReport.load(out / "eval.json").info
        assert (info["tile"], info["overlap"]) == (tile, overlap)


def test_cli_evaluate_refuses_a_tile_too_small_for_the_overlap_in_one_line(tmp_path, checkpoint):
    # the images (64 px) fit in the tile, so nothing but the check itself can refuse it
    base = ["evaluate", str(checkpoint), "--data", "synthetic:4x64", "--split", "val", "--no-progress"]
    out = tmp_path / "eval"
    result = CliRunner().invoke(cli, [*base, "--device", "cpu", "--tile", "64", "--out", str(out)])  # overlap 128
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and not out.exists()
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert lines == ["error: --tile 64 is too small for --overlap 128: use --tile 272 or more, or --overlap 24 or less"]
    # the sizes it suggests work, and --no-tile needs no overlap check
    for args in (["--tile", "272"], ["--tile", "64", "--overlap", "24"], ["--tile", "64", "--no-tile"]):
        assert CliRunner().invoke(cli, [*base, *args]).exit_code == 0


def test_cli_evaluate_table(tmp_path, checkpoint):
    result = CliRunner().invoke(
        cli,
        [
            "evaluate",
            "--table",
            str(checkpoint),
            str(checkpoint),
            "--data",
            "synthetic:8x32",
            "--by",
            "inpainter",
            "--metric",
            "auc_pixel",
            "--no-progress",
            "--out",
            str(tmp_path / "t"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "box_blur | smooth_fill | all" in result.output and "tiny (realfake)" in result.output
    assert json.loads((tmp_path / "t" / "table.json").read_text())["metric"] == "auc_pixel"
    # the same checkpoint twice (or run/best in two experiment folders): two reports, not one
    assert sorted(p.name for p in (tmp_path / "t").glob("eval-*.json")) == [
        f"eval-{tmp_path.name}-tiny-2.json",
        f"eval-{tmp_path.name}-tiny.json",
    ]


def test_cli_evaluate_never_overwrites_a_report_it_finds(tmp_path, checkpoint):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "eval.md").write_text("my own notes")
    args = ["evaluate", str(checkpoint), "--data", "synthetic:8x32", "--no-progress", "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "eval.md already exists and is never overwritten" in result.output
    assert (out / "eval.md").read_text() == "my own notes" and not (out / "eval.json").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.safetensors", "--data", "synthetic:8"], "checkpoint not found"),
        ([], "give a checkpoint"),
        (["{ckpt}", "{ckpt}", "--data", "synthetic:8"], "add --table"),
        (["{ckpt}"], "no data given"),
        (["{ckpt}", "--data", "synthetic:eight"], "bad synthetic data spec"),
        (["{ckpt}", "--data", "synthetic:8", "--metric", "nope", "--table"], "unknown metric"),
        (["{ckpt}", "--data", "synthetic:8", "--batch-size", "0"], "Invalid value for '--batch-size'"),
        (
            ["{ckpt}", "--data", "synthetic:8", "--out", "{ckpt}/eval"],
            "which is a file, not a folder; choose another --out",
        ),
    ],
)
def test_cli_evaluate_bad_input_exits_2_without_traceback(checkpoint, args, message):
    args = [a.replace("{ckpt}", str(checkpoint)) for a in args]
    result = CliRunner().invoke(cli, ["evaluate", "--no-progress", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_cli_evaluate_not_a_checkpoint(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    result = CliRunner().invoke(cli, ["evaluate", str(bad), "--data", "synthetic:8", "--no-progress"])
    assert result.exit_code == 2 and "not a safetensors checkpoint" in result.output


# --------------------------------------------------------------------------- model names, labels, subsets


def test_cli_evaluate_accepts_shipped_model_names(tmp_path):
    out = tmp_path / "eval"
    result = CliRunner().invoke(
        cli,
        [
            "evaluate",
            "default",
            "--data",
            "synthetic:4x32",
            "--split",
            "val",
            "--out",
            str(out),
            "--no-progress",
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    info = EvalReport.load(out / "eval.json").info
    assert info["checkpoint"] == "default" and info["model"] == read_checkpoint_info(DEFAULT_MODEL)["model"]
    unknown = CliRunner().invoke(cli, ["evaluate", "no_such_model", "--data", "synthetic:4x32", "--no-progress"])
    assert unknown.exit_code == 2 and "neither a checkpoint file nor a shipped model" in unknown.stderr


def _run_folder(root, name, checkpoint, stem="best"):
    import shutil

    run = root / name
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.yaml").write_text("model: tiny\n")
    return shutil.copy(checkpoint, run / f"{stem}.safetensors")


def test_checkpoint_labels_name_runs_by_their_folder(tmp_path, checkpoint):
    from inpaintscope.evaluate.tables import checkpoint_labels

    a = _run_folder(tmp_path / "runs", "a", checkpoint)
    a_cal = _run_folder(tmp_path / "runs", "a", checkpoint, stem="calibrated")
    b = _run_folder(tmp_path / "runs", "b", checkpoint)
    loose = tmp_path / "other" / "best.safetensors"  # not in a run folder: named after the file
    loose.parent.mkdir()
    loose.write_bytes(b"x")
    assert checkpoint_labels([a, a_cal, b, checkpoint, loose]) == ["a", "a/calibrated", "b", "tiny", "best"]
    assert checkpoint_labels([checkpoint, checkpoint]) == ["tiny", "tiny"]  # the same file twice
    # two different files that would both be "a": every row gets its path instead
    other_a = tmp_path / "other" / "a.safetensors"
    other_a.write_bytes(b"x")
    assert checkpoint_labels([a, other_a]) == [str(a), str(other_a)]


def test_cli_evaluate_table_rows_are_run_folders_or_labels(tmp_path, checkpoint):
    a = _run_folder(tmp_path / "runs", "a", checkpoint)
    b = _run_folder(tmp_path / "runs", "b", checkpoint)
    base = ["evaluate", "--table", str(a), str(b), "--data", "synthetic:4x32", "--no-progress", "--device", "cpu"]
    result = CliRunner().invoke(cli, base)
    assert result.exit_code == 0, result.output
    assert "| a (realfake) |" in result.stdout and "| b (realfake) |" in result.stdout
    named = CliRunner().invoke(cli, [*base, "--label", "first", "--label", "second"])
    assert named.exit_code == 0, named.output
    assert "| first |" in named.stdout and "| second |" in named.stdout
    wrong = CliRunner().invoke(cli, [*base, "--label", "only-one"])
    assert wrong.exit_code == 2 and "give one per checkpoint" in wrong.stderr


def test_evenly_spaced_subsets_and_evaluation_data():
    from inpaintscope.evaluate.selection import evenly_spaced, open_evaluation_data

    items = list(range(10))
    assert list(evenly_spaced(items, 4)) == [0, 2, 5, 7]  # i·10 // 4
    assert evenly_spaced(items, None) is items and evenly_spaced(items, 10) is items
    with pytest.raises(InpaintscopeError, match="at least 1"):
        evenly_spaced(items, 0)
    full = open_evaluation_data(["synthetic:10x32"], split="val")
    part = open_evaluation_data(["synthetic:10x32"], split="val", limit=4)
    assert [part[i]["meta"]["id"] for i in range(4)] == [full[i]["meta"]["id"] for i in (0, 2, 5, 7)]
    laundered = open_evaluation_data(["synthetic:10x32"], split="val", limit=4, post="jpeg:75")
    assert len(laundered) == 4 and laundered[0]["meta"]["perturbation"] == "jpeg:75"


class _Labelled(list):
    """(index, label[, mode]) items that, like the dataset readers, tell labels and modes cheaply."""

    def labels(self) -> list[int]:
        return [item[1] for item in self]

    def metas(self) -> list[dict]:
        return [{"mode": item[2]} if len(item) > 2 else {} for item in self]


def test_evenly_spaced_keeps_both_classes_when_a_stride_would_alias():
    """An autoencoder calibration set lists six edits then one authentic photo, 40 times; a plain
    stride of 2.8 never lands on an authentic item, and the fusion fit found one class only."""
    from torch.utils.data import ConcatDataset

    from inpaintscope.evaluate.selection import evenly_spaced

    items = _Labelled((i, 0 if i % 7 == 6 else 1) for i in range(280))
    assert all(items[i * 280 // 100][1] == 1 for i in range(100))  # the aliasing this guards against
    picked = list(evenly_spaced(items, 100))
    assert len(picked) == 100 and len(set(picked)) == 100
    assert sum(y == 0 for _, y in picked) == 14  # 100 · 40/280, the class's share
    authentic = [i for i, y in picked if y == 0]
    assert authentic == [7 * (k * 40 // 14) + 6 for k in range(14)]  # evenly spread within the class
    # through a concatenation too; a class never vanishes, even when its share rounds to zero
    rare = _Labelled([(0, 0)] + [(i, 1) for i in range(1, 300)])
    assert sum(y == 0 for _, y in evenly_spaced(ConcatDataset([rare]), 10)) == 1
    # strata are (label, mode): an autoencoder fusion needs pasted-back items, not only re-decoded frames
    modes = _Labelled(
        [(i, 0, "authentic") for i in range(4)]
        + [(4 + 2 * i + j, 1, ("realfake", "inpainted")[j]) for i in range(4) for j in (0, 1)]
    )
    picked = list(evenly_spaced(modes, 6))
    assert sorted(m for *_, m in picked) == ["authentic"] * 2 + ["inpainted"] * 2 + ["realfake"] * 2
