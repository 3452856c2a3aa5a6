"""Hostile checkpoints (issue 8): every bad file is one line naming it, never a traceback, and
never a large allocation. The corpus is generated here; no binary fixtures."""

from __future__ import annotations

import json
import math
import os
import pickle
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save as st_save

from inpaintscope.cli.main import main
from inpaintscope.errors import InpaintscopeError
from inpaintscope.models import create_model, load_detector, load_state_dict, save_checkpoint
from inpaintscope.models.checkpoint import (
    SAFETENSORS,
    TORCH_PICKLE,
    TORCH_ZIP,
    CheckpointError,
    checkpoint_format,
    read_checkpoint_info,
)

MODEL = "scope_tiny"


@pytest.fixture(scope="module")
def state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return create_model(MODEL).state_dict()


def _raw_st(tensors: dict[str, torch.Tensor], description: str | None) -> bytes:
    """A safetensors file whose inpaintscope description is the raw ``description`` text."""
    return st_save(tensors, metadata=None if description is None else {"inpaintscope": description})


def _raw_header(header: dict | str, data: bytes = b"") -> bytes:
    text = header if isinstance(header, str) else json.dumps(header)
    raw = text.encode()
    return len(raw).to_bytes(8, "little") + raw + data


def _info(**over) -> str:
    return json.dumps({"model": MODEL, "kwargs": {}, **over})


class _WritesAFile:
    """A pickle that would create ``marker`` if it were ever unpickled with code execution."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


# name -> (build(tmp, state) -> path, message fragment). The fragment proves the *right* reason.
Case = Callable[[Path, dict], Path]


def _write(tmp: Path, name: str, data: bytes) -> Path:
    (tmp / name).write_bytes(data)
    return tmp / name


def _no_description_with_sidecar(tmp: Path, state: dict, sidecar: bytes) -> Path:
    path = _write(tmp, "ck.safetensors", _raw_st(state, None))
    (tmp / "ck.json").write_bytes(sidecar)
    return path


def _with_torch_save(tmp: Path, name: str, obj) -> Path:
    torch.save(obj, tmp / name)
    return tmp / name


def _torch_bytes(obj) -> bytes:
    import io

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _truncated(tmp: Path, state: dict) -> Path:
    data = _raw_st(state, _info())
    return _write(tmp, "ck.safetensors", data[: len(data) // 2])


def _nonfinite(value: float) -> Case:
    def build(tmp: Path, state: dict) -> Path:
        bad = dict(state)
        key = next(k for k, v in bad.items() if v.is_floating_point() and v.numel() > 4)
        bad[key] = bad[key].clone()
        bad[key].view(-1)[3] = value
        return save_checkpoint(tmp / "ck.safetensors", bad, {"model": MODEL, "kwargs": {}})

    return build


CASES: dict[str, tuple[Case, str]] = {
    "description-bad-json": (
        lambda t, s: _write(t, "ck.safetensors", _raw_st(s, '{"model": "scope_tiny",')),
        "not valid JSON",
    ),
    "description-a-list": (lambda t, s: _write(t, "ck.safetensors", _raw_st(s, "[1, 2]")), "not an object"),
    "sidecar-bad-json": (
        lambda t, s: _no_description_with_sidecar(t, s, b"{oops"),
        "ck.json (the description of ck.safetensors) is not valid JSON",
    ),
    "sidecar-not-utf8": (
        lambda t, s: _no_description_with_sidecar(t, s, b"\xff\xfe{}"),
        "ck.json: cannot read the description of ck.safetensors",
    ),
    "no-description": (
        lambda t, s: _write(t, "ck.safetensors", _raw_st(s, None)),
        "without an inpaintscope description",
    ),
    "missing-model": (lambda t, s: _write(t, "ck.safetensors", _raw_st(s, '{"kwargs": {}}')), "names no model"),
    "model-not-a-string": (lambda t, s: _write(t, "ck.safetensors", _raw_st(s, _info(model=3))), "'model' must be"),
    "unknown-model": (
        lambda t, s: _write(t, "ck.safetensors", _raw_st(s, _info(model="no_such_net"))),
        "unknown model 'no_such_net'",
    ),
    "kwargs-unknown-key": (
        lambda t, s: _write(t, "ck.safetensors", _raw_st(s, _info(kwargs={"colour": 1}))),
        "unexpected keyword argument 'colour'",
    ),
    "kwargs-a-string": (
        lambda t, s: _write(t, "ck.safetensors", _raw_st(s, _info(kwargs="depths=1"))),
        "'kwargs' must be an object of keyword arguments, got a string",
    ),
    "kwargs-a-list": (lambda t, s: _write(t, "ck.safetensors", _raw_st(s, _info(kwargs=[1, 2]))), "got a list"),
    "kwargs-wrong-type": (
        lambda t, s: _write(t, "ck.safetensors", _raw_st(s, _info(kwargs={"depths": "abcde"}))),
        "depths must be 5 integers",
    ),
    "kwargs-empty": (
        lambda t, s: _write(t, "ck.safetensors", _raw_st(s, _info(kwargs={"depths": []}))),
        "depths must be 5 integers",
    ),
    "kwargs-negative": (
        lambda t, s: _write(t, "ck.safetensors", _raw_st(s, _info(kwargs={"depths": [-1, 1, 2, 2, 2]}))),
        "depths must be 5 integers >= 0",
    ),
    "kwargs-bool": (
        lambda t, s: _write(t, "ck.safetensors", _raw_st(s, _info(kwargs={"head_hidden": True}))),
        "head_hidden must be an integer",
    ),
    "kwargs-nan": (
        lambda t, s: _write(t, "ck.safetensors", _raw_st(s, '{"model": "scope_tiny", "kwargs": {"clip": NaN}}')),
        "clip must be a finite number",
    ),
    "kwargs-zero": (
        lambda t, s: _write(t, "ck.safetensors", _raw_st(s, _info(kwargs={"clip": 0}))),
        "clip must be > 0",
    ),
    "kwargs-other-architecture": (
        lambda t, s: _write(t, "ck.safetensors", _raw_st(s, _info(kwargs={"depths": [2, 2, 2, 2, 2]}))),
        "weights do not match model 'scope_tiny'",
    ),
    "preprocessing-not-object": (
        lambda t, s: _write(t, "ck.safetensors", _raw_st(s, _info(preprocessing="rgb"))),
        "bad 'preprocessing'",
    ),
    "preprocessing-missing-keys": (
        lambda t, s: _write(t, "ck.safetensors", _raw_st(s, _info(preprocessing={"mean": [0, 0, 0]}))),
        "missing channel_order, std",
    ),
    "preprocessing-bad-order": (
        lambda t, s: _write(
            t,
            "ck.safetensors",
            _raw_st(s, _info(preprocessing={"channel_order": "xyz", "mean": [0, 0, 0], "std": [1, 1, 1]})),
        ),
        "channel_order 'xyz'",
    ),
    "preprocessing-zero-std": (
        lambda t, s: _write(
            t,
            "ck.safetensors",
            _raw_st(s, _info(preprocessing={"channel_order": "rgb", "mean": [0, 0, 0], "std": [1, 0, 1]})),
        ),
        "std must be positive",
    ),
    "preprocessing-negative-std": (
        lambda t, s: _write(
            t,
            "ck.safetensors",
            _raw_st(s, _info(preprocessing={"channel_order": "rgb", "mean": [0, 0, 0], "std": [-1, -1, -1]})),
        ),
        "std must be positive",
    ),
    "preprocessing-short": (
        lambda t, s: _write(
            t, "ck.safetensors", _raw_st(s, _info(preprocessing={"channel_order": "rgb", "mean": [], "std": [1, 1, 1]}))
        ),
        "mean must be 3 finite numbers",
    ),
    "preprocessing-differs": (
        lambda t, s: _write(
            t,
            "ck.safetensors",
            _raw_st(s, _info(preprocessing={"channel_order": "bgr", "mean": [0, 0, 0], "std": [1, 1, 1]})),
        ),
        "differs from model",
    ),
    "format-from-the-future": (
        lambda t, s: _write(t, "ck.safetensors", _raw_st(s, _info(format="inpaintscope-checkpoint/9"))),
        "unsupported checkpoint format",
    ),
    "step-negative": (lambda t, s: _write(t, "ck.safetensors", _raw_st(s, _info(step=-5))), "'step' must be"),
    "config-a-string": (lambda t, s: _write(t, "ck.safetensors", _raw_st(s, _info(config="x"))), "'config' must be"),
    "zero-bytes": (lambda t, s: _write(t, "ck.safetensors", b""), "empty file (0 bytes)"),
    "garbage": (
        lambda t, s: _write(t, "ck.safetensors", np.random.default_rng(0).bytes(4096)),
        "not a safetensors checkpoint",
    ),
    "text-file": (
        lambda t, s: _write(t, "ck.safetensors", b"this is not a checkpoint\n"),
        "not a safetensors checkpoint",
    ),
    "truncated": (_truncated, "truncated or corrupt file"),
    "header-length-huge": (
        lambda t, s: _write(t, "ck.safetensors", (1 << 62).to_bytes(8, "little") + b"{}"),
        "truncated safetensors file",
    ),
    "header-not-json": (
        lambda t, s: _write(t, "ck.safetensors", _raw_header("{this is not json")),
        "corrupt safetensors header",
    ),
    "header-bad-dtype": (
        lambda t, s: _write(
            t, "ck.safetensors", _raw_header({"w": {"dtype": "F99", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4)
        ),
        "dtype 'F99'",
    ),
    "header-offsets-outside": (
        lambda t, s: _write(
            t,
            "ck.safetensors",
            _raw_header({"w": {"dtype": "F32", "shape": [1000], "data_offsets": [0, 4000]}}, b"\0" * 16),
        ),
        "outside the file",
    ),
    "header-shape-vs-bytes": (
        lambda t, s: _write(
            t,
            "ck.safetensors",
            _raw_header({"w": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 16]}}, b"\0" * 16),
        ),
        "needs 64 bytes",
    ),
    "header-negative-shape": (
        lambda t, s: _write(
            t, "ck.safetensors", _raw_header({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 0]}})
        ),
        "not a list of non-negative integers",
    ),
    "weights-of-another-model": (
        lambda t, s: _write(t, "ck.safetensors", _raw_st(s, _info(model="scope_small"))),
        "weights do not match model 'scope_small'",
    ),
    "no-weights": (lambda t, s: _write(t, "ck.safetensors", _raw_st({}, _info())), "far larger than the weights"),
    "huge-depths": (
        lambda t, s: _write(
            t, "ck.safetensors", _raw_st({}, _info(model="scope_fast", kwargs={"depths": [20000] * 5}))
        ),
        "far larger than the weights",
    ),
    "huge-3tb-head": (
        lambda t, s: _write(
            t,
            "ck.safetensors",
            _raw_st(
                {"image_head.0.bias": torch.zeros(4)}, _info(model="scope_fast", kwargs={"head_hidden": 2_900_000_000})
            ),
        ),
        "far larger than the weights",
    ),
    "huge-int-overflow": (
        lambda t, s: _write(t, "ck.safetensors", _raw_st({}, _info(kwargs={"head_hidden": 10**30}))),
        "far larger than the weights",
    ),
    "nan-weights": (_nonfinite(math.nan), "non-finite value"),
    "inf-weights": (_nonfinite(-math.inf), "non-finite value"),
    "directory": (lambda t, s: (t / "ck.safetensors").mkdir() or t / "ck.safetensors", "is a directory"),
    "pth-pickle-a-list": (lambda t, s: _with_torch_save(t, "ck.pth", [1, 2, 3]), "expected a state dict"),
    "pth-not-tensors": (lambda t, s: _with_torch_save(t, "ck.pth", {"conv.weight": 3}), "not a plain state dict"),
    "pth-garbage": (lambda t, s: _write(t, "ck.pth", b"PK\x03\x04" + b"\0" * 200), "cannot load as a torch state dict"),
    "pth-corrupt-pickle": (
        lambda t, s: _write(t, "ck.pth", b"\x80\x02" + bytes(range(156, 220))),
        "cannot load as a torch state dict (corrupt pickle data)",
    ),
    "pth-truncated": (lambda t, s: _write(t, "ck.pth", _torch_bytes(s)[:300]), "cannot load as a torch state dict"),
    "pth-nan": (
        lambda t, s: _with_torch_save(t, "ck.pth", {k: v.float() * math.nan for k, v in s.items()}),
        "non-finite value",
    ),
    "pth-far-too-small": (
        lambda t, s: _with_torch_save(t, "ck.pth", {"w": torch.zeros(3)}),
        "far larger than the weights",
    ),
    "pth-renamed-key": (
        lambda t, s: _with_torch_save(
            t, "ck.pth", {("x." + k if k.startswith("stem.") else k): v for k, v in s.items()}
        ),
        "weights do not match model 'scope_tiny'",
    ),
}

# .pth cases are third-party weights: loaded with create_model(name, checkpoint=...)
PTH_CASES = {k for k in CASES if k.startswith("pth-")}


def _load(path: Path) -> None:
    if path.suffix == ".pth":
        create_model(MODEL, checkpoint=path)
    else:
        load_detector(path)


def _assert_one_line(message: str, path: Path, fragment: str) -> None:
    assert "\n" not in message.strip(), message
    assert path.name in message, f"the message does not name the file: {message}"
    assert fragment in message, message
    assert "Traceback" not in message and "weights_only=False" not in message


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_checkpoint_is_one_line_error(case: str, tmp_path: Path, state: dict) -> None:
    build, fragment = CASES[case]
    path = build(tmp_path, state)
    with pytest.raises(InpaintscopeError) as info:
        _load(path)
    _assert_one_line(str(info.value), path, fragment)


@pytest.mark.parametrize("case", sorted(set(CASES) - PTH_CASES))
def test_bad_checkpoint_through_detect_cli(case: str, tmp_path: Path, state: dict, capsys) -> None:
    build, fragment = CASES[case]
    path = build(tmp_path, state)
    img = tmp_path / "img.png"
    from inpaintscope.io import write_image

    write_image(img, np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(SystemExit) as ex:
        main(["detect", str(img), "--model", str(path), "-o", str(tmp_path / "out"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert ex.value.code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    # detect reads a file that is not safetensors as a third-party torch file: its reason differs
    assert path.name in lines[0] and "Traceback" not in err


@pytest.mark.parametrize("command", ["evaluate", "calibrate"])
@pytest.mark.parametrize("case", ["unknown-model", "kwargs-a-list", "huge-depths", "nan-weights", "garbage"])
def test_bad_checkpoint_through_evaluate_and_calibrate(
    command: str, case: str, tmp_path: Path, state: dict, capsys
) -> None:
    build, fragment = CASES[case]
    path = build(tmp_path, state)
    extra = ["--no-progress"] if command == "evaluate" else ["-o", str(tmp_path / "cal.safetensors")]
    with pytest.raises(SystemExit) as ex:
        main([command, str(path), "--data", "synthetic:4", *extra])
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert ex.value.code == 2 and len(lines) == 1, err
    assert fragment in lines[0] and path.name in lines[0]


def test_huge_kwargs_are_refused_before_a_large_allocation(tmp_path: Path, state: dict) -> None:
    """The construction stops as soon as the model outgrows the file's weights: counted with
    torch's own registration hooks, what these files make torch allocate stays a few MB."""
    from torch.nn.modules import module as module_mod

    allocated: dict[str, int] = {}
    current = [""]

    def count(_module, _name, tensor) -> None:
        if tensor is not None:
            allocated[current[0]] = allocated.get(current[0], 0) + tensor.numel() * tensor.element_size()

    handles = [
        module_mod.register_module_parameter_registration_hook(count),
        module_mod.register_module_buffer_registration_hook(count),
    ]
    try:
        for case in ("huge-depths", "huge-3tb-head", "huge-int-overflow", "no-weights"):
            sub = tmp_path / case
            sub.mkdir()
            current[0] = case
            with pytest.raises(CheckpointError, match="far larger than the weights"):
                _load(CASES[case][0](sub, state))
    finally:
        for h in handles:
            h.remove()
    # budget: 2 × the file's values + 4 Mi values of slack, in float32
    assert max(allocated.values(), default=0) <= (1 << 22) * 4 + (1 << 20), allocated


def test_huge_kwargs_peak_memory_stays_small(tmp_path: Path) -> None:
    """In a fresh process (its own peak RSS), the two huge-kwargs files are refused while the
    process stays near its import size; an address-space cap turns a regression into a failure
    instead of a swapping machine."""
    for name, kwargs in (("depths", {"depths": [20000] * 5}), ("head", {"head_hidden": 2_900_000_000})):
        (tmp_path / f"{name}.safetensors").write_bytes(
            st_save({}, metadata={"inpaintscope": json.dumps({"model": "scope_fast", "kwargs": kwargs})})
        )
    code = textwrap.dedent("""
        import resource, sys
        import torch, inpaintscope.models as m
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, resource.RLIM_INFINITY))
        for p in sys.argv[1:]:
            try:
                m.load_detector(p)
            except m.checkpoint.CheckpointError as e:
                print("refused", e)
        print("growth_kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base)
    """)
    files = [str(tmp_path / "depths.safetensors"), str(tmp_path / "head.safetensors")]
    out = subprocess.run(
        [sys.executable, "-c", code, *files],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("refused") == 2, out.stdout
    growth_kb = int(out.stdout.split("growth_kb")[1])
    assert growth_kb < 200_000, f"peak RSS grew by {growth_kb} kB while refusing 2 KB files"


def test_malicious_pickle_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned.txt"
    path = tmp_path / "evil.pth"
    torch.save({"conv.weight": torch.zeros(1), "payload": _WritesAFile(marker)}, path)
    raw = tmp_path / "evil_raw.pth"  # a bare (non-zip) pickle stream as well
    raw.write_bytes(pickle.dumps(_WritesAFile(marker), protocol=2))
    for p in (path, raw):
        with pytest.raises(CheckpointError) as info:
            create_model(MODEL, checkpoint=p)
        msg = str(info.value)
        assert re.match(rf"{re.escape(str(p))}: refusing to unpickle \S+ \(not a plain state dict", msg), msg
        assert "\n" not in msg and "weights_only" not in msg
        with pytest.raises(CheckpointError, match="refusing to unpickle"):
            load_state_dict(p)
    assert not marker.exists(), "the pickle's payload ran"


def test_malicious_pickle_through_detect_cli(tmp_path: Path, capsys) -> None:
    marker = tmp_path / "pwned.txt"
    path = tmp_path / "evil.pth"
    torch.save({"payload": _WritesAFile(marker)}, path)
    img = tmp_path / "img.png"
    from inpaintscope.io import write_image

    write_image(img, np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(SystemExit) as ex:
        main(["detect", str(img), "--model", str(path), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert ex.value.code == 2 and err.count("\n") == 1 and "refusing to unpickle" in err, err
    assert not marker.exists()


@pytest.mark.parametrize("name", ["model.pth", "model", "model.bin", "model.safetensors.part"])
def test_safetensors_is_recognised_by_content_not_suffix(name: str, tmp_path: Path, state: dict) -> None:
    ref = save_checkpoint(tmp_path / "ref.safetensors", state, {"model": MODEL, "kwargs": {}})
    path = tmp_path / name
    path.write_bytes(ref.read_bytes())
    assert checkpoint_format(path) == SAFETENSORS
    assert read_checkpoint_info(path)["model"] == MODEL
    model = load_detector(path)
    for k, v in state.items():
        assert torch.equal(model.state_dict()[k], v), k
    assert set(load_state_dict(path)) == set(state)
    from inpaintscope.detection import detect

    d = detect(np.zeros((32, 32, 3), np.uint8), model=path)
    assert d.heatmap.shape == (32, 32)


def test_torch_files_are_recognised_by_content(tmp_path: Path, state: dict) -> None:
    zipped = tmp_path / "w.safetensors"  # a torch.save file misnamed .safetensors
    torch.save(state, zipped)
    assert checkpoint_format(zipped) == TORCH_ZIP
    model = create_model(MODEL, checkpoint=zipped)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    legacy = tmp_path / "legacy.weights"
    torch.save(state, legacy, _use_new_zipfile_serialization=False)
    assert checkpoint_format(legacy) == TORCH_PICKLE
    assert set(load_state_dict(legacy)) == set(state)
    with pytest.raises(CheckpointError, match="not a safetensors checkpoint but a torch state dict"):
        load_detector(zipped)


def test_good_checkpoint_still_loads_with_kwargs_and_preprocessing(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = create_model(MODEL, depths=[1, 1, 1, 1, 1], head_hidden=8)
    path = save_checkpoint(
        tmp_path / "ok.safetensors",
        model.state_dict(),
        {
            "model": MODEL,
            "kwargs": {"depths": [1, 1, 1, 1, 1], "head_hidden": 8},
            "preprocessing": model.preprocessing.to_dict(),
            "step": 3,
        },
    )
    again = load_detector(path)
    x = torch.rand(1, 3, 40, 40)
    with torch.no_grad():
        torch.testing.assert_close(again(x).mask_logits, model.eval()(x).mask_logits, rtol=0, atol=0)
    assert again.checkpoint_info["step"] == 3
