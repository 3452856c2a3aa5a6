"""Stable Diffusion inpainting and SD-VAE fakefake from local folders (a tiny random pipeline,
saved with ``save_pretrained``), built through the same CLI a user runs; captions files."""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from inpaintscope.cli.main import cli
from inpaintscope.data.captions import CaptionsError, load_captions
from inpaintscope.errors import MissingDependencyError
from inpaintscope.io import read_image, read_mask, write_image

HINT = 'pip install "inpaintscope[diffusers]"'
CAPTIONS = {"a": "a red house", "b.png": "two cats on a sofa", "sub/c.png": "a boat"}
EXPECTED_PROMPT = {"a.png": "a red house", "b.png": "two cats on a sofa", "sub/c.png": "a boat"}


def _photo(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    base = np.stack([60 + 2 * xx, 50 + 2 * yy, 120 + 0 * xx], -1)
    return np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)


def _sources(root: Path) -> Path:
    rng = np.random.default_rng(5)
    (root / "sub").mkdir(parents=True)
    for rel in ("a.png", "b.png", "sub/c.png"):
        write_image(root / rel, _photo(rng, 72, 80))
    return root


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


@contextlib.contextmanager
def _no_network() -> Iterator[None]:
    """Any connection attempt fails the build: nothing may download at run time."""
    real = socket.socket.connect

    def refuse(self: socket.socket, *args: object, **kwargs: object) -> None:
        raise OSError(f"test forbids network access (tried {args})")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    try:
        yield
    finally:
        socket.socket.connect = real  # type: ignore[method-assign]


def _hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in ("summary.json", ".lock")
    }


def _manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def _sample_seed(entropy: list[int]) -> int:
    """The builder's rule: the inpainter stream of SeedSequence(entropy), then draw_seed."""
    from inpaintscope.inpaint.diffusers_sd import draw_seed

    _, inpaint_seq, _ = np.random.SeedSequence(entropy).spawn(3)
    return draw_seed(np.random.default_rng(inpaint_seq))


def _build_args(src: Path, out: Path, pipe: Path, *extra: str, seed: int = 3) -> list[str]:
    return [
        "dataset",
        "build",
        str(src),
        str(out),
        "--inpainters",
        f"diffusers:{pipe}",
        "--modes",
        "inpainted,realfake,fakefake",
        "--autoencoder",
        str(pipe),
        "--size",
        "64",
        "--steps",
        "2",
        "--guidance",
        "5",
        "--per-image",
        "2",
        "--split",
        "train=1",
        "--workers",
        "1",
        "--quiet",
        "--seed",
        str(seed),
        *extra,
    ]


@pytest.fixture(scope="module")
def sd_build(tiny_sd_pipeline: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("sd_build")
    src = _sources(base / "src")
    captions = base / "captions.json"
    captions.write_text(json.dumps(CAPTIONS), encoding="utf-8")
    args = _build_args(src, base / "out", tiny_sd_pipeline, "--captions", str(captions))
    with _no_network():
        code, output = _invoke(*args)
    assert code == 0, output
    return {
        "base": base,
        "src": src,
        "out": base / "out",
        "args": args,
        "output": output,
        "pipe": tiny_sd_pipeline,
        "captions": captions,
    }


def test_manifest_records_prompt_steps_guidance_and_seed(sd_build: dict) -> None:
    records = _manifest(sd_build["out"])
    assert len(records) == 6 and "inpainter diffusers 6" in sd_build["output"]
    for r in records:
        inp = r["inpainter"]
        assert inp["name"] == "diffusers" and inp["prompt"] == EXPECTED_PROMPT[r["source"]]
        assert (inp["steps"], inp["guidance"], inp["strength"]) == (2, 5.0, 1.0)
        assert inp["seed"] == _sample_seed(r["seed"]["entropy"])  # derived from the recorded sample seed
        assert (inp["scheduler"], inp["unet_in_channels"], inp["model"]) == ("PNDMScheduler", 9, "pipeline")
        assert r["autoencoder"]["kind"] == "autoencoderkl" and r["autoencoder"]["vae_range"] == "correct"
    assert len({r["inpainter"]["seed"] for r in records}) == 6
    # the manifest names the model folder, never where it lies on this machine
    assert str(sd_build["pipe"]) not in (sd_build["out"] / "manifest.jsonl").read_text()
    conf = json.loads((sd_build["out"] / "build.json").read_text())["config"]
    assert (conf["steps"], conf["guidance"], conf["vae_range"]) == (2, 5.0, "correct")
    assert conf["captions"] == load_captions(sd_build["captions"]).digest


def test_realfake_keeps_unmasked_pixels_and_inpainted_changes_every_pixel(sd_build: dict) -> None:
    out = sd_build["out"]
    for r in _manifest(out):
        f = r["files"]
        original, soft = read_image(out / f["original"]), read_mask(out / f["mask"])
        inpainted, realfake = read_image(out / f["inpainted"]), read_image(out / f["realfake"])
        outside, core = soft == 0, soft == 255
        assert outside.any() and core.any()
        np.testing.assert_array_equal(realfake[outside], original[outside])  # bit-identical outside
        np.testing.assert_array_equal(realfake[core], inpainted[core])  # pure SD content in the core
        # every pixel went through the VAE: (practically) none survives unchanged, inside or out
        assert (inpainted != original).any(axis=2).mean() > 0.99
        assert (inpainted[outside] != original[outside]).any(axis=1).mean() > 0.99


def test_fakefake_is_the_sd_vae_round_trip_in_the_correct_range(sd_build: dict, torch_one_thread: None) -> None:
    import torch
    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_pretrained(str(sd_build["pipe"] / "vae"), local_files_only=True).eval()
    out = sd_build["out"]
    r = _manifest(out)[0]
    original, soft = read_image(out / r["files"]["original"]), read_mask(out / r["files"]["mask"])
    fakefake = read_image(out / r["files"]["fakefake"])
    with torch.no_grad():  # by hand: [0, 255] -> [-1, 1] -> posterior mode -> decode -> [0, 1]
        x = torch.from_numpy(original.astype(np.float32) / 255.0).permute(2, 0, 1)[None] * 2.0 - 1.0
        y = ((vae.decode(vae.encode(x).latent_dist.mode()).sample + 1.0) / 2.0).clamp(0, 1)
    expected = np.round(y[0].permute(1, 2, 0).numpy() * 255.0).astype(np.uint8)
    core, outside = soft == 255, soft == 0
    np.testing.assert_array_equal(fakefake[outside], original[outside])
    diff = np.abs(fakefake[core].astype(int) - expected[core])
    assert diff.max() <= 1 and (diff == 0).mean() > 0.99  # float order may round one level differently


def test_same_seed_same_files_resume_and_other_seed(sd_build: dict, tmp_path: Path) -> None:
    out2 = tmp_path / "out2"
    args = [a if a != str(sd_build["out"]) else str(out2) for a in sd_build["args"]]
    code, output = _invoke(*args)
    assert code == 0, output
    assert _hashes(out2) == _hashes(sd_build["out"])  # same seed => identical files and manifest
    # lose one finished sample: only it is rebuilt, identically
    victim = _manifest(out2)[1]
    (out2 / ".records" / f"{victim['id']}.json").unlink()
    (out2 / victim["files"]["inpainted"]).unlink()
    code, output = _invoke(*args)
    assert code == 0 and "built 1, reused 5" in output, output
    assert _hashes(out2) == _hashes(sd_build["out"])
    # another seed: other torch noise, other fill
    out3 = tmp_path / "out3"
    i = args.index("--seed")
    code, output = _invoke(*[a if a != str(out2) else str(out3) for a in args[: i + 1]], "4", *args[i + 2 :])
    assert code == 0, output
    a, b = _manifest(sd_build["out"])[0], _manifest(out3)[0]
    assert a["inpainter"]["seed"] != b["inpainter"]["seed"]
    assert not np.array_equal(
        read_image(sd_build["out"] / a["files"]["inpainted"]), read_image(out3 / b["files"]["inpainted"])
    )


def test_vae_range_report_is_recorded_and_is_the_reports_formula(
    sd_build: dict, tmp_path: Path, torch_one_thread: None
) -> None:
    import torch
    from diffusers import AutoencoderKL

    vae_dir = sd_build["pipe"] / "vae"  # the AutoencoderKL folder itself this time
    out = tmp_path / "report"
    code, output = _invoke(
        "dataset",
        "build",
        sd_build["src"],
        out,
        "--modes",
        "realfake,fakefake",
        "--inpainters",
        "autoencoder",
        "--autoencoder",
        vae_dir,
        "--vae-range",
        "report",
        "--size",
        "64",
        "--split",
        "train=1",
        "--workers",
        "1",
        "--quiet",
    )
    assert code == 0, output
    assert json.loads((out / "build.json").read_text())["config"]["vae_range"] == "report"
    r = _manifest(out)[0]
    assert r["autoencoder"]["vae_range"] == "report" and r["autoencoder"]["model"] == "vae"
    # the Telea + round-trip inpainter runs on the same SD VAE, in the same range
    assert r["inpainter"]["name"] == "autoencoder" and r["inpainter"]["vae_range"] == "report"
    original, soft = read_image(out / r["files"]["original"]), read_mask(out / r["files"]["mask"])
    vae = AutoencoderKL.from_pretrained(str(vae_dir), local_files_only=True).eval()
    with torch.no_grad():  # the Bochum report: ToTensor() [0, 1] in, posterior mode, decode, clamp to [0, 1]
        x = torch.from_numpy(original.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
        y = vae.decode(vae.encode(x).latent_dist.mode()).sample.clamp(0, 1)
    expected = np.round(y[0].permute(1, 2, 0).numpy() * 255.0).astype(np.uint8)
    core = soft == 255
    diff = np.abs(read_image(out / r["files"]["fakefake"])[core].astype(int) - expected[core])
    assert diff.max() <= 1 and (diff == 0).mean() > 0.99
    correct = read_image(sd_build["out"] / _manifest(sd_build["out"])[0]["files"]["fakefake"])
    assert np.abs(correct[core].astype(int) - expected[core]).mean() > 1  # the two ranges really differ


def test_inpainter_any_size_seed_prompt_and_binding(tiny_sd_pipeline: Path, torch_one_thread: None) -> None:
    from inpaintscope.inpaint import create_inpainter
    from inpaintscope.inpaint.diffusers_sd import draw_seed

    inp = create_inpainter("diffusers", model=tiny_sd_pipeline, steps=2)
    image = _photo(np.random.default_rng(1), 61, 75)  # neither side a multiple of 8
    mask = np.zeros(image.shape[:2], bool)
    mask[20:40, 30:60] = True
    raw = inp.raw(image, mask, rng=np.random.default_rng(1))
    assert raw.shape == image.shape and raw.dtype == np.uint8
    assert not np.array_equal(inp.raw(image, mask, rng=np.random.default_rng(2)), raw)  # the seed matters
    # the documented size rule: reflect-pad bottom/right to 64×80 (never part of the hole), crop back
    padded = np.pad(image, ((0, 3), (0, 5), (0, 0)), mode="reflect")
    padded_mask = np.pad(mask, ((0, 3), (0, 5)))
    np.testing.assert_array_equal(inp.raw(padded, padded_mask, rng=np.random.default_rng(1))[:61, :75], raw)
    # a bound copy draws its seed from rng exactly as an unbound call does (so: same seed, same
    # output, whatever rng it is then handed), and records it
    bound = inp.for_sample(prompt="", rng=np.random.default_rng(1))
    assert bound.describe()["seed"] == draw_seed(np.random.default_rng(1))
    np.testing.assert_array_equal(bound.raw(image, mask, rng=np.random.default_rng(99)), raw)
    assert bound.pipeline is inp.pipeline  # one loaded pipeline per process
    prompted = inp.for_sample(prompt="a red house", rng=np.random.default_rng(1))
    assert not np.array_equal(prompted.raw(image, mask, rng=np.random.default_rng(99)), raw)  # prompt is used


def test_photo_without_caption_fails_and_no_match_is_refused(sd_build: dict, tmp_path: Path) -> None:
    partial = tmp_path / "partial.jsonl"
    partial.write_text('{"file": "a.png", "caption": "x"}\n{"file": "b", "caption": "y"}\n', encoding="utf-8")
    code, output = _invoke(
        *_build_args(
            sd_build["src"],
            tmp_path / "out",
            sd_build["pipe"],
            "--captions",
            str(partial),
            "--per-image",
            "1",
            "--modes",
            "realfake",
        )
    )
    assert code == 1 and "failed 1 sample(s)" in output and "no caption for 'sub/c.png'" in output, output
    none = tmp_path / "none.csv"
    none.write_text("file,caption\nzzz.jpg,nothing\n", encoding="utf-8")
    code, output = _invoke(*_build_args(sd_build["src"], tmp_path / "out2", sd_build["pipe"], "--captions", str(none)))
    assert code == 2 and "has a caption for none of the 3 photos" in output and "Traceback" not in output
    assert len(output.strip().splitlines()) == 1 and not (tmp_path / "out2").exists()


# --------------------------------------------------------------------------- without the extra


def _skeleton_pipeline(root: Path) -> Path:
    """The files a pipeline folder is recognised by, without weights (no diffusers needed)."""
    for part in ("unet", "vae", "text_encoder", "tokenizer", "scheduler"):
        (root / part).mkdir(parents=True)
    (root / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionInpaintPipeline"}))
    (root / "unet" / "config.json").write_text(json.dumps({"_class_name": "UNet2DConditionModel", "in_channels": 9}))
    (root / "vae" / "config.json").write_text(json.dumps({"_class_name": "AutoencoderKL"}))
    return root


def _one_photo(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    write_image(src / "a.png", _photo(np.random.default_rng(0), 64, 64))
    return src


@pytest.mark.parametrize("what", ["inpainter", "autoencoder"])
def test_missing_extra_is_a_one_line_install_hint(what: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pipe = _skeleton_pipeline(tmp_path / "sd")
    monkeypatch.setitem(sys.modules, "diffusers", None)  # `import diffusers` now raises ImportError
    options = (
        ["--inpainters", f"diffusers:{pipe}"]
        if what == "inpainter"
        else ["--modes", "fakefake", "--autoencoder", str(pipe)]
    )
    code, output = _invoke("dataset", "build", _one_photo(tmp_path), tmp_path / "out", *options)
    assert code == 2 and HINT in output and "Traceback" not in output, output
    assert len(output.strip().splitlines()) == 1 and not (tmp_path / "out").exists()
    from inpaintscope.inpaint import create_inpainter

    with pytest.raises(MissingDependencyError, match=r"inpaintscope\[diffusers\]"):
        create_inpainter("diffusers", model=pipe)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--inpainters", "diffusers"], "needs a local model folder: --inpainters diffusers:PATH"),
        (["--inpainters", "telea:fast"], "takes no ':' argument"),
        (["--inpainters", "diffusers:/nonexistent/sd-inpainting"], "no such folder"),
        (["--inpainters", "diffusers:{tmp}"], "no model_index.json"),
        (["--steps", "2"], "--steps: used only by diffusers:PATH inpainters"),
        (["--guidance", "3"], "--guidance: used only by diffusers:PATH inpainters"),
        (["--captions", "{caps}"], "--captions: used only by diffusers:PATH inpainters"),
        (["--vae-range", "report"], "applies to a diffusers AutoencoderKL"),
        (["--modes", "fakefake", "--autoencoder", "{tmp}"], "missing taef2_encoder.pth, taef2_decoder.pth (TAEF2)"),
    ],
)
def test_cli_diffusion_option_errors(options: list[str], message: str, tmp_path: Path) -> None:
    caps = tmp_path / "caps.json"
    caps.write_text('{"a": "x"}')
    empty = tmp_path / "empty"
    empty.mkdir()
    options = [o.replace("{tmp}", str(empty)).replace("{caps}", str(caps)) for o in options]
    code, output = _invoke("dataset", "build", _one_photo(tmp_path), tmp_path / "out", *options)
    assert code == 2 and message in output and "Traceback" not in output, output
    assert len(output.strip().splitlines()) == 1


# --------------------------------------------------------------------------- captions files


def test_caption_formats_and_key_rules(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text(json.dumps({"sub/a.jpg": "by path", "a": "by stem", "b.png": "by name"}))
    (tmp_path / "m.jsonl").write_text('{"file": "a", "caption": "first"}\n\n{"file": "a", "caption": "second"}\n')
    (tmp_path / "m.csv").write_text('file,caption,extra\nsub/a,"with, comma",1\nc.jpg,  two   spaces \n')
    m = load_captions(tmp_path / "m.json")
    assert m.lookup("sub/a.jpg") == "by path"  # the full relative path wins over the stem
    assert m.lookup("other/a.png") == "by stem" and m.lookup("x/b.png") == "by name"
    assert m.lookup("zzz.png") is None
    assert load_captions(tmp_path / "m.jsonl").lookup("a.png") == "first"  # a repeated key keeps its first
    c = load_captions(tmp_path / "m.csv")
    assert c.lookup("sub/a.png") == "with, comma" and c.lookup("c.jpg") == "two spaces"
    assert len({load_captions(tmp_path / f"m.{s}").digest for s in ("json", "jsonl", "csv")}) == 3


def test_coco_first_caption_is_the_smallest_annotation_id(tmp_path: Path) -> None:
    coco = {
        "images": [{"id": 139, "file_name": "000000000139.jpg"}, {"id": 7, "file_name": "000000000007.jpg"}],
        "annotations": [
            {"image_id": 139, "id": 900, "caption": "A room with chairs.\n"},
            {"image_id": 139, "id": 12, "caption": "A living  room."},
            {"image_id": 7, "id": 5, "caption": "A dog."},
            {"image_id": 139, "id": 400, "caption": "A table."},
        ],
    }
    path = tmp_path / "captions_val2017.json"
    path.write_text(json.dumps(coco))
    caps = load_captions(path)
    assert caps.lookup("coco/val2017/000000000139.jpg") == "A living room."  # id 12, whitespace folded
    assert caps.lookup("000000000007.jpg") == "A dog." and caps.lookup("000000000007.png") is None
    coco["annotations"].reverse()  # file order does not matter, the id does
    path.write_text(json.dumps(coco))
    assert load_captions(path).lookup("000000000139.jpg") == "A living room."


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("c.txt", "a,b", "must be a .json, .jsonl, .csv file"),
        ("c.json", "[1, 2]", "expected a JSON object"),
        ("c.json", "{bad", "not valid JSON"),
        ("c.json", '{"a": 3}', "a caption must be a string"),
        ("c.jsonl", '{"name": "a"}', "c.jsonl:1: each line must be an object with 'file' and 'caption'"),
        ("c.csv", "path,text\na,b\n", "must name the columns 'file' and 'caption'"),
        ("c.json", '{"images": [], "annotations": []}', "holds no captions"),
        ("c.json", '{"images": [{"id": 1}], "annotations": []}', "needs 'id' and 'file_name'"),
    ],
)
def test_bad_captions_files(name: str, text: str, message: str, tmp_path: Path) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(CaptionsError, match=None) as err:
        load_captions(tmp_path / name)
    assert message in str(err.value) and "\n" not in str(err.value)
