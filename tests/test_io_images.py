"""inpaintscope.io.read_image: every input kind and every way a file can be bad."""

from __future__ import annotations

import io
import os
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inpaintscope.errors import ImageReadError, ShapeError
from inpaintscope.io import images as images_mod, read_image


def _png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid-looking PNG whose header claims ``width × height`` RGB pixels (10 G by default)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _chunk(b"IEND", b"")
    )


def test_rgb_png_path_bytes_pil_numpy_agree(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    data = _png_bytes(Image.fromarray(arr))
    (tmp_path / "a.png").write_bytes(data)
    for source in (
        tmp_path / "a.png",
        str(tmp_path / "a.png"),
        data,
        bytearray(data),
        Image.open(io.BytesIO(data)),
        arr,
    ):
        out = read_image(source)
        assert out.dtype == np.uint8 and out.shape == (24, 40, 3)
        np.testing.assert_array_equal(out, arr)


def test_grayscale_is_replicated(tmp_path: Path) -> None:
    gray = np.arange(0, 250, 10, dtype=np.uint8).reshape(5, 5)
    out = read_image(_png_bytes(Image.fromarray(gray, mode="L")))
    assert out.shape == (5, 5, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], gray)


def test_palette_is_expanded() -> None:
    img = Image.new("P", (4, 2))
    img.putpalette([0, 0, 0, 255, 0, 0, 0, 128, 255] + [0] * (256 * 3 - 9))
    img.putdata([0, 1, 2, 1, 2, 0, 0, 1])
    out = read_image(_png_bytes(img))
    assert out.shape == (2, 4, 3)
    assert out[0, 1].tolist() == [255, 0, 0] and out[0, 2].tolist() == [0, 128, 255] and out[0, 0].tolist() == [0, 0, 0]


def test_rgba_alpha_is_dropped_not_composited() -> None:
    rgba = np.zeros((3, 3, 4), np.uint8)
    rgba[..., :3] = (10, 200, 30)
    rgba[..., 3] = 0  # fully transparent: the colour underneath must survive (it is the evidence)
    out = read_image(_png_bytes(Image.fromarray(rgba, mode="RGBA")))
    assert out.shape == (3, 3, 3)
    assert (out == np.array([10, 200, 30], np.uint8)).all()


def test_16bit_png_scales_by_fixed_range() -> None:
    vals = np.array([[0, 257 * 100, 65535]], dtype=np.uint16)
    img = Image.fromarray(vals)
    out = read_image(_png_bytes(img))
    assert out[..., 0].tolist() == [[0, 100, 255]]
    # a dark 16-bit image stays dark: 200/65535 of full scale is 0.78/255 → 1, not 200
    dark = Image.fromarray(np.array([[0, 200]], dtype=np.uint16))
    assert read_image(_png_bytes(dark))[..., 0].tolist() == [[0, 1]]


def test_uint16_and_float_arrays() -> None:
    assert read_image(np.array([[0, 65535]], np.uint16))[..., 1].tolist() == [[0, 255]]
    assert read_image(np.array([[0.0, 0.5, 1.0]], np.float32))[0, :, 2].tolist() == [0, 128, 255]
    with pytest.raises(ShapeError, match=r"\[0, 1\]"):
        read_image(np.array([[2.0]], np.float32))


def test_byte_order_does_not_change_the_pixels() -> None:
    # '>u2' is 16-bit like 'uint16': read as 8-bit it came out about 250× brighter, or was refused
    dark = np.random.default_rng(0).integers(0, 256, (8, 8, 3)).astype(np.uint16)
    bright = dark * 257
    for arr in (dark, bright):
        assert np.array_equal(read_image(arr.astype(">u2")), read_image(arr))
    assert np.array_equal(read_image(np.array([[7]], ">i2")), read_image(np.array([[7]], np.int16)))


@pytest.mark.parametrize("dtype", [complex, object, "U1", "datetime64[s]"])
def test_arrays_that_are_not_pixels_are_refused(dtype) -> None:
    with pytest.raises(ShapeError, match=re.escape(f"got dtype {np.dtype(dtype)}")):
        read_image(np.zeros((4, 4, 3), dtype))


def test_cmyk_jpeg() -> None:
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red in CMYK
    buf = io.BytesIO()
    cmyk.save(buf, format="JPEG", quality=95)
    out = read_image(buf.getvalue())
    assert out.shape == (16, 16, 3)
    r, g, b = out.reshape(-1, 3).mean(axis=0)
    assert r > 240 and g < 15 and b < 15


def test_exif_orientation_6_is_applied() -> None:
    # 40 wide × 20 high: left half black, right half white
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, 20:] = 255
    img = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=95, exif=exif.tobytes())
    out = read_image(buf.getvalue())
    assert out.shape == (40, 20, 3)  # transposed
    # after a clockwise turn the former left (black) half is on top
    assert out[:16].mean() < 20 and out[24:].mean() > 235
    # and a PIL image carrying the tag is rotated the same way
    np.testing.assert_array_equal(read_image(Image.open(io.BytesIO(buf.getvalue()))), out)


def test_zero_byte_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.png"
    p.write_bytes(b"")
    with pytest.raises(ImageReadError, match="empty file"):
        read_image(p)
    with pytest.raises(ImageReadError, match="empty input"):
        read_image(b"")


def test_truncated_jpeg(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, format="JPEG", quality=90)
    p = tmp_path / "cut.jpg"
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageReadError, match=r"cut\.jpg: truncated"):
        read_image(p)


def test_truncated_file_opened_as_a_pil_image(tmp_path: Path) -> None:
    # Image.open is lazy: the bad data shows when the pixels are read, inside read_image
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, format="JPEG")
    p = tmp_path / "cut.jpg"
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with Image.open(p) as img, pytest.raises(ImageReadError, match="PIL image: truncated"):
        read_image(img)


def test_text_file_is_not_an_image(tmp_path: Path) -> None:
    p = tmp_path / "notes.jpg"
    p.write_text("these are not pixels\n")
    with pytest.raises(ImageReadError, match="not an image"):
        read_image(p)


def test_corrupt_png_data(tmp_path: Path) -> None:
    good = _png_bytes(Image.fromarray(np.zeros((32, 32, 3), np.uint8)))
    i = good.index(b"IDAT") + 4
    bad = good[:i] + bytes(b ^ 0xFF for b in good[i : i + 12]) + good[i + 12 :]
    with pytest.raises(ImageReadError) as e:
        read_image(bad)
    assert "input bytes" in str(e.value) and "\n" not in str(e.value)


def test_decompression_bomb_header(tmp_path: Path) -> None:
    p = tmp_path / "bomb.png"
    p.write_bytes(bomb_png())
    with pytest.raises(ImageReadError, match="decompression bomb"):
        read_image(p)


def test_max_pixels_is_our_limit_not_pillows(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _png_bytes(Image.fromarray(np.zeros((64, 64, 3), np.uint8)))
    with pytest.raises(ImageReadError, match="4,096 pixels exceeds the limit of 4,000"):
        read_image(data, max_pixels=4000)
    # Pillow's own (here tiny) limit must neither refuse an image we allow nor be left changed
    # the same limit whatever the pixels come as; a lazily opened PIL image is refused undecoded
    with (
        Image.open(io.BytesIO(bomb_png(9000, 9000))) as lazy,
        pytest.raises(ImageReadError, match="decompression bomb"),
    ):
        read_image(lazy, max_pixels=50_000_000)
    with pytest.raises(ImageReadError, match="4,096 pixels exceeds the limit of 4,000"):
        read_image(np.zeros((64, 64, 3), np.uint8), max_pixels=4000)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    assert read_image(data).shape == (64, 64, 3)
    assert Image.MAX_IMAGE_PIXELS == 1000


def test_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match="no such file"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(ImageReadError, match="is a directory"):
        read_image(tmp_path)
    with pytest.raises(ImageReadError, match="cannot read an image from a int"):
        read_image(3)  # type: ignore[arg-type]


def deny_reading(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """Make ``path`` unreadable: chmod 000, and for root (who reads anyway) fail its open()."""
    os.chmod(path, 0)
    if os.access(path, os.R_OK):
        real_open = open

        def fake_open(file, *args, **kwargs):  # type: ignore[no-untyped-def]
            if Path(file).resolve() == path.resolve():
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(images_mod, "open", fake_open, raising=False)


def test_unreadable_permission(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "locked.png"
    p.write_bytes(_png_bytes(Image.fromarray(np.zeros((8, 8, 3), np.uint8))))
    deny_reading(monkeypatch, p)
    try:
        with pytest.raises(ImageReadError, match=r"locked\.png: permission denied"):
            read_image(p)
    finally:
        os.chmod(p, 0o644)


def test_atomic_writes_leave_no_temporaries_and_respect_the_umask(tmp_path):
    import os
    import stat

    from inpaintscope.io.atomic import atomic_open, atomic_write_text

    atomic_write_text(tmp_path / "a.txt", "hello")
    assert (tmp_path / "a.txt").read_text() == "hello"
    if os.name == "posix":  # like open(): 0666 minus the process umask, not mkstemp's 0600
        umask = os.umask(0)
        os.umask(umask)
        assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o666 & ~umask
    with pytest.raises(RuntimeError), atomic_open(tmp_path / "b.txt", "w") as f:
        f.write("half")
        raise RuntimeError("killed mid-write")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
