"""Multi-process training through torchrun: 2 CPU processes on the gloo backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from inpaintscope.models import load_detector

WORKER = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {tests!r})
    from conftest import register_tiny_detector
    from inpaintscope.train import TrainConfig, fit

    name = register_tiny_detector()
    config = TrainConfig(model=name, data=["synthetic:16x32"], loss="bce", lr=1e-2, batch_size=4, epochs=1,
                         device="cpu", progress=False, out={out!r})
    result = fit(config)
    checksum = sum(float(p.double().sum()) for p in result.model.parameters())
    # one file per rank: both processes share torchrun's stdout, where their lines can interleave
    with open({reports!r} + f"/rank{{os.environ['RANK']}}.txt", "w") as f:
        f.write(f"RANK {{os.environ['RANK']}} WORLD {{os.environ['WORLD_SIZE']}} "
                f"STEPS {{result.steps}} SUM {{checksum:.10f}}")
""")


@pytest.mark.skipif(
    not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
    reason="torch.distributed with gloo is not available",
)
def test_torchrun_two_processes_gloo(tmp_path, tiny_detector):
    out = tmp_path / "ddp"
    script = tmp_path / "worker.py"
    reports = tmp_path / "reports"
    reports.mkdir()
    script.write_text(WORKER.format(tests=str(Path(__file__).resolve().parent), out=str(out), reports=str(reports)))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    lines = sorted(p.read_text() for p in reports.glob("rank*.txt"))
    assert len(lines) == 2 and lines[0].startswith("RANK 0 WORLD 2") and lines[1].startswith("RANK 1 WORLD 2")
    # 16 images over 2 ranks = 8 each = 2 steps of 4; DDP keeps both replicas identical
    assert all(" STEPS 2 " in line for line in lines)
    assert lines[0].split(" SUM ")[1] == lines[1].split(" SUM ")[1]
    # only rank 0 wrote, and the checkpoint loads
    history = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(history) == 1 and history[0]["step"] == 2 and history[0]["val_loss"] > 0
    model = load_detector(out / "best.safetensors")
    assert model(torch.rand(1, 3, 32, 32)).mask_logits.shape == (1, 1, 32, 32)
    assert not list(out.glob(".tmp-*"))
