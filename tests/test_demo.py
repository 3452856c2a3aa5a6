"""The demo: its verdict table (an edit is found only where the mask lands on it) and its files
(reused only when made exactly as this version makes them; someone else's never overwritten)."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from inpaintscope.cli.demo import (
    CASES,
    HIT_IOU,
    MANIFEST_NAME,
    DemoManifest,
    DemoRow,
    demo_summary,
    make_demo_edits,
    make_demo_photos,
)
from inpaintscope.errors import InpaintscopeError


def _row(inpainter, decision, iou=None, status="ok"):
    return DemoRow("x.png", inpainter, {"status": status, "decision": decision}, iou)


def test_outcomes_need_the_mask_on_the_edit():
    assert _row("telea", True, 0.8).outcome == "hit"
    assert _row("telea", True, HIT_IOU).outcome == "hit"
    # flagged because of false alarms elsewhere in the photo: not a find
    assert _row("patchmatch", True, 0.0).outcome == "wrong place"
    assert _row("patchmatch", True, None).outcome == "wrong place"
    assert _row("telea", False, 0.0).outcome == "miss"
    assert _row(None, True).outcome == "false alarm" and _row(None, False).outcome == "correct"
    assert _row("telea", True, 0.9, status="error").outcome == "error"


def test_summary_counts_each_outcome():
    rows = [_row("telea", True, 0.8), _row("patchmatch", True, 0.0), _row("clone", False, 0.0), _row(None, True)]
    line = demo_summary(rows)
    assert line.startswith("1 of 3 edits found (hits: flagged, mask IoU >= 0.1)")
    assert "1 flagged with the mask elsewhere" in line and "1 missed" in line
    assert line.endswith("1 false alarm(s) on 1 untouched photos")
    assert "elsewhere" not in demo_summary(rows[:1])


# ---- the demo's files: reused only when made as this version makes them ----------------------------


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Tiny sample photos and a trivial inpainter (the real ones take seconds a photo); returns
    the names of the inpainters created, one per edit made."""
    import skimage.data

    import inpaintscope.inpaint as inpaint
    from inpaintscope.inpaint.base import Inpainter

    for i, (name, _, _) in enumerate(CASES):
        image = np.random.default_rng(i).integers(0, 256, (48, 64, 3), dtype=np.uint8)
        monkeypatch.setattr(skimage.data, name, lambda image=image: image, raising=False)

    class Grey(Inpainter):
        def _fill(self, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
            return np.full_like(image, int(rng.integers(0, 256)))

    created: list[str] = []

    def create(name: str, **options: object) -> Inpainter:
        created.append(name)
        return Grey()

    monkeypatch.setattr(inpaint, "create_inpainter", create)
    return created


def _make(out: Path, *, seed: int = 0) -> tuple[list[Path], list[Path]]:
    manifest = DemoManifest.load(out / MANIFEST_NAME)
    photos = make_demo_photos(out / "images", manifest=manifest)
    return photos, make_demo_edits(photos, out / "images", out / "truth", manifest=manifest, seed=seed)


def _stamps(out: Path) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in sorted(out.rglob("*.png"))}


def _contents(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.png"))}


def test_unchanged_files_are_reused(tmp_path: Path, quick: list[str]) -> None:
    _make(tmp_path)
    assert len(quick) == len(CASES) and len(_stamps(tmp_path)) == 3 * len(CASES)
    before = _stamps(tmp_path)
    quick.clear()
    _make(tmp_path)
    assert quick == [] and _stamps(tmp_path) == before


def test_manifest_records_the_hash_of_each_file(tmp_path: Path, quick: list[str]) -> None:
    _make(tmp_path, seed=3)
    files = json.loads((tmp_path / MANIFEST_NAME).read_text())["files"]
    assert sorted(files) == sorted(_stamps(tmp_path))
    for key, entry in files.items():
        assert entry["sha256"] == hashlib.sha256((tmp_path / key).read_bytes()).hexdigest()
        assert entry["inpaintscope"] and entry["case"] in key
    edit = files["images/coffee_inpainted.png"]
    assert (edit["seed"], edit["mask"], edit["inpainter"]) == (3, "strokes", "telea")


def test_edits_of_another_seed_are_remade(tmp_path: Path, quick: list[str]) -> None:
    fresh = tmp_path / "fresh"
    _make(fresh, seed=0)
    stale = tmp_path / "stale"
    _make(stale, seed=1)  # what an older demo with another seed left behind
    assert _contents(stale) != _contents(fresh)
    quick.clear()
    _make(stale, seed=0)
    assert quick == [c[2] for c in CASES]
    assert _contents(stale) == _contents(fresh)


def test_a_recipe_changed_in_the_manifest_is_remade(tmp_path: Path, quick: list[str]) -> None:
    _make(tmp_path)
    manifest = tmp_path / MANIFEST_NAME
    data = json.loads(manifest.read_text())
    data["files"]["images/rocket_inpainted.png"]["inpainter"] = "telea"  # made by another inpainter
    manifest.write_text(json.dumps(data))
    quick.clear()
    _make(tmp_path)
    assert quick == ["patchmatch"]


def test_a_modified_edit_or_mask_is_remade(tmp_path: Path, quick: list[str]) -> None:
    _make(tmp_path)
    want = _contents(tmp_path)
    edit = tmp_path / "images" / "chelsea_inpainted.png"
    edit.write_bytes((tmp_path / "images" / "chelsea.png").read_bytes())
    truth = tmp_path / "truth" / "astronaut_inpainted.mask.png"
    truth.unlink()
    quick.clear()
    _make(tmp_path)
    assert sorted(quick) == sorted(["fourier", "clone"])
    assert _contents(tmp_path) == want


def test_a_file_the_demo_did_not_make_is_not_overwritten(tmp_path: Path, quick: list[str]) -> None:
    mine = tmp_path / "images" / "coffee_inpainted.png"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"my own picture")
    with pytest.raises(InpaintscopeError, match="coffee_inpainted.png"):
        _make(tmp_path)
    assert mine.read_bytes() == b"my own picture"


def test_the_command_refuses_a_foreign_file_in_one_line(tmp_path: Path, quick: list[str]) -> None:
    from inpaintscope.cli.main import cli

    (tmp_path / "images").mkdir()
    mine = tmp_path / "images" / "astronaut.png"
    mine.write_bytes(b"not the demo's")
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: refusing to overwrite")
    assert str(mine) in lines[0] and "--out" in lines[0]
    assert mine.read_bytes() == b"not the demo's" and not (tmp_path / MANIFEST_NAME).exists()
    assert not (tmp_path / "truth").exists()
