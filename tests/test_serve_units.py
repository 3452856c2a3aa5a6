"""Pieces of ``inpaintscope serve`` that need no server: format sniffing, client file names,
the ``images=`` parameter, the limits and the worker pool's admission. Also the command
line: the one-line hint without the extra, and a real ``inpaintscope serve`` process."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image

from inpaintscope.serve.limits import ServeLimits, sniff_format
from inpaintscope.serve.pool import MAX_RETRY_AFTER, PoolFull, WorkerPool
from inpaintscope.serve.records import DEFAULT_PICTURES, parse_pictures
from inpaintscope.serve.upload import display_name


def _encoded(fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), 77, np.uint8)).save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize(
    "fmt, name", [("JPEG", "JPEG"), ("PNG", "PNG"), ("GIF", "GIF"), ("WEBP", "WebP"), ("TIFF", "TIFF"), ("BMP", "BMP")]
)
def test_sniff_recognises_what_pillow_writes(fmt, name):
    assert sniff_format(_encoded(fmt)[:16]) == name


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"\xff\xd8",
        b"hello world, text",
        b"<svg xmlns=",
        b"%PDF-1.7",
        b"RIFF\x00\x00\x00\x00WAVEfmt ",
        b"\x00\x00\x00\x18ftypmp42",
        b"PK\x03\x04zipfile",
    ],
)
def test_sniff_refuses_non_images(head):
    assert sniff_format(head) is None


def test_sniff_heic_brands():
    assert sniff_format(b"\x00\x00\x00\x18ftypheic\x00\x00") == "HEIC"
    assert sniff_format(b"\x00\x00\x00\x18ftypmif1\x00\x00") == "HEIC"


@pytest.mark.parametrize(
    "raw, shown",
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\photo 1.jpg", "photo 1.jpg"),
        ("", "upload"),
        (None, "upload"),
        ("a<script>.png", "a_script_.png"),
        ("..", "upload"),
        ("x" * 300 + ".png", "x" * 200),
    ],
)
def test_display_name_keeps_only_a_safe_base_name(raw, shown):
    assert display_name(raw) == shown


def test_parse_pictures():
    assert parse_pictures(None) == parse_pictures("") == DEFAULT_PICTURES
    assert parse_pictures("none") == ()
    assert parse_pictures(" Heatmap, mask ,heatmap") == ("heatmap", "mask")
    with pytest.raises(ValueError, match="'thumb'"):
        parse_pictures("mask,thumb")


@pytest.mark.parametrize(
    "field, value", [("max_bytes", 0), ("max_pixels", -1), ("workers", 0), ("queue", -1), ("workers", 1.5)]
)
def test_limits_refuse_nonsense(field, value):
    with pytest.raises(ValueError, match=field):
        ServeLimits(**{field: value})


def test_pool_admits_workers_plus_queue_then_refuses():
    pool = WorkerPool(workers=2, queue=1)
    try:
        tickets = [pool.admit() for _ in range(3)]
        with pytest.raises(PoolFull) as info:
            pool.admit()
        assert 1 <= info.value.retry_after <= MAX_RETRY_AFTER
        tickets[0].release()
        tickets[0].release()  # idempotent: one release per ticket
        extra = pool.admit()
        with pytest.raises(PoolFull):
            pool.admit()
        for t in (*tickets[1:], extra):
            t.release()
        assert pool.stats() == {"workers": 2, "queue": 1, "running": 0, "waiting": 0, "served": 0}
    finally:
        pool.shutdown()


def test_pool_releases_the_ticket_when_the_job_ends_not_before():
    pool = WorkerPool(workers=1, queue=0)
    gate = threading.Event()

    async def scenario() -> None:
        ticket = pool.admit()
        job = asyncio.ensure_future(pool.run(ticket, gate.wait, 30))
        await asyncio.sleep(0.05)
        job.cancel()  # the client went away: the worker is still busy
        await asyncio.sleep(0.05)
        with pytest.raises(PoolFull):
            pool.admit()
        gate.set()
        for _ in range(500):
            if pool.stats()["running"] == 0:
                break
            await asyncio.sleep(0.01)
        pool.admit().release()  # free again once the job has ended

    try:
        asyncio.run(scenario())
        assert pool.stats()["served"] == 1
    finally:
        gate.set()
        pool.shutdown()


def test_retry_after_follows_recent_service_times():
    pool = WorkerPool(workers=1, queue=2)
    try:
        pool._recent.extend([4.0, 4.0])
        tickets = [pool.admit() for _ in range(3)]
        with pytest.raises(PoolFull) as info:
            pool.admit()
        assert info.value.retry_after == 16  # 4 s each for the 3 ahead and this one, one worker
        for t in tickets:
            t.release()
    finally:
        pool.shutdown()


# ---- command line ----------------------------------------------------------------------------


def test_serve_without_the_extra_prints_one_line(monkeypatch, capsys):
    from inpaintscope.cli.main import main

    monkeypatch.setitem(sys.modules, "fastapi", None)  # as if not installed
    with pytest.raises(SystemExit) as info:
        main(["serve"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install "inpaintscope[serve]"' in err and "fastapi" in err


def test_serve_help_needs_no_extra(monkeypatch, capsys):
    from inpaintscope.cli.main import main

    monkeypatch.setitem(sys.modules, "fastapi", None)
    main(["serve", "--help"])
    out = capsys.readouterr().out
    for option in ("--host", "--port", "--workers", "--queue", "--max-bytes", "--max-pixels", "--model"):
        assert option in out


@pytest.mark.slow
def test_serve_command_runs_the_shipped_model_on_loopback(tmp_path):
    pytest.importorskip("fastapi", reason="the serve extra is not installed")
    pytest.importorskip("uvicorn", reason="the serve extra is not installed")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "inpaintscope.cli.main", "serve", "--port", "0", "--queue", "2"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        line = ""
        deadline = time.monotonic() + 120
        while "http://" not in line:
            assert time.monotonic() < deadline and proc.poll() is None, f"serve did not start: {line}"
            line = proc.stderr.readline()
        url = line.split()[2]
        assert url.startswith("http://127.0.0.1:") and "model scope_cue:default.safetensors" in line
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, never a proxy
        with opener.open(url + "healthz", timeout=30) as r:
            import json

            health = json.loads(r.read())
        assert health["limits"]["queue"] == 2 and health["model"].startswith("scope_cue:")
        buf = io.BytesIO()
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)).save(buf, "PNG")
        req = urllib.request.Request(url + "v1/detect?images=none", data=buf.getvalue(), method="POST")
        with opener.open(req, timeout=60) as r:
            rec = json.loads(r.read())
        assert (rec["status"], rec["width"], rec["height"]) == ("ok", 128, 96)
        assert 0.0 <= rec["score"] <= 1.0 and rec["model"] == health["model"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan"), True, "0.5"])
def test_create_app_refuses_a_threshold_that_is_not_a_probability_before_loading_a_model(bad) -> None:
    pytest.importorskip("fastapi")
    from inpaintscope.errors import InpaintscopeError
    from inpaintscope.serve.app import create_app

    with pytest.raises(InpaintscopeError, match="image_threshold must be a probability"):
        create_app(model="no-such-model", image_threshold=bad)


def test_thresholds_accept_numpy_scalars_of_any_width() -> None:
    from inpaintscope.detection.api import resolve_thresholds

    assert resolve_thresholds(np.float32(0.25), np.int64(1)) == (0.25, 1.0)
