"""The benchmarks' shared harness, and the comparison's recipes read from configs/ (no run is timed here)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.append(str(BENCHMARKS))  # after site-packages: the scripts never shadow a library

import _harness  # noqa: E402
import compare_models  # noqa: E402


def test_markdown_table_and_cells():
    table = _harness.markdown_table(["name", "a", "b"], [["x", 1, _harness.fmt(0.12345)], ["y", 2, _harness.fmt(None)]])
    assert table.splitlines() == ["| name | a | b |", "|---|---:|---:|", "| x | 1 | 0.123 |", "| y | 2 | – |"]
    assert _harness.markdown_table(["a", "b"], [], numeric_from=2).splitlines()[1] == "|---|---|"


def test_median_seconds_calls_warmup_then_repeats():
    calls = []
    seconds = _harness.median_seconds(lambda: calls.append(1), 3)
    assert len(calls) == 4 and seconds >= 0.0
    calls.clear()
    _harness.median_seconds(lambda: calls.append(1), 2, warmup=False)
    assert len(calls) == 2
    with pytest.raises(ValueError):
        _harness.median_seconds(lambda: None, 0)


def test_shared_data_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("INPAINTSCOPE_SHARED_DATA", str(tmp_path))
    assert _harness.shared_data() == tmp_path
    monkeypatch.setenv("INPAINTSCOPE_SHARED_DATA", str(tmp_path / "absent"))
    assert _harness.shared_data() is None


def test_run_cell_returns_the_last_json_line_or_the_error(tmp_path):
    script = tmp_path / "cell.py"
    script.write_text(
        "import json, sys\nprint('noise')\nif sys.argv[1] == 'ok':\n    print(json.dumps({'x': 1}))\n"
        "else:\n    sys.exit('cell failed: ' + sys.argv[1])\n"
    )
    assert _harness.run_cell(script, ["ok"], timeout=60) == {"x": 1}
    assert _harness.run_cell(script, ["boom"], timeout=60) == {"error": "cell failed: boom"}


def test_comparison_recipes_come_from_the_configs():
    assert compare_models.recipe("nix_net_40") == {"loss": "focal", "lr": 0.0001, "weight_decay": 0.001}
    assert compare_models.recipe("iid_net") == {"loss": "iid", "lr": 0.0001}
    assert compare_models.recipe("fcn_resnet50") == {"loss": "focal", "lr": 0.0001, "weight_decay": 0.0}
    # scope_small trains with the default detector's recipe; scope_tiny with its own config
    assert compare_models.recipe("scope_small") == {"loss": "bce+dice:0.5", "lr": 0.001, "image_loss_weight": 0.5}
    assert compare_models.recipe("scope_tiny")["loss"] == "focal+dice:0.5"
    with pytest.raises(SystemExit, match="no training config for no_such_model"):
        compare_models.recipe("no_such_model")


def test_inpainter_widths_reads_name_weights_and_widths():
    import inpainter_widths

    assert inpainter_widths.parse_config("telea") == ("telea", {})
    assert inpainter_widths.parse_config("gated@24/64") == ("gated", {"hole_width": 24, "detail_width": 64})
    assert inpainter_widths.parse_config("safepaint@16") == ("safepaint", {"hole_width": 16, "detail_width": 0})
    assert inpainter_widths.parse_config("edgeconnect:/r/best.safetensors@32/0") == (
        "edgeconnect",
        {"weights": "/r/best.safetensors", "hole_width": 32, "detail_width": 0},
    )


def test_model_card_report_splits_learned_families_by_what_the_checkpoint_trained_on():
    import default_model_report as report

    items = [{"meta": {"inpainter": name}} for name in ("gated", "fourier", "telea", "criminisi", None)]
    shipped = report.WithFamily(items)  # the default: what v0.4 never trained on
    assert [shipped[i]["meta"].get("family") for i in range(5)] == [
        "deep, trained on",
        "deep, held out",
        "classical",
        "exemplar",
        None,
    ]
    assert shipped[1]["meta"]["inpainter"] == "fourier (held out)" and shipped[0]["meta"]["inpainter"] == "gated"
    v03 = report.WithFamily(items, held_out=["gated", "fourier", "criminisi"])
    assert v03[0]["meta"]["family"] == "deep, held out" and v03[0]["meta"]["inpainter"] == "gated (held out)"


def test_device_equality_says_so_when_there_is_no_gpu(monkeypatch, capsys):
    import torch

    import device_equality

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device_equality.main(["--device", "cuda"]) == 0
    assert "no CUDA device here" in capsys.readouterr().out
