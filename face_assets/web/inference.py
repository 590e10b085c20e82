"""Face-model calls as a bounded, shared resource of the web app (issue 18).

Every route that runs the model (the face service's /detect and /extract-embedding, /api/face-recognition/recognize)
submits its work here: at most `workers` calls run at once, on threads of their own (never the event loop, never the
thread pool that serves pages and review calls), at most `queue` more wait, and a request beyond that is refused at
once (InferenceBusy: 503 with Retry-After) instead of joining a wait that grows with the load.

A slot is held from admission until the work has finished (or was cancelled before it started), not until the
request ends: a client that hangs up cannot free a slot whose model call is still running.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from fastapi import Request

from face_assets import settings

T = TypeVar("T")

EWMA_WEIGHT = 0.2  # of the latest call in the running mean of call durations (for Retry-After)


class InferenceBusy(Exception):
    """Every worker is busy and the queue is full: the request is refused now (503), to be retried later."""

    def __init__(self, retry_after: int, limiter: InferenceLimiter):
        super().__init__(
            f"the face model is busy ({limiter.workers} at work, {limiter.queue} waiting, the most this server "
            f"queues); retry in {retry_after} s"
        )
        self.retry_after = retry_after


class InferenceLimiter:
    def __init__(self, workers: int, queue: int):
        if workers < 1 or queue < 0:
            raise ValueError(f"inference needs at least one worker and a queue of 0 or more, got {workers}, {queue}")
        self.workers = workers
        self.queue = queue
        self._lock = threading.Lock()
        self._admitted = 0  # running + waiting
        self._running = 0
        self._mean_s = 0.0
        self._refused = 0
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="face_inference")

    @classmethod
    def from_settings(cls) -> InferenceLimiter:
        workers = settings.inference_workers()
        return cls(workers, settings.inference_queue(workers))

    @property
    def capacity(self) -> int:
        return self.workers + self.queue

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "workers": self.workers,
                "queue": self.queue,
                "running": self._running,
                "waiting": self._admitted - self._running,
                "refused": self._refused,
            }

    def retry_after(self) -> int:
        """Seconds after which a slot is likely free: a full queue drained by the workers at the mean call time."""
        with self._lock:
            mean = self._mean_s
        return max(1, math.ceil(mean * self.capacity / self.workers))

    def _admit(self, take: bool) -> None:
        with self._lock:
            if self._admitted < self.capacity:
                if take:
                    self._admitted += 1
                return
            self._refused += 1
        raise InferenceBusy(self.retry_after(), self)

    def check(self) -> None:
        """InferenceBusy now when no slot is free (before a request's body is even read)."""
        self._admit(take=False)

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run `fn(*args)` on an inference thread; InferenceBusy at once when every slot is taken."""
        self._admit(take=True)
        try:
            future = self._executor.submit(self._timed, fn, *args)
        except BaseException:
            self._release(None)
            raise
        future.add_done_callback(self._release)
        return future

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`submit`, awaited without holding the event loop or a thread of the app's pool."""
        return await asyncio.wrap_future(self.submit(fn, *args))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _timed(self, fn: Callable[..., T], *args: Any) -> T:
        with self._lock:
            self._running += 1
        started = time.perf_counter()
        try:
            return fn(*args)
        finally:
            took = time.perf_counter() - started
            with self._lock:
                self._running -= 1
                self._mean_s = took if self._mean_s == 0 else (1 - EWMA_WEIGHT) * self._mean_s + EWMA_WEIGHT * took

    def _release(self, _future: Future | None) -> None:
        with self._lock:
            self._admitted -= 1


def limiter(request: Request) -> InferenceLimiter:
    return request.app.state.inference
