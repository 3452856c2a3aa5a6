"""Loopback load on a real ``inpaintscope serve``: latency, throughput, errors and server memory.

    python benchmarks/serve.py                                  # 200 requests, 8 at a time
    python benchmarks/serve.py --requests 50 --workers 1 --images none

Starts ``inpaintscope serve --port 0`` (the shipped default model unless ``--model``) as a
subprocess on 127.0.0.1, then sends ``--requests`` POSTs to ``/v1/detect`` from ``--concurrency``
client threads (one keep-alive connection each). Request *i* carries a seeded JPEG photo-like
image (smoothed noise) of one of ``--sizes``, in a seeded shuffled order, so the sizes mix.
Every answer must be 200 with a record of the right size; anything else counts as an error. The
server's RSS (process and children) is sampled every 50 ms: peak over the run, and the peak of
each half (a leak shows as a second half above the first). The queue is large enough for the
clients, so no request should be refused; the run is bounded by ``--requests`` and
``--deadline`` and talks to loopback only. Exit code 1 when any request failed.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from _harness import markdown_table


def photo_jpeg(size: int, seed: int) -> bytes:
    """A photo-like JPEG (q 90): smoothed colour noise, so it compresses like a photo."""
    import cv2
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(4, size // 16), max(4, size // 16), 3), dtype=np.uint8)
    img = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
    img = np.clip(img.astype(np.int16) + rng.integers(-6, 7, img.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def start_server(args: argparse.Namespace) -> tuple[subprocess.Popen, str]:
    cmd = [
        sys.executable,
        "-m",
        "inpaintscope.cli.main",
        "serve",
        "--port",
        "0",
        "--workers",
        str(args.workers),
        "--queue",
        str(args.queue),
    ]
    if args.model:
        cmd += ["--model", args.model]
    proc = subprocess.Popen(
        cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    line = ""
    deadline = time.monotonic() + 300
    while "http://" not in line:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"server did not start: {line.strip()} {proc.stderr.read() if proc.stderr else ''}")
        line = proc.stderr.readline()
    # keep draining the server's log so it never blocks on a full pipe
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    return proc, line.split()[2]


class RssSampler(threading.Thread):
    """Peak RSS (bytes) of a process and its children, sampled every ``period`` seconds."""

    def __init__(self, pid: int, period: float = 0.05) -> None:
        super().__init__(daemon=True)
        import psutil

        self.proc = psutil.Process(pid)
        self.period = period
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def rss(self) -> int:
        import psutil

        total = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):  # a child that just exited
                total += p.memory_info().rss
        return total

    def run(self) -> None:
        while not self.stop.is_set():
            self.samples.append((time.monotonic(), self.rss()))
            self.stop.wait(self.period)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--sizes", default="256,512,1024", help="square image sides, mixed")
    ap.add_argument("--workers", type=int, default=2, help="server --workers")
    ap.add_argument("--queue", type=int, default=16, help="server --queue (>= concurrency: no 503 expected)")
    ap.add_argument("--model", default=None, help="server --model (default: the shipped model)")
    ap.add_argument("--images", default="mask,heatmap,overlay", help="images= of each request (none: record only)")
    ap.add_argument("--deadline", type=float, default=1800, help="stop sending after this many seconds")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print one JSON line instead of the table")
    args = ap.parse_args()

    sizes = [int(s) for s in args.sizes.split(",")]
    payloads = {s: photo_jpeg(s, args.seed + s) for s in sizes}
    order = [sizes[i % len(sizes)] for i in range(args.requests)]
    random.Random(args.seed).shuffle(order)

    proc, url = start_server(args)
    host, port = urlsplit(url).hostname, urlsplit(url).port
    assert host in ("127.0.0.1", "localhost", "::1"), "loopback only"
    sampler = RssSampler(proc.pid)
    idle_rss = sampler.rss()
    sampler.start()

    local = threading.local()
    results: list[tuple[int, int, float, str]] = []  # (index, size, seconds, error or "")
    lock = threading.Lock()
    t_end = time.monotonic() + args.deadline
    path = f"/v1/detect?images={args.images}"

    def one(i: int) -> None:
        size = order[i]
        if time.monotonic() > t_end:
            with lock:
                results.append((i, size, 0.0, "not sent (deadline)"))
            return
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(host, port, timeout=300)
        t0 = time.perf_counter()
        error = ""
        try:
            conn.request("POST", path, body=payloads[size], headers={"Content-Type": "image/jpeg"})
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                error = f"HTTP {resp.status}: {body[:200]!r}"
            else:
                rec = json.loads(body)
                if (rec.get("status"), rec.get("width"), rec.get("height")) != ("ok", size, size):
                    error = f"unexpected record {rec.get('status')} {rec.get('width')}x{rec.get('height')}"
        except (OSError, http.client.HTTPException, ValueError) as e:
            error = f"{type(e).__name__}: {e}"
            conn.close()
            local.conn = None
        dt = time.perf_counter() - t0
        with lock:
            results.append((i, size, dt, error))

    start = time.perf_counter()
    t_start_mono = time.monotonic()
    with ThreadPoolExecutor(args.concurrency) as pool:
        list(pool.map(one, range(args.requests)))
    wall = time.perf_counter() - start
    sampler.stop.set()
    sampler.join()
    proc.terminate()
    proc.wait(timeout=60)

    ok = [r for r in results if not r[3]]
    errors = [r for r in results if r[3]]
    t_mid = t_start_mono + wall / 2
    first = [rss for t, rss in sampler.samples if t <= t_mid]
    second = [rss for t, rss in sampler.samples if t > t_mid]
    peak = max(rss for _, rss in sampler.samples)

    def pct(values: list[float], q: float) -> float:
        return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]

    rows = []
    for s in sizes + ["all"]:
        lat = [r[2] for r in ok if s == "all" or r[1] == s]
        if lat:
            rows.append(
                {
                    "size": s if s == "all" else f"{s}²",
                    "n": len(lat),
                    "p50_s": round(pct(lat, 50), 3),
                    "p95_s": round(pct(lat, 95), 3),
                }
            )
    summary = {
        "requests": args.requests,
        "concurrency": args.concurrency,
        "workers": args.workers,
        "queue": args.queue,
        "images": args.images,
        "ok": len(ok),
        "errors": len(errors),
        "wall_s": round(wall, 1),
        "throughput_rps": round(len(ok) / wall, 2),
        "idle_rss_mib": round(idle_rss / 2**20),
        "peak_rss_mib": round(peak / 2**20),
        "peak_rss_first_half_mib": round(max(first, default=0) / 2**20),
        "peak_rss_second_half_mib": round(max(second, default=0) / 2**20),
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 1),
        "rows": rows,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"{len(ok)}/{args.requests} ok, {len(errors)} errors; {summary['throughput_rps']} req/s over "
            f"{summary['wall_s']} s; {args.concurrency} clients, server --workers {args.workers} "
            f"--queue {args.queue}, "
            f"images={args.images}"
        )
        print(
            f"server RSS: idle {summary['idle_rss_mib']} MiB, peak {summary['peak_rss_mib']} MiB "
            f"(first half {summary['peak_rss_first_half_mib']}, second half {summary['peak_rss_second_half_mib']}); "
            f"load average {summary['load_avg_1m']} on {summary['cpus']} CPUs"
        )
        print(
            "\n"
            + markdown_table(
                ["size", "requests", "p50 latency (s)", "p95 latency (s)"],
                [[r["size"], r["n"], f"{r['p50_s']:.3f}", f"{r['p95_s']:.3f}"] for r in rows],
            )
        )
        for _, size, _, err in errors[:5]:
            print(f"error ({size}²): {err}", file=sys.stderr)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
