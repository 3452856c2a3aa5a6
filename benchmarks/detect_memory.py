"""Peak memory of the whole ``inpaintscope detect`` command (overlays on) on large photos.

    python benchmarks/detect_memory.py                    # 6000x4000 and 12000x9000, default model
    python benchmarks/detect_memory.py --sizes 6000x4000 --model ckpt.safetensors

For each size, a synthetic photo-like JPEG (smooth colour fields, soft shapes, sensor noise,
quality 90) is generated at run time in a temporary folder, then ``inpaintscope detect`` runs on
it in a fresh process (reading, tiled inference, regions, the three pictures, the results files)
and its peak resident set size is read from ``/usr/bin/time -v`` (``ru_maxrss`` of the child
where that tool is missing).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import peak_rss_mb


def make_photo(width: int, height: int, path: Path, *, seed: int = 0) -> None:
    """Write a photo-like JPEG of ``width``×``height`` without holding more than one copy."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    small = rng.random((height // 64 + 2, width // 64 + 2, 3)).astype(np.float32)
    img = (np.clip(cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC), 0, 1) * 200 + 20).astype(np.uint8)
    del small
    for _ in range(40):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.circle(img, centre, int(rng.integers(width // 50, width // 8)), colour, -1, cv2.LINE_AA)
    img = cv2.GaussianBlur(img, (0, 0), 3)
    for r0 in range(0, height, 1024):  # sensor noise, band by band
        band = img[r0 : r0 + 1024].astype(np.int16)
        band += rng.normal(0, 4, band.shape).astype(np.int16)
        img[r0 : r0 + 1024] = np.clip(band, 0, 255).astype(np.uint8)
    cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 90])


def measure(photo: Path, out: Path, model: str | None) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of ``inpaintscope detect photo -o out``."""
    cmd = [sys.executable, "-m", "inpaintscope.cli.main", "detect", str(photo), "-o", str(out)]
    if model:
        cmd += ["--model", model]
    timer = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)
    start = time.perf_counter()
    if timer:
        proc = subprocess.run([timer, "-v", *cmd], capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if proc.returncode:
            raise SystemExit(proc.stderr)
        line = next(x for x in proc.stderr.splitlines() if "Maximum resident set size" in x)
        return int(line.split(":")[1]) / 1024, seconds
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(proc.stderr)
    return peak_rss_mb(children=True), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="6000x4000,12000x9000", help="comma-separated WIDTHxHEIGHT")
    parser.add_argument("--model", default=None, help="model name or checkpoint (default: the shipped model)")
    args = parser.parse_args()
    print("| size | pixels | peak RSS (MB) | wall s |\n|---|---:|---:|---:|")
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.lower().split("x"))
        with tempfile.TemporaryDirectory() as tmp:
            photo = Path(tmp) / f"photo_{w}x{h}.jpg"
            make_photo(w, h, photo)
            peak, seconds = measure(photo, Path(tmp) / "out", args.model)
        print(f"| {w}x{h} | {w * h / 1e6:.1f} MP | {peak:.0f} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
