"""Dataset readers on the three layouts: our manifest, the Bochum report's naming (WebP), images/ + masks/."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from inpaintscope.data.batching import collate_samples
from inpaintscope.data.builder import BuildConfig, build_dataset
from inpaintscope.data.readers import (
    DatasetLayoutError,
    FolderDataset,
    ManifestDataset,
    ReportLayoutDataset,
    detect_layout,
    open_dataset,
)
from inpaintscope.errors import ShapeError
from inpaintscope.io import read_image, read_mask, write_image

H, W = 48, 64


def photo(seed: int, h: int = H, w: int = W) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def soft_mask(h: int = H, w: int = W) -> np.ndarray:
    """A mask with a 255 core (rows 10–19), a 128 band (rows 20–24) and zeros elsewhere."""
    m = np.zeros((h, w), np.uint8)
    m[10:20, 8:40] = 255
    m[20:25, 8:40] = 128
    return m


@pytest.fixture(scope="module")
def manifest_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("manifest")
    src = base / "src"
    for i in range(4):
        write_image(
            src / f"p{i}.png", np.asarray(np.kron(photo(i, 6, 8), np.ones((16, 16, 1), np.uint8)))
        )  # blocky 96×128 photos
    cfg = BuildConfig(
        masks=("rectangle",),
        inpainters=("telea",),
        modes=("realfake", "inpainted"),
        size=64,
        split="train=0.5,test=0.5",
        seed=2,
    )
    build_dataset([src], base / "out", cfg, workers=1, progress=False)
    return base / "out"


def test_manifest_reader_items(manifest_root: Path) -> None:
    ds = ManifestDataset(manifest_root)
    assert len(ds) == 4 * 3  # 4 samples × (2 modes + 1 authentic original)
    assert sorted(ds.labels()) == [0] * 4 + [1] * 8
    assert ds.metas() == [ds[i]["meta"] for i in range(len(ds))]  # the same metas, no image read
    item = ds[0]
    assert item["image"].shape == (3, 64, 64) and item["image"].dtype == torch.float32
    assert item["mask"].shape == (1, 64, 64) and item["mask"].dtype == torch.float32
    assert item["label"].dtype == torch.int64 and item["label"].ndim == 0
    assert set(item["meta"]) >= {"id", "split", "mode", "inpainter", "mask_kind", "source", "post"}
    for i in range(len(ds)):
        it = ds[i]
        meta = it["meta"]
        img = read_image(manifest_root / meta["path"])
        np.testing.assert_allclose(it["image"].numpy().transpose(1, 2, 0) * 255, img, atol=1e-3)
        if meta["mode"] == "authentic":
            assert it["label"].item() == 0 and it["mask"].sum() == 0
            assert meta["inpainter"] is None and meta["mask_kind"] is None
        else:
            assert it["label"].item() == 1 and meta["inpainter"] == "telea" and meta["mask_kind"] == "rectangle"
            soft = read_mask(manifest_root / meta["split"] / f"{meta['id']}.mask.png")
            np.testing.assert_array_equal(it["mask"][0].numpy(), (soft == 255).astype(np.float32))


def test_manifest_reader_filters(manifest_root: Path) -> None:
    train = ManifestDataset(manifest_root, split="train", modes=["realfake"], include_authentic=False)
    assert len(train) == 2
    assert {e[3]["split"] for e in train.entries} == {"train"} and {e[3]["mode"] for e in train.entries} == {"realfake"}
    soft = ManifestDataset(manifest_root, modes="realfake", gt_mode="soft", include_authentic=False)
    any_ = ManifestDataset(manifest_root, modes="realfake", gt_mode="any", include_authentic=False)
    core = ManifestDataset(manifest_root, modes="realfake", gt_mode="core", include_authentic=False)
    s, a, c = soft[0]["mask"], any_[0]["mask"], core[0]["mask"]
    assert ((s > 0) & (s < 1)).any()  # the blurred band
    assert torch.equal(a, (s > 0).float()) and torch.equal(c, (s == 1).float())
    assert c.sum() < a.sum()
    with pytest.raises(DatasetLayoutError, match="unknown mode"):
        ManifestDataset(manifest_root, modes="deepfake")
    with pytest.raises(DatasetLayoutError, match="ground-truth mode"):
        ManifestDataset(manifest_root, gt_mode="hard")


@pytest.fixture()
def report_root(tmp_path: Path) -> Path:
    root = tmp_path / "report"
    train, test = root / "train", root / "test"
    m = soft_mask()
    for folder, key, seed in ((train, "000001", 1), (train, "000002", 2), (test, "17", 3)):
        write_image(folder / f"{key}.original.webp", photo(seed))  # lossless WebP
        write_image(folder / f"{key}.mask.webp", m)
        write_image(folder / f"{key}.realfake.webp", photo(seed + 10))
        write_image(folder / f"{key}.fakefake.webp", photo(seed + 20))
    write_image(train / "000002.inpainted.png", photo(40))  # mixed suffixes pair by key
    write_image(test / "99.realfake.webp", photo(50))  # no mask: cannot be used as manipulated
    (train / "notes.txt").write_text("not an image")
    return root


def test_report_layout_reader(report_root: Path) -> None:
    assert detect_layout(report_root) == "report"
    ds = open_dataset(report_root, gt_mode="core")
    assert isinstance(ds, ReportLayoutDataset)
    assert ds.skipped == 1
    by = {(e[3]["id"], e[3]["mode"]): e for e in ds.entries}
    assert set(by) == {
        ("000001", "realfake"),
        ("000001", "fakefake"),
        ("000001", "authentic"),
        ("000002", "inpainted"),
        ("000002", "realfake"),
        ("000002", "fakefake"),
        ("000002", "authentic"),
        ("17", "realfake"),
        ("17", "fakefake"),
        ("17", "authentic"),
    }
    idx = ds.entries.index(by[("000002", "inpainted")])
    item = ds[idx]
    assert item["meta"]["split"] == "train" and item["label"].item() == 1
    np.testing.assert_array_equal((item["image"].numpy().transpose(1, 2, 0) * 255).round(), photo(40))
    # core: only the 255 rows; hand-computed area 10 × 32
    assert item["mask"].shape == (1, H, W) and item["mask"].sum().item() == 10 * 32
    any_item = ReportLayoutDataset(report_root, gt_mode="any")[idx]
    assert any_item["mask"].sum().item() == 15 * 32
    soft_item = ReportLayoutDataset(report_root, gt_mode="soft")[idx]
    assert soft_item["mask"].sum().item() == pytest.approx(10 * 32 + 5 * 32 * 128 / 255, rel=1e-6)
    auth = ds[ds.entries.index(by[("17", "authentic")])]
    assert auth["label"].item() == 0 and auth["mask"].sum().item() == 0
    np.testing.assert_array_equal((auth["image"].numpy().transpose(1, 2, 0) * 255).round(), photo(3))
    test_only = open_dataset(report_root, split="test", modes=["realfake"], include_authentic=False)
    assert [(e[3]["id"], e[3]["mode"]) for e in test_only.entries] == [("17", "realfake")]


def test_folder_reader_pairs_by_stem(tmp_path: Path) -> None:
    root = tmp_path / "folders"
    m = soft_mask()
    write_image(root / "images" / "a.png", photo(1))  # authentic: no mask
    write_image(root / "images" / "b.jpg", photo(2))
    write_image(root / "images" / "nested" / "c.webp", photo(3))
    write_image(root / "masks" / "nested" / "c.png", m)
    write_image(root / "masks" / "z_orphan.png", m)  # a mask without an image is ignored
    assert detect_layout(root) == "folders"
    ds = open_dataset(root, gt_mode="any")
    assert isinstance(ds, FolderDataset)
    assert [(e[3]["id"], e[2]) for e in ds.entries] == [("a", 0), ("b", 0), ("nested/c", 1)]
    # Sorted-list pairing would give "a" the mask of "nested/c"; pairing by stem must not.
    assert ds[0]["mask"].sum().item() == 0 and ds[0]["label"].item() == 0
    c = ds[2]
    assert c["label"].item() == 1 and c["mask"].sum().item() == 15 * 32
    assert c["meta"]["mode"] == "manipulated"
    assert len(FolderDataset(root, include_authentic=False)) == 1
    with pytest.raises(DatasetLayoutError, match="no compositing modes"):
        open_dataset(root, modes="realfake")


def test_folder_reader_rejects_mismatched_mask(tmp_path: Path) -> None:
    write_image(tmp_path / "images" / "a.png", photo(1))
    write_image(tmp_path / "masks" / "a.png", np.zeros((10, 10), np.uint8))
    with pytest.raises(ShapeError, match="must match"):
        FolderDataset(tmp_path)[0]


def test_collate_and_dataloader(report_root: Path) -> None:
    ds = open_dataset(report_root)
    batch = next(iter(DataLoader(ds, batch_size=4, collate_fn=collate_samples)))
    assert batch["image"].shape == (4, 3, H, W) and batch["mask"].shape == (4, 1, H, W)
    assert batch["label"].shape == (4,) and batch["label"].dtype == torch.int64
    assert isinstance(batch["meta"], list) and len(batch["meta"]) == 4
    small = {**ds[0], "image": torch.zeros(3, 8, 8), "mask": torch.zeros(1, 8, 8)}
    with pytest.raises(ShapeError, match="differ in size"):
        collate_samples([ds[0], small])


def test_open_dataset_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetLayoutError, match="not a dataset"):
        open_dataset(tmp_path / "empty")
    with pytest.raises(DatasetLayoutError, match="no such dataset"):
        open_dataset(tmp_path / "missing")


def test_our_builds_read_with_the_report_layout_reader(manifest_root: Path) -> None:
    ours = ManifestDataset(manifest_root)
    report = ReportLayoutDataset(manifest_root)
    key = lambda e: (e[3]["id"], e[3]["mode"], e[0].name, e[2])  # noqa: E731
    assert sorted(map(key, report.entries)) == sorted(map(key, ours.entries))
    assert {e[3]["split"] for e in report.entries} == {"train", "test"}
