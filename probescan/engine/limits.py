"""Concurrency and rate limits: one global cap, one per-host cap, new connections per second,
all kept under the process's file-descriptor limit."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time
from collections import defaultdict
from collections.abc import AsyncIterator

FD_RESERVE = 64  # descriptors kept free for files, logs and the event loop


def usable_descriptors() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit where allowed; return what we may use."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft != resource.RLIM_INFINITY and soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    return max(8, soft - FD_RESERVE)


class RateLimiter:
    """Spaces out events to at most `rate` per second (0 = unlimited)."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self._interval:
            return
        async with self._lock:
            now = time.monotonic()
            if self._next > now:
                await asyncio.sleep(self._next - now)
                now = self._next
            self._next = now + self._interval


class Limits:
    """Acquire a slot before opening a connection; release it when the socket is closed."""

    def __init__(self, concurrency: int, per_host: int, rate: float) -> None:
        self.concurrency = max(1, min(concurrency, usable_descriptors()))
        self._global = asyncio.Semaphore(self.concurrency)
        self._per_host_n = max(1, min(per_host, self.concurrency))
        self._hosts: dict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(self._per_host_n)
        )
        self._rate = RateLimiter(rate)

    @contextlib.asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        async with self._hosts[host], self._global:
            await self._rate.wait()
            yield
