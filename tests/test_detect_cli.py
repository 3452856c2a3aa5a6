"""``inpaintscope detect``: outputs, results schema, bad inputs, exit codes, resume, stdin, globs."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from inpaintscope.cli.main import cli, main
from inpaintscope.detection.outputs import output_base
from inpaintscope.detection.report import RECORD_KEYS
from inpaintscope.io import encode_image
from test_detect_support import bright_probability, cli_command, make_checkpoint, registered, square_image
from test_io_images import bomb_png, deny_reading

KEYS = {
    "file",
    "status",
    "error",
    "width",
    "height",
    "score",
    "decision",
    "area_fraction",
    "regions",
    "cues",
    "regenerated",
    "regions_below_image_threshold",
    "pixel_threshold",
    "image_threshold",
    "mask",
    "heatmap",
    "overlay",
    "output_sha256",
    "input_size",
    "input_mtime_ns",
    "input_sha256",
    "model",
    "version",
    "seconds",
}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory):
    with registered():
        yield str(make_checkpoint(tmp_path_factory.mktemp("ck") / "bright.safetensors"))


def run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as e:
        return int(e.code or 0)
    return 0


def write_png(path: Path, img: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_image(img, "png"))
    return path


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def pic(out: Path, source: str | Path, kind: str) -> Path:
    """Where detect writes picture ``kind`` of input ``source``."""
    return out / f"{output_base(source)}.{kind}.png"


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


def test_folder_all_ok(
    ckpt: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    src = Path("photos")
    write_png(src / "a.png", square_image(64, box=(10, 10, 30, 40)))
    write_png(src / "sub" / "b.png", np.full((48, 80, 3), 20, np.uint8))
    (src / "notes.txt").write_text("folders only contribute image files")
    out = Path("out")
    code = run(["detect", str(src), "-o", str(out), "--recursive", "--model", ckpt])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert error_lines(cap.err) == [] and "Traceback" not in cap.err
    assert "2 ok (1 flagged as inpainted, 1 clean), 0 failed" in cap.out
    # the input's folder structure is mirrored below OUT, the input's name kept whole
    for name in ("photos/a.png", "photos/sub/b.png"):
        for kind in ("mask", "heatmap", "overlay"):
            assert (out / f"{name}.{kind}.png").is_file()
    recs = records(out)
    assert [r["file"] for r in recs] == ["photos/a.png", "photos/sub/b.png"]
    for r in recs:
        assert set(r) == KEYS and r["status"] == "ok" and r["error"] is None
        assert (r["pixel_threshold"], r["image_threshold"]) == (0.5, 0.5)
        for kind in ("mask", "heatmap", "overlay"):
            assert r[kind] == f"{r['file']}.{kind}.png"
            assert hashlib.sha256((out / r[kind]).read_bytes()).hexdigest() == r["output_sha256"][kind]
        data = Path(r["file"]).read_bytes()
        assert r["input_size"] == len(data) and r["input_sha256"] == hashlib.sha256(data).hexdigest()
        assert r["input_mtime_ns"] == Path(r["file"]).stat().st_mtime_ns
    a, b = recs
    assert (a["width"], a["height"], a["decision"]) == (64, 64, True)
    assert a["score"] == pytest.approx(bright_probability(255), abs=1e-5)
    assert a["area_fraction"] == pytest.approx(600 / 64**2, abs=1e-6)
    assert [(g["x0"], g["y0"], g["x1"], g["y1"], g["area"]) for g in a["regions"]] == [(10, 10, 30, 40, 600)]
    assert a["regions_below_image_threshold"] == []
    assert (b["width"], b["height"], b["decision"], b["regions"]) == (80, 48, False, [])
    assert a["model"].startswith("_test_detect_tiny:bright.safetensors@") and a["version"]
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0].keys()) == RECORD_KEYS and set(RECORD_KEYS) == KEYS
    assert rows[0]["status"] == "ok" and rows[0]["error"] == "" and rows[0]["decision"] == "true"
    assert json.loads(rows[0]["regions"])[0]["area"] == 600
    assert rows[0]["overlay"] == "photos/a.png.overlay.png" and rows[0]["pixel_threshold"] == "0.5"
    page = (out / "index.html").read_text()
    assert 'src="photos/a.png.overlay.png"' in page and 'src="photos/sub/b.png.overlay.png"' in page
    assert 'href="../photos/a.png"' in page and 'href="photos/a.png.mask.png"' in page
    assert "1 flagged as inpainted" in page and "1 clean" in page and "0 failed" in page
    assert "<script>" in page and "sortBy" in page and "http" not in page.split("<body>")[1]


def test_bad_inputs_each_reported_and_batch_continues(
    ckpt: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "in"
    write_png(src / "good.png", square_image(64))
    (src / "text.jpg").write_text("hello, I am a text file\n")
    (src / "zero.png").write_bytes(b"")
    jpeg = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(jpeg, "JPEG")
    (src / "trunc.jpg").write_bytes(jpeg.getvalue()[:600])
    (src / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    (src / "bomb.png").write_bytes(bomb_png())
    locked = write_png(src / "locked.png", square_image(64))
    deny_reading(monkeypatch, locked)
    out = tmp_path / "out"
    try:
        code = run(["detect", str(src), "-o", str(out), "--model", ckpt])
    finally:
        os.chmod(locked, 0o644)
    cap = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in cap.err
    expected = {
        "text.jpg": "not an image",
        "zero.png": "empty file",
        "trunc.jpg": "truncated",
        "corrupt.png": "png",
        "bomb.png": "decompression bomb",
        "locked.png": "permission denied",
    }
    lines = error_lines(cap.err)
    assert lines[-1] == "error: 6 of 7 input(s) failed"
    per_file = lines[:-1]
    assert len(per_file) == 6
    for name, words in expected.items():
        [line] = [x for x in per_file if f"{name}:" in x]
        assert words in line.lower(), line
    by_name = {Path(r["file"]).name: r for r in records(out)}
    assert set(by_name) == set(expected) | {"good.png"}
    assert by_name["good.png"]["status"] == "ok" and pic(out, src / "good.png", "overlay").is_file()
    for name, words in expected.items():
        r = by_name[name]
        assert set(r) == KEYS and r["status"] == "error" and words in r["error"].lower()
        assert r["score"] is None and r["regions"] is None and r["mask"] is None
        assert r["pixel_threshold"] == 0.5 and r["model"].startswith("_test_detect_tiny")
        assert not pic(out, src / name, "mask").exists()
    assert "1 ok (1 flagged as inpainted, 0 clean), 6 failed" in cap.out
    page = (out / "index.html").read_text()
    assert "permission denied" in page and "good.png.overlay.png" in page


def test_a_name_holding_a_newline_stays_on_its_line(
    ckpt: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a file name could otherwise break an error line in two, or forge one
    monkeypatch.chdir(tmp_path)
    src = Path("in")
    write_png(src / "tab\tname.png", square_image(32))
    (src / "evil\nerror: all good.png").write_text("not pixels")
    code = run(["detect", str(src), "-o", "out", "--model", ckpt])
    err = capsys.readouterr().err
    assert code == 2
    assert error_lines(err) == [
        "error: in/evil\\x0aerror: all good.png: not an image, or a format we cannot read",
        "error: 1 of 2 input(s) failed",
    ]
    assert sorted(r["file"] for r in records(Path("out"))) == ["in/evil\\x0aerror: all good.png", "in/tab\\x09name.png"]
    assert Path("out/in/tab\\x09name.png.mask.png").is_file()


def test_max_pixels_option(ckpt: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    img = write_png(tmp_path / "x.png", square_image(64))
    code = run(["detect", str(img), "-o", str(tmp_path / "o"), "--model", ckpt, "--max-pixels", "4000"])
    err = capsys.readouterr().err
    assert code == 2 and "x.png: 64×64 = 4,096 pixels exceeds the limit of 4,000" in err


def test_skip_existing_resumes(ckpt: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = tmp_path / "in"
    a = write_png(src / "a.png", square_image(64))
    b = write_png(src / "b.png", square_image(64, box=(0, 0, 10, 10)))
    out = tmp_path / "out"
    assert run(["detect", str(a), str(b), "-o", str(out), "--model", ckpt]) == 0
    stamp = pic(out, a, "mask").stat().st_mtime_ns
    c = write_png(src / "c.png", square_image(64, box=(5, 5, 60, 60)))
    pic(out, b, "overlay").unlink()  # b's outputs are incomplete: it must be redone
    capsys.readouterr()
    # a run over a and c only, resuming: a skipped, c new, b's old record kept
    assert run(["detect", str(a), str(c), "-o", str(out), "--model", ckpt, "--skip-existing"]) == 0
    assert "1 skipped, already done and verified" in capsys.readouterr().out
    assert pic(out, a, "mask").stat().st_mtime_ns == stamp
    recs = records(out)
    assert sorted(Path(r["file"]).name for r in recs) == ["a.png", "b.png", "c.png"]
    assert run(["detect", str(b), "-o", str(out), "--model", ckpt, "--skip-existing"]) == 0
    assert "skipped" not in capsys.readouterr().out and pic(out, b, "overlay").is_file()
    # without --skip-existing a run redoes its inputs and keeps the records of the others
    assert run(["detect", str(a), "-o", str(out), "--model", ckpt]) == 0
    assert pic(out, a, "mask").stat().st_mtime_ns != stamp
    assert [Path(r["file"]).name for r in records(out)] == ["c.png", "b.png", "a.png"]


def test_stdin_glob_and_missing(ckpt: str, tmp_path: Path) -> None:
    src = tmp_path / "in"
    for name in ("p1.png", "p2.png"):
        write_png(src / name, square_image(48, box=(4, 4, 20, 20)))
    data = encode_image(square_image(32, box=(0, 0, 8, 8)), "png")
    out = tmp_path / "out"
    runner = CliRunner()
    with registered():
        # the folder repeats the glob's files: each is analysed once
        res = runner.invoke(
            cli,
            [
                "detect",
                "-",
                str(src / "*.png"),
                str(src),
                str(src / "nothing*.jpg"),
                str(tmp_path / "absent.png"),
                "-o",
                str(out),
                "--model",
                ckpt,
            ],
            input=data,
        )
    assert res.exit_code == 2, res.output
    assert "nothing*.jpg: no files match this pattern" in res.stderr
    assert "absent.png: no such file or folder" in res.stderr
    recs = records(out)
    assert [Path(r["file"]).name for r in recs] == ["-", "p1.png", "p2.png", "nothing*.jpg", "absent.png"]
    assert [r["status"] for r in recs] == ["ok", "ok", "ok", "error", "error"]
    assert recs[0]["width"] == 32 and (out / "stdin.mask.png").is_file()
    assert pic(out, src / "p2.png", "overlay").is_file()
    assert recs[0]["mask"] == "stdin.mask.png" and recs[0]["input_mtime_ns"] is None
    assert recs[0]["input_sha256"] == hashlib.sha256(data).hexdigest()


def test_a_repeated_input_name_keeps_the_first_result(ckpt: str, tmp_path: Path) -> None:
    # stdin twice: the second is an error, and must not replace the first one's record
    data = encode_image(square_image(32, box=(0, 0, 8, 8)), "png")
    out = tmp_path / "out"
    with registered():
        res = CliRunner().invoke(cli, ["detect", "-", "-", "-o", str(out), "--model", ckpt], input=data)
    assert res.exit_code == 2, res.output
    assert "1 ok" in res.output and "1 of 2 input(s) failed" in res.stderr
    recs = records(out)
    assert [(r["file"], r["status"]) for r in recs] == [("-", "ok"), ("-", "error")]
    assert recs[0]["mask"] == "stdin.mask.png" and recs[1]["error"] == "stdin can be read only once"
    # and a later run into the same folder keeps both records (read back as a list, not by name)
    other = write_png(tmp_path / "b.png", square_image(32))
    with registered():
        assert CliRunner().invoke(cli, ["detect", str(other), "-o", str(out), "--model", ckpt]).exit_code == 0
    assert [(r["file"], r["status"]) for r in records(out)][:2] == [("-", "ok"), ("-", "error")]


def test_never_writes_over_inputs(
    ckpt: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    d = Path("d")
    a = write_png(d / "a.png", square_image(32))
    # a.png's mask would be ./d/a.png.mask.png: exactly the second input
    trap = write_png(d / "a.png.mask.png", square_image(32, box=(0, 0, 4, 4)))
    before = trap.read_bytes()
    code = run(["detect", str(a), str(trap), "-o", ".", "--model", ckpt])
    err = capsys.readouterr().err
    assert code == 2 and "would overwrite an input file" in err and trap.read_bytes() == before
    # an output folder equal to, or (recursive) inside, an input folder is refused up front,
    # and so is one that would mirror a folder's outputs into the folder itself
    assert run(["detect", str(d), "-o", str(d), "--model", ckpt]) == 2
    assert run(["detect", str(d), "-o", str(d / "out"), "-r", "--model", ckpt]) == 2
    assert run(["detect", str(d), "-o", ".", "--model", ckpt]) == 2
    err = capsys.readouterr().err
    assert err.count("choose an output folder outside it") == 3 and "Traceback" not in err


def test_same_names_and_no_overlay(ckpt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_png(Path("in/a.png"), square_image(32))
    Path("in/a.bmp").write_bytes(encode_image(square_image(32), "bmp"))
    write_png(Path("in2/a.png"), square_image(32))
    out = Path("out")
    # same stems, and the same file name in two input folders: each keeps its own pictures
    assert run(["detect", "in", "in2", "-o", str(out), "--model", ckpt, "--no-overlay"]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
        "in/a.bmp.heatmap.png",
        "in/a.bmp.mask.png",
        "in/a.png.heatmap.png",
        "in/a.png.mask.png",
        "in2/a.png.heatmap.png",
        "in2/a.png.mask.png",
    ]
    assert 'src="in/a.bmp.heatmap.png"' in (out / "index.html").read_text()
    assert all(r["overlay"] is None for r in records(out))


def test_user_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    img = write_png(tmp_path / "x.png", square_image(32))
    assert run(["detect", str(img), "-o", str(tmp_path / "o"), "--model", str(tmp_path / "none.safetensors")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"error: {tmp_path / 'none.safetensors'}: checkpoint not found"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run(["detect", str(empty), "-o", str(tmp_path / "o2"), "--model", str(img)]) == 2
    assert "no input images found" in capsys.readouterr().err


def test_real_entry_point_subprocess(ckpt: str, tmp_path: Path) -> None:
    good = write_png(tmp_path / "good.png", square_image(32))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        cli_command("detect", str(good), str(bad), "-o", str(tmp_path / "o"), "--model", ckpt),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert error_lines(proc.stderr) == [f"error: {bad}: empty file (0 bytes)", "error: 1 of 2 input(s) failed"]
    assert "1 ok (1 flagged as inpainted, 0 clean), 1 failed" in proc.stdout


def test_index_page_counts_links_viewer_and_mixed_settings(
    ckpt: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_png(Path("in/a.png"), square_image(48, box=(4, 4, 30, 30)))
    write_png(Path("in/b.png"), np.full((48, 48, 3), 20, np.uint8))
    Path("in/bad.png").write_bytes(b"not a png")
    out = Path("out")
    assert run(["detect", "in/a.png", "in/bad.png", "-o", "out", "--model", ckpt]) == 2
    # a later run with another pixel threshold: a's record is kept, and the page says its settings differ
    assert run(["detect", "in/b.png", "-o", "out", "--model", ckpt, "--pixel-threshold", "0.04"]) == 0
    page = (out / "index.html").read_text()
    assert (
        '<span class="flagged">1 flagged as inpainted</span><span class="clean">1 clean</span>'
        '<span class="failed">1 failed</span> of 3 image(s)'
    ) in page
    assert "This run: model _test_detect_tiny:bright.safetensors@" in page
    assert "pixel threshold 0.04, image threshold 0.5." in page
    assert "1 record(s) kept from earlier runs used another model or other thresholds" in page
    # every picture and the original are linked, and the side-by-side viewer has them
    for kind in ("overlay", "heatmap", "mask"):
        assert f'href="in/a.png.{kind}.png"' in page
    assert 'href="../in/a.png">original</a>' in page
    assert 'data-original="../in/a.png" data-overlay="in/a.png.overlay.png" data-heatmap="in/a.png.heatmap.png"' in page
    assert 'id="v-original"' in page and 'id="v-overlay"' in page and 'id="v-heatmap"' in page
    # b is clean at image threshold 0.5: its faint area is listed as below the threshold, not as a region
    b = {Path(r["file"]).name: r for r in records(out)}["b.png"]
    assert b["decision"] is False and b["regions"] == [] and b["regions_below_image_threshold"]
    assert ">0 (+1 below)<" in page
    # works offline: nothing fetched from elsewhere
    body = page.split("<body>")[1]
    assert "http" not in body and "<link" not in page and "@import" not in page


def test_a_tile_too_small_for_the_overlap_is_one_error_before_any_image(
    ckpt: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    photos = [write_png(tmp_path / "in" / f"{k}.png", square_image(160, box=(10, 10, 60, 60))) for k in range(3)]
    out = tmp_path / "out"
    code = run(["detect", *map(str, photos), "-o", str(out), "--model", ckpt, "--tile", "64"])  # overlap 128
    cap = capsys.readouterr()
    assert code == 2 and "Traceback" not in cap.err
    assert error_lines(cap.err) == [
        "error: --tile 64 is too small for --overlap 128: use --tile 272 or more, or --overlap 24 or less"
    ], cap.err
    assert not out.exists()  # refused up front, not once per image
    # the sizes it suggests work
    assert run(["detect", *map(str, photos), "-o", str(out), "--model", ckpt, "--tile", "272"]) == 0
    assert (
        run(["detect", str(photos[0]), "-o", str(tmp_path / "o2"), "--model", ckpt, "--tile", "64", "--overlap", "24"])
        == 0
    )


def test_the_folder_batch_refuses_a_tile_too_small_for_the_overlap_before_any_image(ckpt: str, tmp_path: Path) -> None:
    from inpaintscope.detection.batch import expand_inputs, run_batch
    from inpaintscope.detection.loader import load_model
    from inpaintscope.errors import InpaintscopeError

    photo = write_png(tmp_path / "in" / "big.png", square_image(160, box=(10, 10, 60, 60)))
    out = tmp_path / "out"
    items = expand_inputs([str(photo)], out_dir=out)
    model = load_model(ckpt, device="cpu")
    for tile, overlap in ((64, 128), (128, 128), (64, 40)):  # not larger than the overlap, or ramps that meet
        with pytest.raises(InpaintscopeError) as info:
            run_batch(items, out, model=model, tile=tile, overlap=overlap, progress=False)
        assert str(info.value).startswith(f"tile {tile} is too small for overlap {overlap}: use tile ")
        assert "\n" not in str(info.value)
        assert not out.exists()  # refused up front, not once per image
    assert run_batch(items, out, model=model, tile=64, overlap=24, progress=False).ok == 1
