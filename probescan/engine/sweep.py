"""Port sweeps: which TCP ports answer, at the speed the limits allow.

Two sweeps share this frame: `ConnectSweep` (engine/connect_sweep.py: non-blocking
connect()s driven by epoll, for any user) and `SynSweep` (engine/syn/sweep.py: crafted SYNs
on raw sockets, as root). The scan (engine/scan.py) adds endpoints in batches and gets a
verdict for each - open, closed or filtered, with the round-trip time - the moment it is
known, so open ports go on to version detection while the sweep goes on.

The frame holds:

* the backlog of endpoints to try; `room()` holds the feeder back while it is long, so a
  huge target list never sits in memory;
* the limits: `--rate` (attempts per second, retries included, one budget shared with
  version detection: engine/limits.py `RateLimiter`), `--concurrency`
  probes in flight in all and `--per-host` to one host (a host at its cap waits aside
  while other hosts go on);
* the timing: an attempt unanswered after the host's retransmission timeout is tried again
  `--retries` times, then the port is filtered. The timeout starts at `--connect-timeout`
  and follows the host's measured round trips (RFC 6298: srtt + 4 rttvar, from first
  attempts only), never below `MIN_RTO` nor above `--connect-timeout`. Deadlines are kept
  in the order attempts started (a queue, not a heap: cheaper per probe), so an attempt
  may wait past its own deadline for an earlier, longer one - never less than its own;
* the loop: launch a batch, collect the replies, expire what timed out, let the event loop
  run (version detection, the feeder), and when there is nothing to do wait for the sweep's
  socket, the next deadline, the next rate token or more endpoints.
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections import defaultdict, deque
from collections.abc import Callable, Hashable, Iterable
from typing import Literal

from probescan.config import Config
from probescan.engine.limits import RateLimiter
from probescan.model import Endpoint

SweepState = Literal["open", "closed", "filtered"]
Verdict = Callable[[Endpoint, SweepState, float, "str | None"], None]

BATCH = 256  # attempts launched before the loop collects replies and yields
BACKLOG_HIGH = 8192  # endpoints waiting before room() holds the feeder back
MIN_RTO = 0.2  # seconds: the retransmission timeout never goes below this
BACKOFF = 0.01  # seconds to wait when the system is out of sockets or buffers
SAMPLE_EVERY = 8  # one round trip in this many feeds a host's estimate (the first always)


class Backoff(Exception):
    """An attempt cannot start now (out of descriptors, ports or buffers): try later."""


class _Rtt:
    __slots__ = ("rto", "rttvar", "srtt")

    def __init__(self, sample: float, floor: float, cap: float) -> None:
        self.srtt, self.rttvar = sample, sample / 2
        self.rto = min(cap, max(floor, self.srtt + 4 * self.rttvar))

    def add(self, sample: float, floor: float, cap: float) -> None:
        self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - sample)
        self.srtt = 0.875 * self.srtt + 0.125 * sample
        self.rto = min(cap, max(floor, self.srtt + 4 * self.rttvar))


Pending = tuple[Endpoint, float, int]  # the endpoint, when the attempt started, its number


class Sweep(abc.ABC):
    """The frame; subclasses say how one attempt starts (`_send`), how replies are read
    (`_collect`, calling `_complete`), what to drop when an attempt times out (`_abandon`),
    which descriptor to wait on (`_fileno`) and how to clean up (`_close`); `_begin` and
    `_end` frame each batch of launches."""

    def __init__(self, config: Config, on_verdict: Verdict,
                 pacer: RateLimiter | None = None) -> None:
        self.window = max(1, config.concurrency)
        self.per_host = max(1, config.per_host)
        self.timeout = config.connect_timeout
        self.tries = 1 + max(0, config.retries)
        self.on_verdict = on_verdict
        self.pacer = pacer if pacer is not None else RateLimiter(config.rate)
        self.in_flight = 0
        self._backlog: deque[Endpoint] = deque()
        self._retry: deque[tuple[Endpoint, int]] = deque()
        self._aside: dict[str, deque[Endpoint]] = {}  # hosts at their cap
        self._n_aside = 0
        self._ready: deque[str] = deque()  # hosts aside that have room again
        self._busy: defaultdict[str, int] = defaultdict(int)
        self._rtt: dict[str, _Rtt] = {}
        self._samples = 0
        self._pending: dict[Hashable, Pending] = {}  # attempts waiting for an answer
        self._timers: deque[tuple[float, Hashable, int]] = deque()  # (deadline, key, attempt)
        self._closed = False
        self._waiter: asyncio.Future[None] | None = None
        self._room = asyncio.Event()
        self._room.set()

    # ---- the feeder's side
    def add(self, endpoints: Iterable[Endpoint]) -> None:
        self._backlog.extend(endpoints)
        self._poke()

    async def room(self) -> None:
        while len(self._backlog) + self._n_aside >= BACKLOG_HIGH:
            self._room.clear()
            await self._room.wait()

    def close_input(self) -> None:
        self._closed = True
        self._poke()

    def _poke(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # ---- subclass hooks
    def _begin(self) -> bool:
        """A batch of launches may start now (False: out of resources, try a bit later)."""
        return True

    @abc.abstractmethod
    def _send(self, ep: Endpoint, attempt: int) -> Hashable | None:
        """Start one attempt: its key while it waits for an answer, None when the verdict
        was given at once; Backoff when it cannot start now."""

    def _end(self) -> None:
        """The batch of launches is over (a sweep that sends in batches sends it now)."""
        return None  # an optional hook: nothing by default

    @abc.abstractmethod
    def _collect(self) -> int:
        """Read what arrived, `_complete` each answer; return how many were read."""

    def _abandon(self, key: Hashable) -> None:
        """An attempt timed out: release what it holds."""
        return None  # an optional hook: nothing by default

    @abc.abstractmethod
    def _fileno(self) -> int:
        """The descriptor the loop waits on for replies."""

    def _close(self) -> None:
        """Release every socket."""
        return None  # an optional hook: nothing by default

    # ---- verdicts
    def _complete(self, key: Hashable, state: SweepState, detail: str | None = None,
                  now: float = 0.0) -> bool:
        """The attempt `key` was answered (at `now`, 0: read the clock); False when it is
        not, or no longer, pending."""
        entry = self._pending.pop(key, None)
        if entry is None:
            return False
        ep, sent, attempt = entry
        host = ep.ip
        self._release(host)
        rtt = (now or time.monotonic()) - sent
        if attempt == 1:  # Karn: only first attempts say what a round trip takes
            self._samples += 1
            est = self._rtt.get(host)
            if est is None:
                self._rtt[host] = _Rtt(rtt, MIN_RTO, self.timeout)
            elif not self._samples % SAMPLE_EVERY:
                est.add(rtt, MIN_RTO, self.timeout)
        self.on_verdict(ep, state, rtt, detail)
        return True

    def rto(self, host: str) -> float:
        """The host's retransmission timeout now."""
        est = self._rtt.get(host)
        return self.timeout if est is None else est.rto

    def _release(self, host: str) -> None:
        self.in_flight -= 1
        busy = self._busy
        left = busy[host] - 1
        if left:
            busy[host] = left
        else:
            del busy[host]
        if self._aside and host in self._aside:
            self._ready.append(host)

    # ---- the loop
    def _next(self) -> tuple[Endpoint, int] | None:
        """The next attempt allowed now by the windows: retries first, then hosts put
        aside that have room again, then the backlog."""
        if self._retry and self._busy.get(self._retry[0][0].ip, 0) < self.per_host:
            return self._retry.popleft()
        while self._ready:
            host = self._ready.popleft()
            aside = self._aside.get(host)
            if aside and self._busy.get(host, 0) < self.per_host:
                ep = aside.popleft()
                self._n_aside -= 1
                if not aside:
                    del self._aside[host]
                return ep, 1
        while self._backlog and self._n_aside < BACKLOG_HIGH:
            ep = self._backlog.popleft()
            if self._busy.get(ep.ip, 0) < self.per_host and ep.ip not in self._aside:
                return ep, 1
            self._aside.setdefault(ep.ip, deque()).append(ep)
            self._n_aside += 1
        return None

    def _launch(self, now: float) -> tuple[int, str]:
        """Start what the limits allow now: (how many started, what stopped it: "" for the
        batch size, the windows or an empty backlog, "paced" for the rate, "short" when
        out of resources)."""
        if not self._begin():
            return 0, "short"
        tokens = self.pacer.available(now)
        budget = min(BATCH, tokens)
        started = 0
        stop = ""
        busy, pending, timers = self._busy, self._pending, self._timers
        backlog, per_host, send = self._backlog, self.per_host, self._send
        room = self.window - self.in_flight
        rto_host, rto = "", 0.0
        try:
            while started < budget and room > 0:
                if self._retry or self._ready or self._aside or not backlog:
                    nxt = self._next()
                    if nxt is None:
                        break
                    ep, attempt = nxt
                else:  # the usual case, inline: the next endpoint of the backlog
                    ep, attempt = backlog.popleft(), 1
                    if busy.get(ep.ip, 0) >= per_host:
                        self._aside[ep.ip] = deque((ep,))
                        self._n_aside += 1
                        continue
                try:
                    key = send(ep, attempt)
                except Backoff:
                    self._retry.appendleft((ep, attempt))
                    stop = "short"
                    break
                started += 1
                if key is not None:
                    host = ep.ip
                    room -= 1
                    busy[host] += 1
                    pending[key] = (ep, now, attempt)
                    if host != rto_host:
                        rto_host, rto = host, self.rto(host)
                    timers.append((now + rto, key, attempt))
        finally:
            self.in_flight = self.window - room
            self._end()
        self.pacer.spend(started)
        if len(backlog) + self._n_aside < BACKLOG_HIGH // 2:
            self._room.set()
        if not stop and started == tokens < BATCH:
            stop = "paced"
        return started, stop

    def _expire(self, now: float) -> None:
        timers, pending = self._timers, self._pending
        while timers and timers[0][0] <= now:
            _, key, attempt = timers.popleft()
            entry = pending.get(key)
            if entry is None or entry[2] != attempt:
                continue  # answered, or already tried again
            del pending[key]
            ep, sent, _ = entry
            self._abandon(key)
            self._release(ep.ip)
            if attempt < self.tries:
                self._retry.append((ep, attempt + 1))
            else:
                self.on_verdict(ep, "filtered", now - sent, None)

    def _idle(self) -> bool:
        return not (self._backlog or self._retry or self._aside or self._pending)

    async def run(self) -> None:
        """Sweep until the input is closed and every endpoint has its verdict."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                started, stop = self._launch(time.monotonic())
                got = self._collect()
                self._expire(time.monotonic())
                if self._closed and self._idle():
                    return
                if (started or got) and not stop:
                    await asyncio.sleep(0)
                    continue
                await self._wait(loop, self._wait_time(stop))
        finally:
            self._close()

    def _wait_time(self, stop: str) -> float:
        """Until the next deadline, or the next token when the rate held launches back, or a
        moment when out of resources (replies, new endpoints and the end of input wake the
        loop at once)."""
        wait = self._timers[0][0] - time.monotonic() if self._timers else 1.0
        if stop == "short":
            wait = min(wait, BACKOFF)
        elif stop == "paced":
            wait = min(wait, self.pacer.delay())
        return max(0.0, wait)

    async def _wait(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        fut: asyncio.Future[None] = loop.create_future()
        self._waiter = fut
        fd = self._fileno()
        loop.add_reader(fd, self._poke)
        try:
            async with asyncio.timeout(timeout):
                await fut
        except TimeoutError:
            pass
        finally:
            loop.remove_reader(fd)
            self._waiter = None
