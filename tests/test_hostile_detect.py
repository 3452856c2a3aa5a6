"""Hostile inputs and faults for ``inpaintscope detect``, on a corpus the tests generate themselves
(no binary fixtures): odd image shapes, non-UTF-8 names, FIFOs, float TIFFs holding NaN, user
files in the way, unusable output folders, a full disk, concurrent runs, ``kill -9`` mid-run,
damaged outputs under ``--skip-existing``, a checkpoint of NaN weights, large images.

Every case asserts: no traceback on stderr, the right exit code, and nothing lost or overwritten.
Test names say the category: ``test_bad_input_*``, ``test_fault_*``, ``test_memory_*``.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from inpaintscope.detection import LoadedModel, detect
from inpaintscope.detection.api import ModelOutputError
from inpaintscope.detection.batch import expand_inputs, run_batch
from inpaintscope.detection.outputs import OutputFolder, OutputFolderError, output_base
from inpaintscope.detection.render import caption_height, colour_bar_width
from inpaintscope.io import encode_image, read_image
from inpaintscope.models import Detector, DetectorOutput
from test_detect_cli import error_lines, pic, run, write_png
from test_detect_support import cli_command, make_checkpoint, registered, square_image

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with registered():
        yield str(make_checkpoint(tmp_path_factory.mktemp("ck") / "bright.safetensors"))


def strict_records(out: Path) -> list[dict]:
    """results.jsonl parsed strictly: complete lines only, valid UTF-8, no NaN or infinity."""

    def refuse(token: str) -> None:
        raise AssertionError(f"non-strict JSON constant {token} in results.jsonl")

    data = (out / "results.jsonl").read_bytes()
    assert data == b"" or data.endswith(b"\n"), "results.jsonl ends mid-record"
    return [json.loads(line, parse_constant=refuse) for line in data.decode("utf-8").splitlines()]


def assert_verified(out: Path, rec: dict) -> None:
    """Every picture ``rec`` names exists with the SHA-256 it records."""
    assert rec["status"] == "ok", rec
    for kind in ("mask", "heatmap", "overlay"):
        if rec[kind] is not None:
            assert hashlib.sha256((out / rec[kind]).read_bytes()).hexdigest() == rec["output_sha256"][kind]


def noise_png(path: Path, size: int = 48, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    return write_png(path, rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


def no_temporaries(out: Path) -> bool:
    return not [p for p in out.rglob(".tmp-*")]


def sub(*args: str | bytes, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(cli_command(*args), capture_output=True, env=ENV, cwd=cwd, timeout=timeout)


# ---- bad inputs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("width,height", [(1000, 6000), (6000, 1000), (1, 1), (1, 9), (9, 1)])
def test_bad_input_tall_wide_and_tiny_images_with_overlays(
    ckpt: str, tmp_path: Path, capsys: pytest.CaptureFixture, width: int, height: int
) -> None:
    img = np.full((height, width, 3), 20, np.uint8)
    img[: max(1, height // 3), : max(1, width // 3)] = 255  # a flagged region, so a box is drawn too
    src = write_png(tmp_path / "in" / "odd.png", img)
    out = tmp_path / "out"
    code = run(["detect", str(src), "-o", str(out), "--model", ckpt])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert "Traceback" not in cap.err and error_lines(cap.err) == []
    [rec] = strict_records(out)
    assert (rec["width"], rec["height"]) == (width, height)
    overlay = np.asarray(Image.open(out / rec["overlay"]))
    bar = colour_bar_width(height)
    assert overlay.shape == (caption_height(width + bar, height) + height, width + bar, 3)


def test_bad_input_non_utf8_file_names(ckpt: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    name = os.fsencode(folder) + b"/caf\xe9.png"  # Latin-1 bytes: not UTF-8
    with open(name, "wb") as f:
        f.write(encode_image(square_image(32), "png"))
    write_png(folder / "ok.png", square_image(32))
    empty = os.fsencode(folder) + b"/vide\xff.png"  # an error message naming a non-UTF-8 file
    open(empty, "wb").close()
    out = tmp_path / "out"
    # the folder lists the name, and the same file is also given explicitly, as Python passes
    # raw argv bytes (os.fsdecode: surrogate escapes)
    code = run(["detect", str(folder), os.fsdecode(name), "-o", str(out), "--model", ckpt])
    cap = capsys.readouterr()
    assert code == 2 and "Traceback" not in cap.err
    assert error_lines(cap.err)[0] == f"error: {folder}/vide\\xff.png: empty file (0 bytes)"
    recs = strict_records(out)  # decodes as strict UTF-8
    by_name = {Path(r["file"]).name: r for r in recs}
    assert set(by_name) == {"caf\\xe9.png", "ok.png", "vide\\xff.png"}
    assert by_name["vide\\xff.png"]["error"] == f"{folder}/vide\\xff.png: empty file (0 bytes)"
    rec = by_name["caf\\xe9.png"]
    assert_verified(out, rec)
    assert rec["mask"].endswith("caf\\xe9.png.mask.png") and rec["input_size"] == os.stat(name).st_size
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "caf%E9.png" in page  # the original is linked by its real bytes
    assert (out / "results.csv").read_bytes().decode("utf-8")
    cap.out.encode("utf-8")  # what was printed is valid text too


def test_bad_input_fifo_and_device_are_refused_without_hanging(ckpt: str, tmp_path: Path) -> None:
    fifo = tmp_path / "in" / "pipe.png"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    good = write_png(tmp_path / "in" / "good.png", square_image(32))
    out = tmp_path / "out"
    # nobody ever writes to the FIFO: a blocking open would hang until the timeout. The folder
    # listing skips it (not a regular file); named explicitly, it gets an error record.
    proc = sub("detect", str(fifo), "/dev/null", str(fifo.parent), "-o", str(out), "--model", ckpt, timeout=180)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "Traceback" not in err
    assert error_lines(err) == [
        f"error: {fifo}: is a FIFO (named pipe), not a regular file; refused",
        "error: /dev/null: is a character device, not a regular file; refused",
        "error: 2 of 3 input(s) failed",
    ]
    recs = {r["file"]: r for r in strict_records(out)}
    assert recs[str(fifo)]["status"] == "error" and recs["/dev/null"]["status"] == "error"
    assert recs[str(good)]["status"] == "ok"


@pytest.mark.parametrize(
    "bad,words",
    [
        (np.nan, "nan or infinite"),
        (np.inf, "nan or infinite"),
        (-np.inf, "nan or infinite"),
        (-0.25, "negative values"),
    ],
)
def test_bad_input_float_tiffs_with_nan_inf_or_negative_values(
    ckpt: str, tmp_path: Path, capsys: pytest.CaptureFixture, bad: float, words: str
) -> None:
    arr = np.full((24, 24), 0.5, np.float32)
    arr[5, 7] = bad
    tif = tmp_path / "in" / "float.tif"
    tif.parent.mkdir()
    Image.fromarray(arr, mode="F").save(tif)
    fine = np.linspace(0, 1, 24 * 24, dtype=np.float32).reshape(24, 24)
    Image.fromarray(fine, mode="F").save(tmp_path / "in" / "fine.tif")
    out = tmp_path / "out"
    code = run(["detect", str(tmp_path / "in"), "-o", str(out), "--model", ckpt])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    recs = {Path(r["file"]).name: r for r in strict_records(out)}
    assert recs["float.tif"]["status"] == "error" and words in recs["float.tif"]["error"].lower()
    assert recs["fine.tif"]["status"] == "ok"
    assert read_image(tmp_path / "in" / "fine.tif")[-1, -1].tolist() == [255, 255, 255]


def test_bad_input_globs_say_what_happened(
    ckpt: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_png(Path("same/p.png"), square_image(32))
    write_png(Path("same/q.png"), square_image(32, box=(0, 0, 5, 5)))
    # the inputs' own folder as the output folder: the matches are the user's files, so they run
    assert run(["detect", "same/*.png", "-o", "same", "--model", ckpt]) == 0
    assert [r["file"] for r in strict_records(Path("same"))] == ["same/p.png", "same/q.png"]
    capsys.readouterr()
    # a pattern matching only files an earlier run wrote says so (not "no files match")
    assert run(["detect", "same/same/*", "-o", "same", "--model", ckpt]) == 2
    err = capsys.readouterr().err
    assert "same/same/*: all 6 matching file(s) are outputs an earlier detect run wrote into the output folder" in err
    assert run(["detect", "same/*.webp", "-o", "same", "--model", ckpt]) == 2
    assert "same/*.webp: no files match this pattern" in capsys.readouterr().err
    # the user's images are still there, untouched, and the outputs were never taken as inputs
    assert sorted(p.name for p in Path("same").glob("*.png")) == ["p.png", "q.png"]


def test_bad_input_user_files_are_never_overwritten(
    ckpt: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_png(Path("same/p.jpg"), square_image(32))  # a PNG named .jpg: explicit files run whatever the suffix
    write_png(Path("same/q.png"), square_image(32))
    # the user's own file sits exactly where p.jpg's mask would go
    mine = Path("same/same/p.jpg.mask.png")
    mine.parent.mkdir()
    mine.write_bytes(b"the user's file")
    code = run(["detect", "same/p.jpg", "same/q.png", "-o", "same", "--model", ckpt])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "same/same/p.jpg.mask.png exists and was not written by inpaintscope detect; not overwritten" in err
    assert mine.read_bytes() == b"the user's file"
    assert not Path("same/same/p.jpg.heatmap.png").exists()  # none of p's pictures: all or nothing
    recs = {r["file"]: r for r in strict_records(Path("same"))}
    assert recs["same/p.jpg"]["status"] == "error" and recs["same/q.png"]["status"] == "ok"
    # our own pictures are ours to replace: a second run over q is fine
    assert run(["detect", "same/q.png", "-o", "same", "--model", ckpt]) == 0
    # a results file the user made in the output folder stops the run before anything is written
    Path("user").mkdir()
    Path("user/results.csv").write_text("name,mine\n")
    Path("user/index.html").write_text("<html>my page</html>")
    assert run(["detect", "same/q.png", "-o", "user", "--model", ckpt]) == 2
    assert "user/results.csv exists and was not written by inpaintscope detect" in capsys.readouterr().err
    assert Path("user/results.csv").read_text() == "name,mine\n"
    assert Path("user/index.html").read_text() == "<html>my page</html>"
    assert sorted(p.name for p in Path("user").iterdir()) == ["index.html", "results.csv"]


def test_bad_input_our_files_changed_by_the_user_are_never_overwritten(
    ckpt: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_png(Path("in/a.png"), square_image(32))
    write_png(Path("in/b.png"), square_image(32, box=(4, 4, 20, 20)))
    assert run(["detect", "in", "-o", "out", "--model", ckpt]) == 0
    # an analyst's notes in the table detect wrote: the next run stops before writing anything
    notes = Path("out/results.csv").read_text() + "analyst,CONFIRMED FAKE - see case 1234\n"
    Path("out/results.csv").write_text(notes)
    capsys.readouterr()
    assert run(["detect", "in", "-o", "out", "--model", ckpt]) == 2
    assert "out/results.csv was changed since inpaintscope detect wrote it; move it away" in capsys.readouterr().err
    assert Path("out/results.csv").read_text() == notes
    Path("out/results.csv").rename("notes.csv")
    # an overlay painted over (a whole PNG): that input fails, the others go on
    painted = encode_image(np.full((32, 32, 3), 200, np.uint8), "png")
    pic(Path("out"), "in/a.png", "overlay").write_bytes(painted)
    # a version a killed run journalled but never put in place does not count as a change
    with open("out/.inpaintscope/journal.jsonl", "a") as f:
        f.write(json.dumps({"wrote": str(output_base("in/b.png")) + ".mask.png", "sha256": "0" * 64}) + "\n")
    assert run(["detect", "in", "-o", "out", "--model", ckpt]) == 2
    err = capsys.readouterr().err
    assert error_lines(err)[0] == (
        "error: in/a.png: out/in/a.png.overlay.png was changed since inpaintscope detect wrote it; not overwritten "
        "(move it away or choose another output folder)"
    )
    assert pic(Path("out"), "in/a.png", "overlay").read_bytes() == painted
    recs = {r["file"]: r["status"] for r in strict_records(Path("out"))}
    assert recs == {"in/a.png": "error", "in/b.png": "ok"}
    # a journal line a killed write left without its newline is cut when the folder is opened: glued
    # to the next run's first line, that line (a picture's hash) would be lost
    journal = Path("out/.inpaintscope/journal.jsonl")
    whole = journal.read_bytes()
    journal.write_bytes(whole + b'{"wrote": "in/b.png.ma')
    with OutputFolder.open("out") as folder:
        folder.write("extra.png", b"x")
    assert journal.read_bytes().startswith(whole) and journal.read_bytes()[len(whole) :].startswith(b'{"wrote": "extra')
    # moved away, it is redone; and an emptied picture is damage, not the user's: redone too
    pic(Path("out"), "in/a.png", "overlay").unlink()
    pic(Path("out"), "in/b.png", "heatmap").write_bytes(b"")
    assert run(["detect", "in", "-o", "out", "--model", ckpt]) == 0
    assert pic(Path("out"), "in/b.png", "heatmap").stat().st_size > 0


def test_bad_input_two_inputs_with_one_output_name(
    ckpt: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = write_png(tmp_path / "elsewhere" / "a.png", square_image(32))
    here = tmp_path / "cwd"
    # inside the current folder, the same relative path as the outside file's absolute one
    inside = write_png(here / outside.relative_to(outside.anchor), square_image(32, box=(0, 0, 9, 9)))
    monkeypatch.chdir(here)
    assert output_base(outside) == output_base(inside.relative_to(here))
    code = run(["detect", str(outside), str(inside.relative_to(here)), "-o", "out", "--model", ckpt])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "run it into another output folder" in err
    recs = strict_records(Path("out"))
    assert [r["status"] for r in recs] == ["ok", "error"]
    assert_verified(Path("out"), recs[0])
    assert recs[0]["input_sha256"] == hashlib.sha256(outside.read_bytes()).hexdigest()


def test_bad_input_same_names_in_two_folders_keep_their_own_outputs(
    ckpt: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    boxes = {"x": (0, 0, 10, 10), "y": (20, 20, 40, 40)}
    for d, box in boxes.items():
        write_png(Path(d) / "a.png", square_image(48, box=box))
        write_png(Path(d) / "b.png", square_image(48, box=box))
    out = Path("out")
    assert run(["detect", "x", "y", "-o", str(out), "--model", ckpt]) == 0
    capsys.readouterr()
    # resumed with the inputs in the other order: everything is verified and skipped, and each
    # record still points at its own input's pictures
    assert run(["detect", "y", "x", "-o", str(out), "--model", ckpt, "--skip-existing"]) == 0
    assert "4 skipped" in capsys.readouterr().out
    recs = strict_records(out)
    assert len(recs) == 4
    for r in recs:
        assert_verified(out, r)
        assert r["mask"] == f"{r['file']}.mask.png"
        x0, y0, x1, y1 = boxes[r["file"][0]]
        mask = np.asarray(Image.open(out / r["mask"]))
        assert mask[y0:y1, x0:x1].all() and mask.sum() == 255 * (x1 - x0) * (y1 - y0)


# ---- faults: the output folder, the disk, the process ----------------------------------------------


@contextlib.contextmanager
def tmpfs(path: Path, options: str) -> Iterator[None]:
    """A tmpfs mounted at ``path`` (created) for the duration; skips unless we may mount (root)."""
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs CAP_SYS_ADMIN)")
    try:
        yield
    finally:
        subprocess.run(["umount", str(path)], check=True)


@contextlib.contextmanager
def read_only_folder(path: Path) -> Iterator[None]:
    """A folder nobody can write into: a read-only tmpfs for root (who ignores modes), else chmod."""
    if os.geteuid() == 0:
        with tmpfs(path, "size=1m,ro"):
            yield
        return
    path.mkdir()
    path.chmod(0o555)
    try:
        yield
    finally:
        path.chmod(0o755)


@pytest.mark.parametrize(
    "case", ["file_in_the_way", "read_only", "dangling_symlink", "results_jsonl_is_a_folder", "state_is_a_file"]
)
def test_fault_unusable_output_folder_is_one_line(
    ckpt: str, tmp_path: Path, capsys: pytest.CaptureFixture, case: str
) -> None:
    src = write_png(tmp_path / "a.png", square_image(32))
    expected = {
        "file_in_the_way": "cannot create output folder {out}: {tmp}/file is a file, not a folder",
        "read_only": "output folder {out} is not writable (Read-only file system)",
        "dangling_symlink": "output folder {out} is a symbolic link to /nonexistent/target, which does not exist",
        "results_jsonl_is_a_folder": "{out}/results.jsonl is a folder; move it away",
        "state_is_a_file": "{out}/.inpaintscope is a file, not inpaintscope's state folder",
    }[case]
    with contextlib.ExitStack() as stack:
        if case == "file_in_the_way":
            (tmp_path / "file").write_text("x")
            out = tmp_path / "file" / "sub"
        elif case == "read_only":
            out = tmp_path / "ro"
            stack.enter_context(read_only_folder(out))
            if os.geteuid() != 0:
                expected = "output folder {out} is not writable (Permission denied)"
        elif case == "dangling_symlink":
            out = tmp_path / "link"
            out.symlink_to("/nonexistent/target")
        elif case == "results_jsonl_is_a_folder":
            out = tmp_path / "out"
            (out / "results.jsonl").mkdir(parents=True)
        else:
            out = tmp_path / "out"
            out.mkdir()
            (out / ".inpaintscope").write_text("not a folder")
        code = run(["detect", str(src), "-o", str(out), "--model", ckpt])
        err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert expected.format(out=out, tmp=tmp_path) in err
    assert not Path("/nonexistent/target").exists()  # a dangling -o is not followed and created


def test_fault_disk_full_every_input_tried_then_resume(
    ckpt: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for i in range(40):
        noise_png(Path("in") / f"n{i:02d}.png", seed=i)
    disk = tmp_path / "disk"
    with tmpfs(disk, "size=2m"):  # a small disk that fills up
        filler = disk / "filler"
        filler.write_bytes(b"\0" * (2 * 2**20 - 200 * 2**10))  # ~200 KiB left: a few images fit
        out = disk / "out"
        code = run(["detect", "in", "-o", str(out), "--model", ckpt])
        cap = capsys.readouterr()
        assert code == 2 and "Traceback" not in cap.err
        # every input was tried: each one either succeeded or has its own error line
        per_image = [line for line in error_lines(cap.err) if line.startswith("error: in/")]
        n_ok = int(cap.out.split("detect: ")[1].split(" ok")[0])
        n_failed = int(cap.out.split("), ")[1].split(" failed")[0])
        assert n_ok + n_failed == 40 and len(per_image) == n_failed and n_failed > 0
        assert all("No space left on device" in line for line in per_image)
        # results files are whole or absent, never cut mid-record
        if (out / "results.jsonl").exists():
            assert len(strict_records(out)) == 40
        else:
            assert "error: cannot write" in cap.err and "results.jsonl: No space left on device" in cap.err
        journal = (out / ".inpaintscope" / "journal.jsonl").read_bytes()
        assert journal == b"" or journal.endswith(b"\n")
        for line in journal.decode().splitlines():
            json.loads(line)
        assert no_temporaries(out)
        # space again: the resume keeps what it can verify and redoes the rest
        filler.unlink()
        assert run(["detect", "in", "-o", str(out), "--model", ckpt, "--skip-existing"]) == 0
        cap = capsys.readouterr()
        assert "Traceback" not in cap.err
        # what finished before the disk filled up and can be verified is kept (a record the full
        # disk kept out of the journal is simply redone)
        assert 0 < int(cap.out.split(" skipped")[0].rsplit("; ", 1)[1]) <= n_ok
        recs = strict_records(out)
        assert sorted(r["file"] for r in recs) == sorted(f"in/n{i:02d}.png" for i in range(40))
        for r in recs:
            assert_verified(out, r)
        assert no_temporaries(out)


def test_fault_second_run_on_a_locked_folder_is_refused(
    ckpt: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    src = write_png(tmp_path / "a.png", square_image(32))
    out = tmp_path / "out"
    with OutputFolder.open(out):  # another run holds the folder
        code = run(["detect", str(src), "-o", str(out), "--model", ckpt])
        err = capsys.readouterr().err
        assert code == 2 and "Traceback" not in err
        assert err.strip() == (
            f"error: output folder {out} is in use by another inpaintscope detect run "
            f"(pid {os.getpid()}); wait for it to finish or choose another output folder"
        )
        assert not (out / "results.jsonl").exists()
        with pytest.raises(OutputFolderError, match="in use"):
            run_batch([], out, model=None, tile=1024, overlap=128)  # type: ignore[arg-type]
    assert run(["detect", str(src), "-o", str(out), "--model", ckpt]) == 0  # released


def test_fault_two_processes_on_one_output_folder_lose_nothing(ckpt: str, tmp_path: Path) -> None:
    runs = {}
    for name in ("p", "q"):
        for i in range(6):
            noise_png(tmp_path / name / f"{name}{i}.png", seed=i)
    out = tmp_path / "out"
    procs = {
        name: subprocess.Popen(
            cli_command("detect", str(tmp_path / name), "-o", str(out), "--model", ckpt),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=ENV,
        )
        for name in ("p", "q")
    }
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=180)
        runs[name] = (proc.returncode, stderr.decode())
    files = {r["file"] for r in strict_records(out)}
    for name, (code, err) in runs.items():
        assert "Traceback" not in err
        if code == 0:  # every record of a run that succeeded is in the final results
            assert {str(tmp_path / name / f"{name}{i}.png") for i in range(6)} <= files
        else:  # a refused run says why and who holds the folder
            assert code == 2 and "is in use by another inpaintscope detect run (pid " in err
    assert any(code == 0 for code, _ in runs.values())


def _journal_lines(out: Path) -> int:
    try:
        return (out / ".inpaintscope" / "journal.jsonl").read_bytes().count(b"\n")
    except OSError:
        return 0


def test_fault_kill_9_at_random_points_then_resume(
    ckpt: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for i in range(12):
        noise_png(Path("in") / f"k{i:02d}.png", size=96, seed=i)
    ref = Path("ref")
    t0 = time.perf_counter()
    proc = subprocess.run(
        cli_command("detect", "in", "-o", str(ref), "--model", ckpt), env=ENV, capture_output=True, timeout=300
    )
    duration = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr.decode()
    expected = {r["file"]: r for r in strict_records(ref)}
    out = Path("out")
    rng = np.random.default_rng(9)
    # kill 1: at a random moment of a run's lifetime; kill 2: after a random number of journal
    # lines (mid-batch, between or inside an image's writes)
    for round_ in range(2):
        lines_before = _journal_lines(out)
        p = subprocess.Popen(
            cli_command("detect", "in", "-o", str(out), "--model", ckpt, "--skip-existing"),
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if round_ == 0:
            time.sleep(float(rng.uniform(0.5, 0.9)) * duration)
        else:
            target = lines_before + int(rng.integers(1, 20))
            deadline = time.monotonic() + 300
            while _journal_lines(out) < target and p.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=60)
    code = run(["detect", "in", "-o", str(out), "--model", ckpt, "--skip-existing"])
    cap = capsys.readouterr()
    assert code == 0 and "Traceback" not in cap.err
    got = {r["file"]: r for r in strict_records(out)}
    assert set(got) == set(expected)
    for f, r in got.items():
        assert_verified(out, r)
        for key in ("score", "decision", "regions", "mask", "overlay", "output_sha256", "input_sha256"):
            assert r[key] == expected[f][key], (f, key)
    assert no_temporaries(out)


def test_fault_stale_temporaries_of_a_killed_run_are_removed(
    ckpt: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    src = write_png(tmp_path / "in" / "a.png", square_image(32))
    out = tmp_path / "out"
    assert run(["detect", str(src), "-o", str(out), "--model", ckpt]) == 0
    pictures = pic(out, src, "mask").parent
    (pictures / ".tmp-abcd1234.png").write_bytes(b"half a png")  # what a kill -9 mid-write leaves
    (out / ".tmp-zz9_8y7x.jsonl").write_bytes(b'{"file": "x", "sta')
    (out / ".tmp-mine.txt").write_text("a user's file that merely looks similar")
    capsys.readouterr()
    assert run(["detect", str(src), "-o", str(out), "--model", ckpt]) == 0
    assert "note: removed 2 temporary file(s)" in capsys.readouterr().err
    assert sorted(p.name for p in out.rglob(".tmp-*")) == [".tmp-mine.txt"]


#: what a resume must do with a.png after each change: skip it (verified) or redo it
RESUME_CASES = {
    "unchanged": "skip",
    "zero_byte_output": "redo",
    "truncated_output": "redo",
    "missing_output": "redo",
    "input_replaced_same_size_and_mtime": "redo",
    "model_changed": "redo_all",
    "pixel_threshold_changed": "redo_all",
    "image_threshold_changed": "redo_all",
    "deprecated_threshold_changed": "redo_all",
}


@pytest.mark.parametrize("case", list(RESUME_CASES))
def test_fault_skip_existing_trusts_only_what_it_can_verify(
    ckpt: str, tmp_path: Path, capsys: pytest.CaptureFixture, case: str
) -> None:
    # BMP: its size depends on the dimensions only, so a replacement can match size and mtime
    src = tmp_path / "in" / "a.bmp"
    src.parent.mkdir()
    src.write_bytes(encode_image(square_image(48, box=(4, 4, 30, 30)), "bmp"))
    other = write_png(tmp_path / "in" / "b.png", square_image(48))
    out = tmp_path / "out"
    assert run(["detect", str(src), str(other), "-o", str(out), "--model", ckpt]) == 0
    model = ckpt
    args = []
    if case == "zero_byte_output":
        pic(out, src, "overlay").write_bytes(b"")
    elif case == "truncated_output":
        data = pic(out, src, "heatmap").read_bytes()
        pic(out, src, "heatmap").write_bytes(data[: len(data) // 2])
    elif case == "missing_output":
        pic(out, src, "mask").unlink()
    elif case == "input_replaced_same_size_and_mtime":
        st = src.stat()
        replacement = encode_image(square_image(48, box=(10, 10, 40, 40)), "bmp")
        assert len(replacement) == st.st_size
        src.write_bytes(replacement)
        os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))  # only the content hash tells
    elif case == "model_changed":
        with registered():
            model = str(make_checkpoint(tmp_path / "other.safetensors", kind="random", seed=3))
    elif case == "pixel_threshold_changed":
        args = ["--pixel-threshold", "0.3"]
    elif case == "image_threshold_changed":
        args = ["--image-threshold", "0.9"]
    elif case == "deprecated_threshold_changed":
        args = ["--threshold", "0.7"]
    capsys.readouterr()
    assert run(["detect", str(src), str(other), "-o", str(out), "--model", model, "--skip-existing", *args]) == 0
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err
    skipped = int(cap.out.split(" skipped")[0].rsplit("; ", 1)[1]) if " skipped" in cap.out else 0
    assert skipped == {"skip": 2, "redo": 1, "redo_all": 0}[RESUME_CASES[case]]  # b.png's pictures are intact
    recs = {Path(r["file"]).name: r for r in strict_records(out)}
    for r in recs.values():
        assert_verified(out, r)
    a = recs["a.bmp"]
    assert a["input_sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert a["input_mtime_ns"] == src.stat().st_mtime_ns and a["input_size"] == src.stat().st_size
    if case == "input_replaced_same_size_and_mtime":
        assert [(g["x0"], g["y0"]) for g in a["regions"]] == [(10, 10)]
    # the records and the page claim the settings that really produced them
    pixel = {"pixel_threshold_changed": 0.3, "deprecated_threshold_changed": 0.7}.get(case, 0.5)
    image = {"image_threshold_changed": 0.9, "deprecated_threshold_changed": 0.7}.get(case, 0.5)
    for r in recs.values():
        assert (r["pixel_threshold"], r["image_threshold"]) == (pixel, image)
        assert r["model"].split(":")[1].split("@")[0] == Path(model).name
    if case == "deprecated_threshold_changed":
        assert "warning: --threshold is deprecated" in cap.err
    page = (out / "index.html").read_text()
    assert f"pixel threshold {pixel:g}, image threshold {image:g}." in page and "other thresholds" not in page


class NanDetector(Detector):
    """Answers NaN everywhere, like a checkpoint whose training diverged."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(float("nan")))

    def forward(self, x: torch.Tensor) -> DetectorOutput:
        logits = x[:, :1] * self.w
        return DetectorOutput(logits, logits.amax(dim=(2, 3)))


def test_fault_nan_weights_never_reach_json(ckpt: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    img = square_image(32)
    with pytest.raises(ModelOutputError, match="not finite"):
        detect(img, model=NanDetector())
    src = write_png(tmp_path / "a.png", img)
    summary = run_batch(
        expand_inputs([str(src)], out_dir=tmp_path / "lib"),
        tmp_path / "lib",
        model=LoadedModel(NanDetector().eval(), "nan", torch.device("cpu")),
        tile=1024,
        overlap=128,
    )
    [rec] = strict_records(tmp_path / "lib")
    assert summary.failed == 1 and rec["status"] == "error" and "not finite" in rec["error"] and rec["score"] is None
    # the same through the CLI with a checkpoint of NaN weights: refused at load, or per image
    with registered():
        nan_ckpt = make_checkpoint(tmp_path / "nan.safetensors", kind="nan")
    out = tmp_path / "out"
    code = run(["detect", str(src), "-o", str(out), "--model", str(nan_ckpt)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and err.startswith("error: ")
    if (out / "results.jsonl").exists():
        [rec] = strict_records(out)
        assert rec["status"] == "error" and "not finite" in rec["error"]
        with open(out / "results.csv", newline="") as f:
            [row] = list(csv.DictReader(f))
        assert row["score"] == "" and not {v.lower() for v in row.values()} & {"nan", "inf", "-inf"}


def test_fault_pillow_bomb_guard_stays_on_in_other_threads(tmp_path: Path) -> None:
    """Reading images never switches Pillow's process-wide size limit off, even for a moment."""
    limit = Image.MAX_IMAGE_PIXELS
    assert limit is not None
    big = encode_image(np.zeros((64, 64, 3), np.uint8), "png")
    stop = threading.Event()
    seen: list[object] = []

    def reader() -> None:
        while not stop.is_set():
            read_image(big, max_pixels=10**6)

    def watcher() -> None:
        while not stop.is_set():
            seen.append(Image.MAX_IMAGE_PIXELS)

    threads = [threading.Thread(target=reader), threading.Thread(target=reader), threading.Thread(target=watcher)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    assert seen and all(v == limit for v in seen)


# ---- memory ------------------------------------------------------------------------------------


def test_memory_large_photo_with_overlay_is_bounded(ckpt: str, tmp_path: Path) -> None:
    """A 6000×4000 photo, overlays on, in its own process: peak RSS under the 2 GB target
    (tiled model, band-wise rendering into one canvas, no full-size float copies beyond the heatmap)."""
    h, w = 4000, 6000
    yy, xx = np.mgrid[0:h:8, 0:w:8]
    small = np.stack([(xx * 255 // w), (yy * 255 // h), ((xx + yy) % 256)], axis=-1).astype(np.uint8)
    src = tmp_path / "big.png"
    # written straight from the small array, upsampled by Pillow: the test process stays small too
    Image.fromarray(small).resize((w, h), Image.NEAREST).save(src, compress_level=1)
    out = tmp_path / "out"
    proc = subprocess.run(
        cli_command("detect", str(src), "-o", str(out), "--model", ckpt, memory=True),
        capture_output=True,
        env=ENV,
        timeout=600,
    )
    err = proc.stderr.decode()
    assert proc.returncode == 0, err
    peak_mb = int(err.split("MAXRSS_KB")[1].split()[0]) / 1024
    [rec] = strict_records(out)
    assert (rec["width"], rec["height"]) == (w, h) and rec["overlay"]
    assert peak_mb < 2048, f"peak RSS {peak_mb:.0f} MB"
