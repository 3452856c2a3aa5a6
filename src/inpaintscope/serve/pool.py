"""Bounded concurrency: ``workers`` threads run detections, at most ``queue`` more requests wait.

A request takes a :class:`Ticket` when it arrives (before its body is read) and gives it back
when its detection has finished, so at most ``workers + queue`` uploads exist at any time (each
on disk in its request's temp folder, at most ``max_bytes``) and only the ``workers`` running
detections hold a decoded image in memory. When every ticket is out, :meth:`WorkerPool.admit` raises
:class:`PoolFull` at once and the request is answered 503 with a ``Retry-After`` estimated from
recent service times. Threads, not processes: the model is loaded once and shared (inference
is read-only), and torch releases the GIL inside its kernels.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

#: Retry-After bounds (seconds)
MIN_RETRY_AFTER = 1
MAX_RETRY_AFTER = 60


class PoolFull(Exception):
    """Every worker is busy and the queue is full."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"busy; retry after {retry_after} s")
        self.retry_after = retry_after


class Ticket:
    """A request's place in the pool; released exactly once."""

    def __init__(self, pool: WorkerPool) -> None:
        self._pool = pool
        self._released = False
        self.handed_over = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._pool._release()


class WorkerPool:
    def __init__(self, workers: int, queue: int) -> None:
        if workers < 1 or queue < 0:
            raise ValueError(f"need workers >= 1 and queue >= 0, got {workers} and {queue}")
        self.workers = workers
        self.queue = queue
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="inpaintscope-worker")
        self._lock = threading.Lock()
        self._admitted = 0
        self._running = 0
        self._served = 0
        self._recent: deque[float] = deque(maxlen=32)

    def admit(self) -> Ticket:
        """A ticket, or :class:`PoolFull` when ``workers + queue`` requests are already in."""
        with self._lock:
            if self._admitted >= self.workers + self.queue:
                raise PoolFull(self._retry_after_locked())
            self._admitted += 1
        return Ticket(self)

    def _release(self) -> None:
        with self._lock:
            self._admitted -= 1

    async def run(self, ticket: Ticket, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on a worker thread; ``ticket`` is released when it finishes, even if
        the awaiting request has gone away meanwhile (its worker was still busy until then)."""
        ticket.handed_over = True
        try:
            future = self._executor.submit(self._timed, fn, *args)
        except BaseException:
            ticket.release()
            raise
        future.add_done_callback(lambda _f: ticket.release())
        return await asyncio.wrap_future(future)

    def _timed(self, fn: Callable[..., T], *args: Any) -> T:
        with self._lock:
            self._running += 1
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            with self._lock:
                self._running -= 1
                self._served += 1
                self._recent.append(time.perf_counter() - start)

    def _retry_after_locked(self) -> int:
        mean = sum(self._recent) / len(self._recent) if self._recent else 1.0
        # the queue ahead drains ``workers`` at a time
        seconds = math.ceil(mean * (self._admitted - self._running + 1) / self.workers)
        return int(min(MAX_RETRY_AFTER, max(MIN_RETRY_AFTER, seconds)))

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "workers": self.workers,
                "queue": self.queue,
                "running": self._running,
                "waiting": max(0, self._admitted - self._running),
                "served": self._served,
            }

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
