"""One convention for every command and every registry (issue 9): errors, warnings, shared helpers,
``create_*``/``list_*`` pairs, the single-sourced version, the licence metadata and the Makefile's data checks."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tomllib
import warnings
from importlib.metadata import metadata
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

import inpaintscope
from inpaintscope.cli.common import FractionRange, UserError, comma_list, user_errors
from inpaintscope.cli.main import SUBCOMMANDS, cli, main
from inpaintscope.errors import InpaintscopeError, UnknownNameError
from inpaintscope.inpaint import INPAINTERS, create_inpainter, list_inpainters
from inpaintscope.inpaint.learned.networks import INPAINT_NETS, create_inpaint_net, list_inpaint_nets
from inpaintscope.io import write_image
from inpaintscope.masks import MASKS, create_mask, list_masks
from inpaintscope.models import MODELS, create_model, list_models

REPO = Path(__file__).resolve().parents[1]
CLI_DIR = REPO / "src" / "inpaintscope" / "cli"


def _user_error_cases(tmp_path: Path) -> dict[str, list[str]]:
    """One user mistake per command that reaches the library (not click's own option parsing)."""
    photos = tmp_path / "photos"
    photos.mkdir()
    write_image(photos / "a.png", np.zeros((64, 64, 3), np.uint8))
    empty = tmp_path / "empty"
    empty.mkdir()
    return {
        "dataset build": ["dataset", "build", str(photos), str(tmp_path / "out"), "--masks", "blobs"],
        "dataset info": ["dataset", "info", str(empty)],
        "train": ["train", "--model", "no_such_model", "--data", "synthetic:8x32", "--out", str(tmp_path / "run")],
        "evaluate": ["evaluate", "--no-progress", str(tmp_path / "missing.safetensors"), "--data", "synthetic:8"],
        "calibrate": [
            "calibrate",
            str(tmp_path / "missing.safetensors"),
            "--data",
            "synthetic:8",
            "-o",
            str(tmp_path / "c.safetensors"),
        ],
        "detect": ["detect", str(empty), "-o", str(tmp_path / "det")],
    }


@pytest.mark.parametrize("command", ["dataset build", "dataset info", "train", "evaluate", "calibrate", "detect"])
def test_every_command_reports_user_errors_as_one_line_and_exit_2(tmp_path: Path, command: str) -> None:
    args = _user_error_cases(tmp_path)[command]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output


def test_console_entry_point_uses_the_same_convention(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(_user_error_cases(tmp_path)["dataset info"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["detect", "x.png", "--tile", "10", "-o", "o"], "'--tile': 10 is not in the range"),
        (["detect", "x.png"], "Missing option '-o' / '--out'"),
        (["no-such-command"], "No such command 'no-such-command'"),
        # an empty output path would mean the current folder: refused by every command that writes
        (["detect", "x.png", "-o", ""], "'-o' / '--out': is empty"),
        (["dataset", "build", ".", ""], "'OUT': is empty"),
        (["dataset", "hard-negatives", ".", ""], "'OUT': is empty"),
        (["evaluate", "default", "--data", "synthetic:8", "--out", ""], "'--out': is empty"),
        (["calibrate", "default", "--data", "synthetic:8", "-o", ""], "'-o' / '--out': is empty"),
        (["demo", "--out", ""], "'--out': is empty"),
        (["train", "--config", "configs/smoke.yaml", "--out", ""], "'--out': is empty"),
        (["train", "--resume", ""], "'--resume': is empty"),
    ],
)
def test_click_usage_errors_are_one_line_too(
    args: list[str], says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and says in err and "--help')" in err, err
    assert not any(tmp_path.iterdir())  # nothing written into the current folder


def test_a_command_group_alone_prints_its_help_not_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    for args in ([], ["dataset"]):
        with pytest.raises(SystemExit):
            main(args)
        captured = capsys.readouterr()
        assert (captured.out + captured.err).startswith("Usage: inpaintscope"), captured


def test_user_errors_turns_library_errors_and_warnings_into_lines(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UserError) as info, user_errors():
        warnings.warn("few images", UserWarning, stacklevel=1)
        raise InpaintscopeError("bad input")
    assert info.value.exit_code == 2 and info.value.format_message() == "error: bad input"
    assert capsys.readouterr().err == "warning: few images\n"
    assert UserError("some samples failed", exit_code=1).exit_code == 1


def test_every_subcommand_loads() -> None:
    # a missing or broken command module must fail loudly, not vanish from --help
    for name in SUBCOMMANDS:
        assert isinstance(cli.get_command(click.Context(cli), name), click.Command), name
    assert cli.list_commands(click.Context(cli)) == sorted(SUBCOMMANDS)


def test_commands_import_shared_helpers_only_from_common() -> None:
    command_modules = {p.stem for p in CLI_DIR.glob("*.py")} - {"__init__", "common", "main"}
    for path in CLI_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                assert node.module not in command_modules, f"{path.name} imports from command module {node.module}"
            if isinstance(node, ast.ClassDef) and path.stem != "common":
                assert node.name != "UserError", f"{path.name} defines its own UserError"


def test_comma_list_and_fraction_range() -> None:
    assert comma_list(" a, b ,,") == ["a", "b"]
    assert comma_list("") is None and comma_list(None) is None
    assert FractionRange().convert("0.05,0.3", None, None) == (0.05, 0.3)
    with pytest.raises(click.BadParameter, match="lo,hi"):
        FractionRange().convert("half", None, None)


# --------------------------------------------------------------------------- registries

REGISTRIES = [
    (MASKS, list_masks, lambda name: create_mask(name, (64, 64), rng=np.random.default_rng(0))),
    (INPAINTERS, list_inpainters, create_inpainter),
    (MODELS, list_models, create_model),
    (INPAINT_NETS, list_inpaint_nets, create_inpaint_net),
]


@pytest.mark.parametrize(
    ("registry", "list_fn", "create_fn"), REGISTRIES, ids=["masks", "inpainters", "models", "inpaint_nets"]
)
def test_every_registry_has_a_create_and_list_pair(registry, list_fn, create_fn) -> None:
    assert list_fn() == registry.names() == sorted(registry.names()) and list_fn()
    with pytest.raises(UnknownNameError, match=f"unknown {registry.kind} 'no_such_name'"):
        create_fn("no_such_name")


def test_create_mask_is_the_raw_draw_of_the_generator() -> None:
    hole, params = create_mask("rectangle", (64, 80), rng=np.random.default_rng(3))
    again, _ = MASKS.get("rectangle")((64, 80), rng=np.random.default_rng(3))
    assert hole.dtype == bool and hole.shape == (64, 80) and np.array_equal(hole, again)
    assert "area_fraction" not in params  # make_mask adds that; create_mask does not soften or retry


def test_registry_unregister_and_create() -> None:
    from inpaintscope._registry import Registry

    reg: Registry = Registry("widget")
    reg.register("a")(lambda x, *, k=1: x * k)
    assert reg.create("a", 3, k=2) == 6 and "a" in reg and len(reg) == 1
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("a")(lambda x: x)
    reg.unregister("a")
    reg.unregister("a")  # gone already: no error
    assert "a" not in reg and reg.names() == []


# --------------------------------------------------------------------------- version, Makefile


def test_version_is_written_in_one_place() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "inpaintscope.__version__"}
    assert isinstance(inpaintscope.__version__, str) and inpaintscope.__version__[0].isdigit()


def test_licence_is_an_spdx_expression_and_both_texts_ship() -> None:
    # setuptools stops building a `license = {text = ...}` table in 2027: a fresh clone's `make` would fail
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    project = config["project"]
    assert project["license"] == "Apache-2.0"
    assert "setuptools>=77" in config["build-system"]["requires"]  # the first to read the SPDX form
    texts = {name: (REPO / name).read_text() for name in project["license-files"]}
    assert texts["LICENSE"].lstrip().startswith("Apache License") and "Version 2.0" in texts["LICENSE"]
    assert "MIT License" in texts["src/inpaintscope/weights/taef2/LICENSE"]
    installed = metadata("inpaintscope")
    assert installed["License-Expression"] == "Apache-2.0", "reinstall: make venv (pyproject.toml changed)"
    assert sorted(installed.get_all("License-File")) == sorted(project["license-files"])


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("target", ["default-data", "native-data", "heldout-data", "native-test-data"])
def test_make_data_targets_stop_with_one_line_without_the_data(tmp_path: Path, target: str) -> None:
    # -n would not run the check; the check is the first prerequisite, so nothing else runs
    proc = subprocess.run(
        ["make", "-s", "-C", str(REPO), target, f"SHARED={tmp_path / 'absent'}", f"PYTHON={sys.executable}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and str(tmp_path / "absent") in errors[0] and "README" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "absent").exists()


_FAKE_CLI = """#!/bin/sh
# stands in for inpaintscope: logs each call; train --config makes the run folder, calibrate its -o file
echo "$*" >> "$CALLS"
case "$1" in
  train) if [ "$2" = --config ]; then out=$(sed -n 's/^out: *//p' "$3"); mkdir -p "$out"; : > "$out/config.yaml"; fi ;;
  calibrate) while [ $# -gt 0 ]; do [ "$1" = -o ] && : > "$2"; shift; done ;;
esac
"""


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_default_model_skips_finished_steps_and_resumes_runs(tmp_path: Path) -> None:
    # The recipe chain with a stand-in CLI: the first make trains and calibrates every release
    # once; a second make runs no model step (train refuses a folder holding a run, so a rerun
    # used to stop there); deleting one step's output redoes it and resumes the runs after it.
    work = tmp_path / "clone"
    shutil.copytree(REPO / "configs", work / "configs")
    shutil.copy(REPO / "Makefile", work / "Makefile")
    shared = tmp_path / "shared"
    for folder in ("photos", "masks/irregular", "weights"):
        (shared / folder).mkdir(parents=True)
    for name in ("taef2_encoder.pth", "taef2_decoder.pth"):
        (shared / "weights" / name).touch()
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    cli = venv / "bin" / "inpaintscope"
    cli.write_text(_FAKE_CLI)
    cli.chmod(0o755)
    for name in ("pyproject.toml", "constraints.txt"):  # the venv stamp's prerequisites, older than it
        (work / name).touch()
    (venv / ".installed").touch()
    (work / "runs").mkdir()
    (work / "runs" / "safepaint_step1000.safetensors").touch()  # what the recipe reads back from git
    calls = tmp_path / "calls.log"

    def make() -> list[str]:
        calls.write_text("")
        proc = subprocess.run(
            ["make", "-s", "-C", str(work), "default-model", f"VENV={venv}", f"SHARED={shared}"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "CALLS": str(calls)},
        )
        assert proc.returncode == 0, proc.stderr
        return [line for line in calls.read_text().splitlines() if not line.startswith("dataset build")]

    first = make()
    configs = ["default_stage1", "default", "default_v3", "default_v4", "default_v5"]
    assert [c for c in first if c.startswith("train")] == [f"train --config configs/{c}.yaml" for c in configs]
    assert sum(c.startswith("calibrate") for c in first) == 7  # v0.2 once, then Platt + fusion for v0.3–v0.5
    assert (work / "runs" / "default_v5" / "shipped.safetensors").is_file()

    assert make() == []

    (work / "runs" / "default_v4" / "shipped.safetensors").unlink()
    redo = make()
    assert [c.split(" -o ")[-1] for c in redo if c.startswith("calibrate")] == [
        "runs/default_v4/shipped.safetensors",
        "runs/default_v5/calibrated.safetensors",
        "runs/default_v5/shipped.safetensors",
    ]
    assert [c for c in redo if c.startswith("train")] == ["train --resume runs/default_v5"]
