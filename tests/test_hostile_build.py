"""Hostile sources and faults for ``dataset build`` (issue 8): non-UTF-8 names, decompression-bomb
headers, dangling links, identical copies, a full disk, and a ``kill -9`` of the build with
workers. The corpus is generated here (headers are crafted bytes; nothing large is allocated)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from inpaintscope.cli.main import cli
from inpaintscope.data.builder import BuildConfig, build_dataset, plan_build
from inpaintscope.data.sources import discover_sources, probe_source, stable_hash
from inpaintscope.data.splits import assign_splits, parse_split
from inpaintscope.io import list_image_files, printable, write_image
from test_data_builder import make_sources, read_manifest, smooth_photo, tree_hashes

SMALL = BuildConfig(
    masks=("rectangle",), inpainters=("telea",), modes=("realfake",), per_image=1, size=64, split="train=1"
)


def png_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width``×``height`` (8-bit RGB) over 16 bytes of pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + chunk(b"IEND", b"")
    )


def jpeg_claiming(width: int, height: int) -> bytes:
    """A real 16×16 JPEG whose SOF0 header is patched to claim ``width``×``height``."""
    import io

    buf = io.BytesIO()
    Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(buf, format="JPEG")
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


# --------------------------------------------------------------------------- file names


NON_UTF8 = [os.fsdecode(b"caf\xe9.png"), os.fsdecode(b"\xff\xfe-photo.png")]


@pytest.fixture()
def non_utf8_src(tmp_path: Path) -> Path:
    if sys.platform == "darwin":  # APFS refuses names that are not UTF-8
        pytest.skip("this file system only stores UTF-8 names")
    src = make_sources(tmp_path / "src", n=2, bad=False)
    rng = np.random.default_rng(5)
    for name in NON_UTF8:
        write_image(src / name, smooth_photo(rng, 80, 96))
    (src / os.fsdecode(b"empty-\xe9.jpg")).write_bytes(b"")
    return src


def test_non_utf8_names_build_and_are_json_safe(non_utf8_src: Path, tmp_path: Path) -> None:
    summary = build_dataset([non_utf8_src], tmp_path / "a", SMALL, workers=1, progress=False)
    assert summary["samples"] == 4
    assert summary["skipped_sources"] == [{"source": "empty-\\xe9.jpg", "reason": "empty file (0 bytes)"}]
    for name in ("manifest.jsonl", "summary.json", "build.json"):
        (tmp_path / "a" / name).read_bytes().decode("utf-8", errors="strict")  # no lone surrogates
    sources = sorted(r["source"] for r in read_manifest(tmp_path / "a"))
    assert sources == ["\\xff\\xfe-photo.png", "caf\\xe9.png", "photo1.png", "sub/photo0.png"]
    for r in read_manifest(tmp_path / "a"):
        assert r["id"].isascii() and all(Path(f).name.isascii() for f in r["files"].values())
    # hashes are taken over the raw bytes: ordinary names hash as their UTF-8 bytes did
    import hashlib

    assert stable_hash("photo1.png") == int.from_bytes(hashlib.blake2b(b"photo1.png", digest_size=8).digest(), "little")
    assert stable_hash(NON_UTF8[0]) == int.from_bytes(hashlib.blake2b(b"caf\xe9.png", digest_size=8).digest(), "little")
    # deterministic, with 1 or 2 workers
    build_dataset([non_utf8_src], tmp_path / "b", SMALL, workers=2, progress=False)
    assert tree_hashes(tmp_path / "a") == tree_hashes(tmp_path / "b")


def test_non_utf8_names_through_the_cli_and_split_files(non_utf8_src: Path, tmp_path: Path) -> None:
    listing = tmp_path / "split.txt"
    listing.write_text("caf\\xe9.png test\nphoto1.png train\n", encoding="utf-8")
    code, output = _invoke(
        "dataset", "build", str(non_utf8_src), str(tmp_path / "out"), "--size", "64", "-q", "--split", str(listing)
    )
    assert code == 0 and "Traceback" not in output, output
    assert "empty-\\xe9.jpg: empty file" in output
    splits = {r["source"]: r["split"] for r in read_manifest(tmp_path / "out")}
    assert splits == {"caf\\xe9.png": "test", "photo1.png": "train"}
    assert printable("plain/é.png") == "plain/é.png"  # valid Unicode stays as it is
    assert printable("two\nlines\x1b[2J.png") == "two\\x0alines\\x1b[2J.png"  # one line, no terminal codes


def test_split_file_entries_that_name_no_photo_are_said(tmp_path: Path) -> None:
    src = make_sources(tmp_path / "src", n=3, bad=False)
    listing = tmp_path / "split.txt"
    listing.write_text("photo1.png train\nnothere.png val\nphoto2.png test\n")
    with pytest.warns(UserWarning, match=r"1 listed photo\(s\) are not among the sources \(e.g. 'nothere.png'\)"):
        build_dataset([src], tmp_path / "out", BuildConfig(size=64, split=str(listing)), workers=1, progress=False)


def test_per_image_is_bounded_before_anything_is_planned(tmp_path: Path) -> None:
    # every sample is planned in memory first: 10^9 per photo filled the machine's memory
    src = make_sources(tmp_path / "src", n=2, bad=False)
    code, output = _invoke("dataset", "build", str(src), str(tmp_path / "out"), "--per-image", "1000000000")
    assert code == 2 and "error: --per-image must be in 1..10000, got 1000000000" in output
    assert not (tmp_path / "out").exists()


def test_a_changed_source_set_is_said_once(tmp_path: Path) -> None:
    src = make_sources(tmp_path / "src", n=3, bad=False)
    build_dataset([src], tmp_path / "out", SMALL, workers=1, progress=False)
    (src / "photo1.png").unlink()
    code, output = _invoke("dataset", "build", str(src), str(tmp_path / "out"), "--size", "64", "--split", "train=1")
    assert code == 2 and output.count("the source photos differ") == 1, output


def test_training_on_modes_that_match_no_edit_is_refused(tmp_path: Path) -> None:
    # --modes fakefake on a realfake dataset left only the authentic photos, and training went on
    src = make_sources(tmp_path / "src", n=2, bad=False)
    cfg = BuildConfig(size=64, split="train=1", authentic=True)
    build_dataset([src], tmp_path / "ds", cfg, workers=1, progress=False)
    args = ["train", "--model", "scope_tiny", "--data", str(tmp_path / "ds"), "--out", str(tmp_path / "run")]
    code, output = _invoke(*args, "--set", "modes=[fakefake]", "--set", "val_split=null", "--set", "epochs=1")
    assert code == 2, output
    assert "holds 2 authentic images and no manipulated one; check the modes and the data" in output


# --------------------------------------------------------------------------- oversize headers (memory)


def test_oversize_headers_are_skipped_without_decoding(tmp_path: Path) -> None:
    src = make_sources(tmp_path / "src", n=2, bad=False)
    (src / "bomb.png").write_bytes(png_header(100_000, 100_000))
    (src / "huge.jpg").write_bytes(jpeg_claiming(20_000, 15_000))
    summary = build_dataset([src], tmp_path / "out", SMALL, workers=1, progress=False)
    reasons = {s["source"]: s["reason"] for s in summary["skipped_sources"]}
    assert reasons["bomb.png"].startswith("too large (100000×100000 = 10,000,000,000 pixels; the limit is 200,000,000")
    assert reasons["huge.jpg"].startswith("too large (20000×15000 = 300,000,000 pixels")
    assert summary["samples"] == 2 and "--max-pixels" in reasons["bomb.png"]


def test_project_pixel_limit_replaces_pillows(tmp_path: Path) -> None:
    """180 MP is above Pillow's own 179 MP error limit but within the project's 200 MP: the probe
    lets it through (decoding later finds the pixel data truncated), and --max-pixels moves the limit."""
    mid = tmp_path / "mid.png"
    mid.write_bytes(png_header(15_000, 12_000))
    assert probe_source(mid) is None
    assert probe_source(mid, max_pixels=100_000_000).startswith("too large (15000×12000")
    src = make_sources(tmp_path / "src", n=2, bad=False)
    code, output = _invoke(
        "dataset", "build", str(src), str(tmp_path / "out"), "--size", "64", "-q", "--max-pixels", "5000"
    )
    assert code == 0 and output.count("too large (") == 2, output  # 96×96 and 96×112 > 5000 px
    code, output = _invoke("dataset", "build", str(src), str(tmp_path / "out"), "--size", "64", "-q")
    assert code == 2 and "max_pixels: 5000 before, null now" in output, output  # pinned in build.json


def test_default_pixel_limit_keeps_build_json_unchanged(tmp_path: Path) -> None:
    """Datasets built before --max-pixels existed resume: the default is not written to build.json."""
    src = make_sources(tmp_path / "src", n=2, bad=False)
    build_dataset([src], tmp_path / "out", SMALL, workers=1, progress=False)
    config = json.loads((tmp_path / "out" / "build.json").read_text())["config"]
    assert "max_pixels" not in config and config["min_side"] == 64


# --------------------------------------------------------------------------- listing rule, links


def test_dangling_links_are_listed_as_skipped(tmp_path: Path) -> None:
    src = make_sources(tmp_path / "src", n=2, bad=False)
    (src / "gone.png").symlink_to(tmp_path / "deleted.png")
    (src / "alias.png").symlink_to(src / "photo1.png")
    (src / "loop.jpg").symlink_to(src / "loop.jpg")
    summary = build_dataset([src], tmp_path / "out", SMALL, workers=1, progress=False)
    reasons = {s["source"]: s["reason"] for s in summary["skipped_sources"]}
    assert reasons["gone.png"] == f"broken symbolic link (its target {tmp_path / 'deleted.png'} does not exist)"
    assert "loop.jpg" in reasons
    assert {r["source"] for r in read_manifest(tmp_path / "out")} == {"alias.png", "photo1.png", "sub/photo0.png"}


def test_list_image_files_rule(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "a" / "deep").mkdir(parents=True)
    (root / ".cache").mkdir()
    for rel in ("b.PNG", "a/x.jpg", "a/deep/y.webp", ".hidden.png", ".tmp-123.png", ".cache/z.png", "notes.txt"):
        (root / rel).write_bytes(b"x")
    (root / "a" / "dir.png").mkdir()  # a folder with an image suffix is not an image
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "w.png").write_bytes(b"x")
    (root / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)  # not descended
    (root / "dangling.jpg").symlink_to(tmp_path / "missing.jpg")
    os.mkfifo(root / "pipe.png")  # reading a FIFO would block forever
    got = [p.relative_to(root).as_posix() for p in list_image_files(root)]
    assert got == ["a/deep/y.webp", "a/x.jpg", "b.PNG", "dangling.jpg"]
    assert [p.name for p in list_image_files(root, recursive=False)] == ["b.PNG", "dangling.jpg"]
    assert [p.name for p in list_image_files(root / ".cache")] == ["z.png"]  # a hidden root is listed


# --------------------------------------------------------------------------- identical copies


def _copies_in_different_splits(names: list[str], copies: list[str], spec: str) -> int:
    """A seed for which the plain split assignment separates the copies."""
    for seed in range(200):
        drawn = assign_splits(sorted(names), parse_split(spec), seed=seed)
        if len({drawn[c] for c in copies}) > 1:
            return seed
    raise AssertionError("no seed separates the copies")


def test_identical_copies_share_the_first_copys_split(tmp_path: Path) -> None:
    src = make_sources(tmp_path / "src", n=6, bad=False)
    (src / "copies").mkdir()
    shutil.copy(src / "photo1.png", src / "copies" / "photo1_copy.png")
    shutil.copy(src / "photo1.png", src / "zz.png")
    copies = ["copies/photo1_copy.png", "photo1.png", "zz.png"]
    names = [s.relpath for s in discover_sources([src])]
    spec = "train=0.5,test=0.5"
    seed = _copies_in_different_splits(names, copies, spec)
    drawn = assign_splits(sorted(names), parse_split(spec), seed=seed)
    warnings: list[str] = []
    cfg = BuildConfig(masks=("rectangle",), inpainters=("telea",), per_image=1, size=64, split=spec, seed=seed)
    summary = build_dataset([src], tmp_path / "out", cfg, workers=1, progress=False, warn=warnings.append)
    splits = {r["source"]: r["split"] for r in read_manifest(tmp_path / "out")}
    first = drawn["copies/photo1_copy.png"]
    assert {splits[c] for c in copies} == {first}
    assert all(splits[n] == drawn[n] for n in names if n not in copies)  # nothing else moves
    assert summary["duplicate_sources"] == [{"split": first, "sources": copies}]
    assert len(warnings) == 1 and "2 source photo(s) are identical copies" in warnings[0]
    assert "copies/photo1_copy.png = photo1.png = zz.png" in warnings[0]


def test_identical_copies_default_warning_goes_to_stderr(tmp_path: Path, capsys) -> None:
    src = make_sources(tmp_path / "src", n=2, bad=False)
    shutil.copy(src / "photo1.png", src / "again.png")
    build_dataset([src], tmp_path / "out", SMALL, workers=1, progress=False)
    captured = capsys.readouterr()
    assert captured.err.startswith("warning: 1 source photo(s) are identical copies of others (again.png = photo1.png)")
    assert captured.out == ""


def test_identical_copies_with_a_split_file(tmp_path: Path) -> None:
    src = make_sources(tmp_path / "src", n=3, bad=False)
    shutil.copy(src / "photo1.png", src / "a_copy.png")
    shutil.copy(src / "photo1.png", src / "z_copy.png")
    listing = tmp_path / "split.txt"
    # the first copy (a_copy.png) is left out: the first *used* copy (photo1.png) decides
    listing.write_text("photo1.png test\nz_copy.png train\nphoto2.png val\nsub/photo0.png train\n")
    tasks, _, not_in_split = plan_build(discover_sources([src]), BuildConfig(split=str(listing)))
    assert {t.source.relpath: t.split for t in tasks} == {
        "photo1.png": "test",
        "z_copy.png": "test",
        "photo2.png": "val",
        "sub/photo0.png": "train",
    }
    assert not_in_split == 1
    assert [t.duplicate_of for t in tasks if t.source.relpath == "z_copy.png"] == ["photo1.png"]


# --------------------------------------------------------------------------- faults: disk full


@pytest.fixture()
def tiny_disk(tmp_path: Path):
    """A 2 MiB tmpfs (needs root and mount rights; skipped otherwise)."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a small tmpfs needs root on Linux")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.parametrize("workers", [1, 2])
def test_disk_full_is_one_line_and_resumes(tiny_disk: Path, tmp_path: Path, workers: int) -> None:
    src = tmp_path / "src"
    rng = np.random.default_rng(0)
    for i in range(6):  # noise does not compress: 12 samples × 4 PNGs of ~110 kB fill 2 MiB
        write_image(src / f"noise{i}.png", rng.integers(0, 256, (200, 200, 3), dtype=np.uint8))
    out = tiny_disk / "out"
    options = [
        "--size",
        "192",
        "--per-image",
        "2",
        "--modes",
        "realfake,inpainted",
        "--split",
        "train=1",
        "-q",
        "--workers",
        str(workers),
    ]
    code, output = _invoke("dataset", "build", str(src), str(out), *options)
    assert code == 2 and "Traceback" not in output, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and "disk full while writing the dataset to" in lines[0], output
    assert "No space left on device" in lines[0] and "run the same command again to resume" in lines[0]
    # consistent: no partial files, and every record's files are complete images
    assert not [p for p in out.rglob("*") if p.name.startswith(".tmp-")]
    records = [json.loads(p.read_text()) for p in (out / ".records").glob("*.json")]
    assert len(records) < 12
    for r in records:
        for rel in r["files"].values():
            assert Image.open(out / rel).size == (192, 192)
    # resumable: moved to a disk with space, the same command finishes to the same bytes
    moved = tmp_path / "moved"
    shutil.copytree(out, moved)
    code, output = _invoke("dataset", "build", str(src), str(moved), *options)
    assert code == 0, output
    reference = tmp_path / "reference"
    assert _invoke("dataset", "build", str(src), str(reference), *options)[0] == 0
    assert tree_hashes(moved) == tree_hashes(reference)


# --------------------------------------------------------------------------- faults: kill -9


def _children(pid: int) -> dict[int, str]:
    kids = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            kids[int(entry.name)] = cmdline
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie writes nothing


KILL_CFG = (
    "masks=('rectangle','strokes'), inpainters=('telea','ns'), modes=('realfake','inpainted'), "
    "per_image=12, size=64, seed=3"
)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_kill9_of_the_parent_stops_its_workers(tmp_path: Path) -> None:
    src = make_sources(tmp_path / "src", n=6, bad=False)
    out = tmp_path / "killed"
    code = (
        "import sys; from inpaintscope.data.builder import BuildConfig, build_dataset\n"
        f"build_dataset([sys.argv[1]], sys.argv[2], BuildConfig({KILL_CFG}), workers=2, progress=False)\n"
    )

    def done() -> int:
        return sum(not p.name.startswith(".tmp-") for p in (out / ".records").glob("*.json"))

    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(src), str(out)], env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    workers: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            workers = {p: c for p, c in _children(proc.pid).items() if "spawn_main" in c}
            if len(workers) == 2 and done() >= 2:
                break
            time.sleep(0.02)
        at_kill = done()
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert len(workers) == 2 and 0 < at_kill < 72, "the build was not interrupted mid-way with two workers"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.05)
    assert not any(_alive(p) for p in workers), "a worker outlived the killed build"
    # each worker had about 12 samples of its photo left; at most the one being renamed lands
    assert done() - at_kill <= 2, f"workers kept writing after the kill: {at_kill} -> {done()} records"
    cfg = BuildConfig(
        masks=("rectangle", "strokes"),
        inpainters=("telea", "ns"),
        modes=("realfake", "inpainted"),
        per_image=12,
        size=64,
        seed=3,
    )
    summary = build_dataset([src], out, cfg, workers=1, progress=False)
    assert summary["run"]["reused"] + summary["run"]["built"] == 72 and summary["run"]["built"] > 0
    reference = build_dataset([src], tmp_path / "reference", cfg, workers=1, progress=False)
    assert reference["samples"] == summary["samples"] == 72
    assert tree_hashes(out) == tree_hashes(tmp_path / "reference")


# --------------------------------------------------------------------------- worker cache


def test_autoencoder_is_loaded_once_per_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fakefake and the autoencoder inpainter share one copy of the weights in a worker."""
    import torch

    from inpaintscope.inpaint import autoencoder as ae_mod

    weights = tmp_path / "taef2"
    weights.mkdir()
    torch.manual_seed(0)
    torch.save(ae_mod.build_encoder().state_dict(), weights / ae_mod.ENCODER_FILE)
    torch.save(ae_mod.build_decoder().state_dict(), weights / ae_mod.DECODER_FILE)
    loads = []
    original = ae_mod.LatentAutoencoder.from_dir.__func__

    def counting(cls, directory, **kw):
        loads.append(Path(directory))
        return original(cls, directory, **kw)

    monkeypatch.setattr(ae_mod.LatentAutoencoder, "from_dir", classmethod(counting))
    src = make_sources(tmp_path / "src", n=2, bad=False)
    cfg = BuildConfig(
        masks=("rectangle",),
        inpainters=("autoencoder",),
        modes=("realfake", "fakefake"),
        per_image=2,
        size=64,
        split="train=1",
        autoencoder=str(weights),
    )
    summary = build_dataset([src], tmp_path / "out", cfg, workers=1, progress=False)
    assert summary["by_mode"] == {"fakefake": 4, "realfake": 4}
    assert len(loads) == 1, loads
