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
    """At most `rate` events per second (0 = unlimited), for the whole scan: a token bucket
    holding at most 10 ms worth of tokens (at least one). Connections wait for a token
    (`wait`); a sweep (engine/sweep.py) takes as many as are `available` at once and
    `spend`s what it used, so sweep and version detection share one budget."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._cap = max(1.0, rate / 100)
        self._tokens = 1.0
        self._last = time.monotonic()
        self._lock = asyncio.Lock()

    def available(self, now: float | None = None) -> int:
        if not self.rate:
            return 1 << 30
        now = time.monotonic() if now is None else now
        self._tokens = min(self._cap, self._tokens + (now - self._last) * self.rate)
        self._last = now
        return int(self._tokens)

    def spend(self, n: int = 1) -> None:
        if self.rate:
            self._tokens -= n

    def delay(self) -> float:
        """Seconds until the next token."""
        return 0.0 if not self.rate else max(0.0, (1.0 - self._tokens) / self.rate)

    async def wait(self) -> None:
        if not self.rate:
            return
        async with self._lock:
            while self.available() < 1:
                await asyncio.sleep(self.delay())
            self.spend(1)


class Limits:
    """Acquire a slot before opening a connection; release it when the socket is closed."""

    def __init__(self, concurrency: int, per_host: int, rate: float) -> None:
        self.concurrency = max(1, min(concurrency, usable_descriptors()))
        self._global = asyncio.Semaphore(self.concurrency)
        self._per_host_n = max(1, min(per_host, self.concurrency))
        self._hosts: dict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(self._per_host_n)
        )
        self.rate = RateLimiter(rate)

    @contextlib.asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        async with self._hosts[host], self._global:
            await self.rate.wait()
            yield

    @contextlib.asynccontextmanager
    async def send(self, host: str) -> AsyncIterator[None]:
        """A turn to send to `host`, within its cap and the rate (UDP: a datagram holds no
        socket, so only the send itself takes a turn)."""
        async with self._hosts[host]:
            await self.rate.wait()
            yield
