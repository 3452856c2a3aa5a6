"""Dataset builder: layout, determinism across worker counts, resume, splits, bad sources, CLI errors."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from inpaintscope.cli.main import cli
from inpaintscope.data.builder import BuildConfig, BuildMismatchError, build_dataset, plan_build
from inpaintscope.data.sources import discover_sources, prepare_image, source_base_id, stable_hash
from inpaintscope.data.splits import assign_splits, parse_split, split_counts
from inpaintscope.errors import InpaintscopeError
from inpaintscope.inpaint.postprocess import PostProcess
from inpaintscope.io import read_image, read_mask, write_image

CFG = BuildConfig(
    masks=("rectangle", "strokes"),
    inpainters=("telea", "ns"),
    modes=("realfake", "inpainted"),
    per_image=2,
    size=64,
    seed=7,
)
BAD = {"zero.jpg", "text.jpg", "tiny.png", "truncated.jpg"}


def smooth_photo(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Random smooth colour field (upsampled noise), like a defocused photo."""
    small = rng.random((6, 6, 3))
    big = np.asarray(Image.fromarray((small * 255).astype(np.uint8)).resize((w, h), Image.BICUBIC))
    return np.ascontiguousarray(big)


def make_sources(root: Path, *, n: int = 6, bad: bool = True) -> Path:
    rng = np.random.default_rng(0)
    (root / "sub").mkdir(parents=True)
    for i in range(n):
        folder = root / "sub" if i % 3 == 0 else root
        write_image(folder / f"photo{i}.png", smooth_photo(rng, 96, 96 + 16 * (i % 3)))
    if bad:
        (root / "zero.jpg").write_bytes(b"")
        (root / "text.jpg").write_text("this is not an image\n")
        write_image(root / "tiny.png", smooth_photo(rng, 40, 50))
        full = Image.fromarray(smooth_photo(rng, 96, 96))
        full.save(root / "full.jpg", quality=90)
        data = (root / "full.jpg").read_bytes()
        (root / "full.jpg").unlink()
        (root / "truncated.jpg").write_bytes(data[: len(data) // 2])
    return root


def tree_hashes(root: Path) -> dict[str, str]:
    """sha256 of every output file (summary.json holds timings, .lock is the run lock)."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in ("summary.json", ".lock")
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("build")
    src = make_sources(base / "src")
    summary = build_dataset([src], base / "out1", CFG, workers=1, progress=False)
    return {"src": src, "out": base / "out1", "summary": summary, "base": base}


def read_manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def test_build_writes_report_layout_and_manifest(built: dict) -> None:
    out, summary = built["out"], built["summary"]
    records = read_manifest(out)
    # 6 good photos × 2 samples; the 4 bad files are skipped
    assert len(records) == 12 and summary["samples"] == 12
    assert [r["id"] for r in records] == sorted(r["id"] for r in records)
    assert sum(summary["by_split"][s]["samples"] for s in summary["by_split"]) == 12
    # cycling: 2 masks × 2 inpainters over 12 samples -> exactly balanced
    assert summary["by_mask"] == {"rectangle": 6, "strokes": 6}
    assert summary["by_inpainter"] == {"ns": 6, "telea": 6}
    assert summary["by_mode"] == {"inpainted": 12, "realfake": 12}
    assert summary["run"]["built"] == 12 and summary["run"]["reused"] == 0
    assert json.loads((out / "summary.json").read_text())["samples"] == 12
    for r in records:
        sid, split = r["id"], r["split"]
        assert r["files"] == {
            role: f"{split}/{sid}.{role}.png" for role in ("original", "mask", "inpainted", "realfake")
        }
        assert r["modes"] == {m: f"{split}/{sid}.{m}.png" for m in ("inpainted", "realfake")}
        assert r["size"] == [64, 64]
        assert r["seed"]["entropy"] == [7, stable_hash(r["source"]), r["seed"]["sample_index"]]
        assert r["id"].startswith(source_base_id(r["source"]))
        assert r["mask"]["kind"] in ("rectangle", "strokes") and r["inpainter"]["name"] in ("telea", "ns")
        for role, rel in r["files"].items():
            assert (out / rel).stat().st_size == r["bytes"][role]
    assert {r["source"] for r in records} == {
        "photo1.png",
        "photo2.png",
        "photo4.png",
        "photo5.png",
        "sub/photo0.png",
        "sub/photo3.png",
    }
    assert not list(out.rglob(".tmp-*"))


def test_original_is_prepared_source_and_realfake_keeps_unmasked_pixels(built: dict) -> None:
    out, src = built["out"], built["src"]
    for r in read_manifest(out):
        original = read_image(out / r["files"]["original"])
        expected = prepare_image(read_image(src / r["source"]), size=64, resize="crop")
        np.testing.assert_array_equal(original, expected)
        soft = read_mask(out / r["files"]["mask"])
        assert soft.shape == (64, 64) and soft.dtype == np.uint8
        assert (soft == 255).any() and (soft == 0).any()
        realfake = read_image(out / r["files"]["realfake"])
        outside = soft == 0
        np.testing.assert_array_equal(realfake[outside], original[outside])
        assert not np.array_equal(realfake[soft == 255], original[soft == 255])  # the hole was refilled
        inpainted = read_image(out / r["files"]["inpainted"])
        np.testing.assert_array_equal(inpainted[soft == 255], realfake[soft == 255])


def test_bad_sources_are_skipped_with_reasons(built: dict) -> None:
    skipped = {s["source"]: s["reason"] for s in built["summary"]["skipped_sources"]}
    assert set(skipped) == BAD
    assert "empty" in skipped["zero.jpg"]
    assert "not an image" in skipped["text.jpg"]
    assert "too small" in skipped["tiny.png"] and "40" in skipped["tiny.png"]
    assert "truncated" in skipped["truncated.jpg"]
    assert str(built["src"]) not in json.dumps(skipped)  # relative paths only
    assert built["summary"]["sources"] == {"found": 10, "used": 6, "skipped": 4, "not_in_split": 0}


def test_splits_are_by_source_photo(built: dict) -> None:
    split_of: dict[str, set[str]] = {}
    for r in read_manifest(built["out"]):
        split_of.setdefault(r["source"], set()).add(r["split"])
        assert (built["out"] / r["split"]).is_dir()
    assert all(len(s) == 1 for s in split_of.values())


def test_split_assignment_respects_proportions_and_seed() -> None:
    rels = [f"dir/img{i:04d}.jpg" for i in range(1000)]
    spec = parse_split("train=0.8,val=0.1,test=0.1")
    a = assign_splits(rels, spec, seed=0)
    counts = {s: sum(1 for v in a.values() if v == s) for s in ("train", "val", "test")}
    assert counts == {"train": 800, "val": 100, "test": 100}
    assert assign_splits(list(reversed(rels)), spec, seed=0) == a  # order of listing is irrelevant
    assert assign_splits(rels, spec, seed=1) != a
    # largest remainder: 6 × (0.8, 0.1, 0.1) = 4.8, 0.6, 0.6 -> 5, 1, 0 (ties to the first listed)
    assert split_counts(6, spec.proportions) == {"train": 5, "val": 1, "test": 0}
    assert split_counts(10, parse_split("a=2,b=1,c=1").proportions) == {"a": 5, "b": 3, "c": 2}


def test_split_file(tmp_path: Path) -> None:
    src = make_sources(tmp_path / "src", n=3, bad=False)
    listing = tmp_path / "split.txt"
    listing.write_text("# relpath split\nphoto1.png test\nsub/photo0.png,train\n")
    tasks, skipped, not_in_split = plan_build(discover_sources([src]), BuildConfig(split=str(listing)))
    assert {t.source.relpath: t.split for t in tasks} == {"photo1.png": "test", "sub/photo0.png": "train"}
    # Left out by choice: counted, not listed as a skipped file with a reason.
    assert skipped == [] and not_in_split == 1


def test_split_file_exclusions_are_a_count_in_the_summary(tmp_path: Path) -> None:
    src = make_sources(tmp_path / "src", n=3, bad=False)
    listing = tmp_path / "split.txt"
    listing.write_text("photo1.png test\n")
    code, output = _invoke(
        "dataset",
        "build",
        str(src),
        str(tmp_path / "out"),
        "--size",
        "64",
        "--workers",
        "1",
        "--quiet",
        "--split",
        str(listing),
    )
    assert code == 0, output
    assert "not in the split file: 2" in output and "skipped" not in output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["not_in_split"] == 2 and summary["skipped_sources"] == []
    assert summary["sources"] == {"found": 3, "used": 1, "skipped": 0, "not_in_split": 2}


def test_bad_split_files_and_out_paths_fail_in_one_line(tmp_path: Path) -> None:
    src = make_sources(tmp_path / "src", n=2, bad=False)
    (tmp_path / "unrelated.txt").write_text("elsewhere/photo0.png train\n")
    (tmp_path / "afile").write_text("x")
    (tmp_path / "nomasks").mkdir()
    cases = [
        (["--split", str(src / "photo1.png")], "not a text file"),  # a photo given by mistake
        (["--split", str(tmp_path / "unrelated.txt")], "lists none of the 2 source photos"),
        (["--masks", "folder", "--mask-dir", str(tmp_path / "nomasks")], "holds no mask images"),
    ]
    for options, message in cases:
        code, output = _invoke("dataset", "build", str(src), str(tmp_path / "out"), "--size", "64", *options)
        assert code == 2 and message in output and "Traceback" not in output, output
        assert len(output.strip().splitlines()) == 1
        assert not (tmp_path / "out").exists()
    code, output = _invoke("dataset", "build", str(src), str(tmp_path / "afile" / "out"), "--size", "64")
    assert code == 2 and "cannot write the dataset to" in output and "Traceback" not in output, output


def test_failed_samples_make_the_cli_exit_non_zero(tmp_path: Path) -> None:
    src = make_sources(tmp_path / "src", n=2, bad=False)
    masks = tmp_path / "masks"
    masks.mkdir()
    write_image(masks / "blank.png", np.zeros((64, 64), np.uint8))  # readable, but no hole: no usable mask
    code, output = _invoke(
        "dataset",
        "build",
        str(src),
        str(tmp_path / "out"),
        "--size",
        "64",
        "--workers",
        "1",
        "--quiet",
        "--masks",
        "folder",
        "--mask-dir",
        str(masks),
    )
    assert code == 1, output
    assert "2 sample(s) failed" in output and "Traceback" not in output


def test_one_unreadable_mask_is_skipped_and_reported_once(tmp_path: Path) -> None:
    src = make_sources(tmp_path / "src", n=3, bad=False)
    masks = tmp_path / "masks"
    masks.mkdir()
    hole = np.zeros((64, 64), np.uint8)
    hole[10:40, 12:44] = 255
    write_image(masks / "good.png", hole)
    (masks / "broken.png").write_bytes(b"not a png")  # listed, but unreadable when indexed
    options = ["--size", "64", "--quiet", "--masks", "folder", "--mask-dir", str(masks)]
    result = CliRunner().invoke(cli, ["dataset", "build", str(src), str(tmp_path / "out"), "--workers", "2", *options])
    assert result.exit_code == 0, result.output  # it failed every sample
    warned = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warned) == 1 and "skipping 1 unreadable file(s) of 2: broken.png" in warned[0], result.stderr
    unreadable = tmp_path / "unreadable"
    unreadable.mkdir()
    for name in ("x.png", "y.png"):
        (unreadable / name).write_bytes(b"not a png")
    options[-1] = str(unreadable)
    code, output = _invoke("dataset", "build", str(src), str(tmp_path / "out2"), *options)
    assert code == 2 and "none of its 2 image file(s) can be read as a mask" in output, output
    assert not (tmp_path / "out2").exists()


def test_output_inside_a_source_folder_is_refused(tmp_path: Path) -> None:
    src = make_sources(tmp_path / "src", n=2, bad=False)
    before = sorted(p.relative_to(src) for p in src.rglob("*"))
    for out, where in ((src / "out", "is inside the source folder"), (src, "is the source folder")):
        code, output = _invoke("dataset", "build", str(src), str(out), "--size", "64", "--quiet")
        assert code == 2 and where in output and "choose an output folder outside it" in output, output
        assert len(output.strip().splitlines()) == 1
    assert sorted(p.relative_to(src) for p in src.rglob("*")) == before  # nothing written into the photos
    with pytest.raises(InpaintscopeError, match="is inside the source folder"):
        build_dataset([src / "sub"], src / "sub" / "deeper" / "out", CFG, workers=1, progress=False)


def test_a_sample_that_runs_out_of_memory_fails_alone_with_a_reason(tmp_path: Path, monkeypatch) -> None:
    import cv2

    from inpaintscope.data import builder

    src = make_sources(tmp_path / "src", n=2, bad=False)
    real = builder.prepare_image

    def prepare(image, **kwargs):
        if image.shape[1] == 112:  # photo1 only: the allocation OpenCV could not make
            raise cv2.error("OpenCV(5.0.0) alloc.cpp:73: error: (-4:Insufficient memory) Failed to allocate 1 bytes")
        return real(image, **kwargs)

    monkeypatch.setattr(builder, "prepare_image", prepare)
    summary = build_dataset([src], tmp_path / "out", CFG, workers=1, progress=False)
    failed = summary["failed_samples"]
    assert len(failed) == CFG.per_image and {f["source"] for f in failed} == {"photo1.png"}
    assert all("Insufficient memory" in f["reason"] and "\n" not in f["reason"] for f in failed)
    assert summary["samples"] == CFG.per_image  # the other photo was built


def test_byte_identical_for_one_and_two_workers(built: dict) -> None:
    out2 = built["base"] / "out2"
    summary = build_dataset([built["src"]], out2, CFG, workers=2, progress=False)
    assert summary["run"]["workers"] == 2 and summary["run"]["built"] == 12
    h1, h2 = tree_hashes(built["out"]), tree_hashes(out2)
    assert len(h1) == 12 * 4 + 12 + 2  # images, records, build.json + manifest.jsonl
    assert h1 == h2


def test_resume_after_partial_loss_and_stray_tmp(built: dict) -> None:
    out = built["base"] / "resume"
    shutil.copytree(built["out"], out)
    records = sorted((out / ".records").glob("*.json"))
    records[0].unlink()  # a sample whose record never got written
    first = json.loads(records[1].read_text())
    (out / first["files"]["realfake"]).unlink()  # a record whose file vanished
    (out / first["split"] / ".tmp-abc123.png").write_bytes(b"half a png")
    (out / "manifest.jsonl").unlink()
    summary = build_dataset([built["src"]], out, CFG, workers=1, progress=False)
    assert summary["run"] == {**summary["run"], "built": 2, "reused": 10}
    assert not list(out.rglob(".tmp-*"))
    assert tree_hashes(out) == tree_hashes(built["out"])


def test_resume_after_kill9(built: dict, tmp_path: Path) -> None:
    """A build killed with SIGKILL mid-way resumes to the same bytes as an uninterrupted one."""
    out = tmp_path / "killed"
    code = (
        "import sys; from inpaintscope.data.builder import BuildConfig, build_dataset\n"
        "cfg = BuildConfig(masks=('rectangle','strokes'), inpainters=('telea','ns'), "
        "modes=('realfake','inpainted'), per_image=2, size=64, seed=7)\n"
        "build_dataset([sys.argv[1]], sys.argv[2], cfg, workers=1, progress=False)\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def done_records() -> int:
        # pathlib's glob also matches dot-files: a record killed mid-write is a .tmp-*.json
        # that the resumed build rightly ignores, so it must not count as done
        return sum(not p.name.startswith(".tmp-") for p in (out / ".records").glob("*.json"))

    proc = subprocess.Popen([sys.executable, "-c", code, str(built["src"]), str(out)], env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and done_records() < 3:
            if proc.poll() is not None:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    n_done = done_records()
    assert 0 < n_done < 12, "the build was not interrupted mid-way"
    summary = build_dataset([built["src"]], out, CFG, workers=1, progress=False)
    assert summary["run"]["reused"] == n_done and summary["run"]["built"] == 12 - n_done
    assert tree_hashes(out) == tree_hashes(built["out"])


def test_resume_with_other_options_is_refused(built: dict) -> None:
    out = built["base"] / "resume-mismatch"
    shutil.copytree(built["out"], out)
    before = tree_hashes(out)
    other = BuildConfig(**{**CFG.__dict__, "seed": 8})
    with pytest.raises(BuildMismatchError, match=r"seed: 7 before, 8 now"):
        build_dataset([built["src"]], out, other, workers=1, progress=False)
    assert tree_hashes(out) == before


def test_refuses_non_empty_foreign_folder(tmp_path: Path, built: dict) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my own file")
    with pytest.raises(BuildMismatchError, match="not empty"):
        build_dataset([built["src"]], out, CFG, workers=1, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_post_processing_authentic_and_stretch(tmp_path: Path) -> None:
    src = make_sources(tmp_path / "src", n=2, bad=False)
    cfg = BuildConfig(
        masks=("shapes",),
        inpainters=("telea",),
        modes=("realfake",),
        per_image=2,
        size=64,
        resize="stretch",
        post=("none", "jpeg:80+resize:0.5"),
        authentic=True,
        seed=3,
    )
    summary = build_dataset([src], tmp_path / "out", cfg, workers=1, progress=False)
    records = {r["id"]: r for r in read_manifest(tmp_path / "out")}
    assert summary["samples"] == 4 and summary["authentic"] == 2
    assert summary["by_post"] == {"jpeg:80+resize:0.5": 3, "none": 3}
    for r in records.values():
        side = 64 if r["post_spec"] == "none" else 32
        assert r["size"] == [side, side]
        assert read_image(tmp_path / "out" / r["files"]["original"]).shape == (side, side, 3)
        if r["authentic"]:
            assert r["id"].endswith("-a") and set(r["files"]) == {"original"} and r["mask"] is None
        else:
            assert read_mask(tmp_path / "out" / r["files"]["mask"]).shape == (side, side)
            assert r["post"] is None or r["post"]["spec"] == "jpeg:80+resize:0.5"
    stretched = prepare_image(read_image(src / "photo1.png"), size=64, resize="stretch")
    plain = [r for r in records.values() if r["source"] == "photo1.png" and r["post_spec"] == "none"][0]
    np.testing.assert_array_equal(read_image(tmp_path / "out" / plain["files"]["original"]), stretched)


def test_noise_post_processing_is_the_same_inside_and_outside_the_composite(tmp_path: Path) -> None:
    """Noise is drawn once per sample: the original and its composite get the same noise outside
    the mask (so realfake's pixels away from the mask still equal the original's), and a rebuild with the
    same seed gives the same files."""
    src = make_sources(tmp_path / "src", n=2, bad=False)
    cfg = BuildConfig(
        masks=("shapes",), inpainters=("telea",), modes=("realfake",), size=64, post=("blur:1+noise:3",), seed=4
    )
    for name in ("a", "b"):
        build_dataset([src], tmp_path / name, cfg, workers=1, progress=False)
    records = read_manifest(tmp_path / "a")
    for r in records:
        files = {role: tmp_path / "a" / f for role, f in r["files"].items()}
        original, fill = read_image(files["original"]), read_image(files["realfake"])
        # the blur spreads the fill 4 px (its kernel's radius) past the mask; beyond, pixels are equal
        outside = cv2.erode((read_mask(files["mask"]) == 0).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
        assert outside.mean() > 0.1
        np.testing.assert_array_equal(original[outside], fill[outside])
        assert r["post"]["noise"] == 3.0 and r["post"]["spec"] == "blur:1+noise:3"
        np.testing.assert_array_equal(original, read_image(tmp_path / "b" / r["files"]["original"]))
    # each sample draws its own noise: the residuals from the noise-free blur differ
    residuals = []
    for r in records:
        photo = read_image(src / ("sub" if r["source"] == "sub/photo0.png" else "") / Path(r["source"]).name)
        prepared = prepare_image(photo, size=64, resize="crop")
        smooth, _ = PostProcess(blur=1.0).apply(prepared, np.zeros((64, 64), np.uint8))
        residuals.append(read_image(tmp_path / "a" / r["files"]["original"]).astype(int) - smooth)
    assert len(residuals) == 2 and 2.0 < residuals[0].std() < 4.0
    assert not np.array_equal(residuals[0], residuals[1])


def test_objects_masks_use_labels_and_fall_back_to_rectangle(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    images = tmp_path / "ds" / "images" / "train"
    labels = tmp_path / "ds" / "labels" / "train"
    labels.mkdir(parents=True)
    for name in ("a", "b"):
        write_image(images / f"{name}.png", smooth_photo(rng, 96, 128))
    # a square object covering x 0.30–0.70, y 0.25–0.75 of a 128×96 photo; b has no label file
    (labels / "a.txt").write_text("3 0.30 0.25 0.70 0.25 0.70 0.75 0.30 0.75\n")
    cfg = BuildConfig(masks=("objects",), inpainters=("telea",), modes=("realfake",), size=64, split="train=1")
    summary = build_dataset([tmp_path / "ds" / "images"], tmp_path / "out", cfg, workers=1, progress=False)
    recs = {r["source"]: r for r in read_manifest(tmp_path / "out")}
    assert recs["train/a.png"]["mask"]["kind"] == "objects"
    assert recs["train/a.png"]["mask"]["params"]["class_id"] == 3
    # crop 96×96 from x 16..112 then ×2/3: the object spans x (38.4-16)/1.5 ≈ 15..49, y 16..48 of 64
    soft = read_mask(tmp_path / "out" / recs["train/a.png"]["files"]["mask"])
    ys, xs = np.nonzero(soft == 255)
    assert abs(xs.min() - 15) <= 9 and abs(xs.max() - 49) <= 9 and abs(ys.min() - 16) <= 9
    fb = recs["train/b.png"]["mask"]
    assert fb["kind"] == "rectangle" and fb["params"]["fallback_from"] == "objects"
    assert summary["mask_fallbacks"] == 1


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--masks", "rectangle,blobs"], "unknown mask generator 'blobs'"),
        (["--inpainters", "photoshop"], "unknown inpainter 'photoshop'"),
        (["--modes", "realfake,deepfake"], "unknown mode 'deepfake'"),
        (["--modes", "fakefake"], "needs autoencoder weights"),
        (["--modes", "fakefake", "--autoencoder", "."], "missing taef2_encoder.pth"),
        (["--split", "train=0.8,val=x"], "not a number"),
        (["--split", "no-such-split-file.txt"], "neither name=fraction pairs"),
        (["--mask-area", "0.5,0.2"], "--mask-area"),
        (["--mask-area", "half"], "lo,hi"),
        (["--masks", "folder"], "--mask-dir"),
        (["--post", "jpeg:500"], "--post"),
        (["--size", "8"], "--size"),
        (["--size", "100000"], "--size 100000 asks for 100000×100000 = 10,000,000,000 px images"),  # cv2 traceback
        (["--size", "1000", "--max-pixels", "999999"], "use --size 999 or less"),
    ],
)
def test_cli_bad_options_fail_fast(tmp_path: Path, options: list[str], message: str) -> None:
    src = tmp_path / "src"
    src.mkdir()
    write_image(src / "a.png", np.zeros((64, 64, 3), np.uint8))
    code, output = _invoke("dataset", "build", str(src), str(tmp_path / "out"), *options)
    assert code == 2, output
    assert message in output and "Traceback" not in output
    assert not (tmp_path / "out").exists()  # nothing written before the options were checked


def test_cli_build_resume_and_mismatch(tmp_path: Path) -> None:
    src = make_sources(tmp_path / "src", n=2, bad=False)
    out = tmp_path / "out"
    args = [
        "dataset",
        "build",
        str(src),
        str(out),
        "--size",
        "64",
        "--inpainters",
        "telea",
        "--workers",
        "1",
        "--quiet",
    ]
    code, output = _invoke(*args)
    assert code == 0, output
    assert "samples   2 manipulated" in output and "built 2, reused 0" in output
    code, output = _invoke(*args)
    assert code == 0 and "built 0, reused 2" in output
    code, output = _invoke(*args[:-1], "--seed", "5")
    assert code == 2 and "different options (seed: 0 before, 5 now)" in output
    assert len(output.strip().splitlines()) == 1
    code, output = _invoke("dataset", "info", str(out))
    assert code == 0 and "manifest layout, 4 items (2 manipulated, 2 authentic)" in output
    code, output = _invoke("dataset", "info", str(out), "--split", "bogus")  # was "0 items"
    assert code == 2 and f"{out} has no split 'bogus'; its splits: " in output, output
    assert "train" in output.split("its splits: ")[1]


def test_cli_autoencoder_given_a_file_says_a_folder_is_expected(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    write_image(src / "a.png", np.zeros((64, 64, 3), np.uint8))
    (tmp_path / "taef2_encoder.pth").write_bytes(b"weights")
    ae = tmp_path / "taef2_encoder.pth"
    code, output = _invoke(
        "dataset", "build", str(src), str(tmp_path / "out"), "--modes", "fakefake", "--autoencoder", str(ae)
    )
    assert code == 2 and f"--autoencoder {ae} is a file; give the folder that holds taef2_encoder.pth" in output, output
    assert not (tmp_path / "out").exists()


def test_discover_sources_rules(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        (d / "x").mkdir(parents=True)
        write_image(d / "x" / "p.png", np.zeros((8, 8, 3), np.uint8))
    (a / "notes.txt").write_text("ignored")
    assert [s.relpath for s in discover_sources([a])] == ["x/p.png"]
    assert [s.relpath for s in discover_sources([b, a])] == ["a/x/p.png", "b/x/p.png"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(InpaintscopeError, match="no image files"):
        discover_sources([tmp_path / "empty"])
    with pytest.raises(InpaintscopeError, match="does not exist"):
        discover_sources([tmp_path / "missing"])
    assert source_base_id("a/b.c.jpg") != source_base_id("a/b.c.png")
    assert "." not in source_base_id("a/b.c.jpg")


def test_fakefake_with_shared_weights(tmp_path: Path, shared_data: Path) -> None:
    """fakefake = the photo's autoencoder round trip pasted with the soft mask (as compose defines it),
    computed once per photo and shared by its samples."""
    from inpaintscope.inpaint.autoencoder import LatentAutoencoder
    from inpaintscope.inpaint.compose import make_composites

    weights = shared_data / "weights"
    src = make_sources(tmp_path / "src", n=2, bad=False)
    cfg = BuildConfig(
        masks=("rectangle",),
        inpainters=("telea",),
        modes=("realfake", "fakefake"),
        per_image=2,
        size=64,
        autoencoder=str(weights),
        split="train=1",
    )
    summary = build_dataset([src], tmp_path / "out", cfg, workers=1, progress=False)
    assert summary["by_mode"] == {"fakefake": 4, "realfake": 4}
    ae = LatentAutoencoder.from_dir(weights)
    for r in read_manifest(tmp_path / "out"):
        original = read_image(tmp_path / "out" / r["files"]["original"])
        soft = read_mask(tmp_path / "out" / r["files"]["mask"])
        fake = read_image(tmp_path / "out" / r["files"]["fakefake"])
        expected = make_composites(original, soft, ("fakefake",), autoencoder=ae, rng=np.random.default_rng(0))
        np.testing.assert_array_equal(fake, expected["fakefake"])
        np.testing.assert_array_equal(fake[soft == 0], original[soft == 0])
        assert not np.array_equal(fake[soft == 255], original[soft == 255])


def test_learned_inpainters_build_byte_identical_for_one_and_two_workers(tmp_path) -> None:
    # the shipped networks, blended in, through the builder: same seed, same bytes at any worker count
    src = make_sources(tmp_path / "src", n=4, bad=False)
    cfg = BuildConfig(
        masks=("rectangle", "strokes"),
        inpainters=("gated", "edgeconnect", "fourier", "safepaint"),
        modes=("realfake",),
        per_image=2,
        size=64,
        seed=11,
    )
    build_dataset([src], tmp_path / "w1", cfg, workers=1, progress=False)
    summary = build_dataset([src], tmp_path / "w2", cfg, workers=2, progress=False)
    assert summary["by_inpainter"] == {"gated": 2, "edgeconnect": 2, "fourier": 2, "safepaint": 2}
    assert tree_hashes(tmp_path / "w1") == tree_hashes(tmp_path / "w2")
    for r in read_manifest(tmp_path / "w1"):
        assert r["inpainter"]["blend"] == "poisson"  # recorded, so blended and raw builds differ
        original = read_image(tmp_path / "w1" / r["files"]["original"])
        realfake = read_image(tmp_path / "w1" / r["files"]["realfake"])
        outside = read_mask(tmp_path / "w1" / r["files"]["mask"]) == 0
        np.testing.assert_array_equal(realfake[outside], original[outside])


def test_resume_is_refused_when_a_learned_inpainters_weights_change_but_not_when_they_move(tmp_path) -> None:
    # the name "edgeconnect" says nothing about the fills: the weights' bytes and options do
    import shutil

    import torch

    from inpaintscope.inpaint.learned.networks import create_inpaint_net
    from inpaintscope.inpaint.learned.weights import save_inpainter

    def weights(path, seed):
        torch.manual_seed(seed)
        net = create_inpaint_net("edgeconnect", width=4, blocks=1)
        return save_inpainter(path, net.state_dict(), {"network": "edgeconnect", "kwargs": {"width": 4, "blocks": 1}})

    src = make_sources(tmp_path / "src", n=2, bad=False)
    w = weights(tmp_path / "a" / "net.safetensors", 0)

    def cfg(path):
        return BuildConfig(masks=("rectangle",), inpainters=(f"edgeconnect:{path}",), modes=("realfake",), size=64)

    build_dataset([src], tmp_path / "out", cfg(w), workers=1, progress=False)
    moved = tmp_path / "b" / "net.safetensors"
    moved.parent.mkdir()
    shutil.copy(w, moved)
    summary = build_dataset([src], tmp_path / "out", cfg(moved), workers=1, progress=False)  # same bytes: resumes
    assert summary["run"]["reused"] == 2 and summary["run"]["built"] == 0
    weights(moved, 1)
    with pytest.raises(BuildMismatchError, match="the weights or runtime of edgeconnect changed"):
        build_dataset([src], tmp_path / "out", cfg(moved), workers=1, progress=False)
    # a build from before fingerprints recorded the name (and path): told the same, not shown a hash
    meta = tmp_path / "out" / "build.json"
    record = json.loads(meta.read_text())
    record["config"]["inpainters"] = [f"edgeconnect:{w}"]
    meta.write_text(json.dumps(record))
    with pytest.raises(BuildMismatchError, match="the weights or runtime of edgeconnect changed"):
        build_dataset([src], tmp_path / "out", cfg(moved), workers=1, progress=False)
