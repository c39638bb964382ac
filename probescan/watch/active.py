"""Active probing for the watcher: a bounded, rate-limited queue in front of the scan engine.

* Only addresses inside the scope are ever probed.
* An endpoint is probed at most once per `ttl` seconds; later requests share the result.
* The queue is bounded: when full, a request is dropped and counted (`dropped`), never
  blocking the capture.
* The prober's own sockets are registered, so the watcher can ignore the flows its probes
  make (no probe storms when watching the interface it probes through).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from collections.abc import Iterable, Sequence

from probescan.config import Network, WatchConfig
from probescan.engine.limits import RateLimiter
from probescan.engine.prober import Prober
from probescan.model import Endpoint, ServiceRecord


def parse_scope(specs: Iterable[str]) -> list[Network]:
    nets: list[Network] = []
    for spec in specs:
        for item in spec.split(","):
            item = item.strip()
            if not item:
                continue
            try:
                nets.append(ipaddress.ip_network(item, strict=False))
            except ValueError as e:
                raise ValueError(f"bad scope '{item}': not an address or network") from e
    return nets


def in_scope(ip: str, scope: Sequence[Network]) -> bool:
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    return any(addr.version == n.version and addr in n for n in scope)


class ActiveProber:
    def __init__(
        self,
        prober: Prober,
        config: WatchConfig,
        workers: int = 32,
    ) -> None:
        """Probes inside `config.scope`, once per `probe_ttl`, `probe_rate` a second, at
        most `queue_size` waiting; `workers` probes at once."""
        self.prober = prober
        self.scope = config.scope
        self.ttl = config.probe_ttl
        self._rate = RateLimiter(config.probe_rate)
        self._queue: asyncio.Queue[tuple[Endpoint, asyncio.Future[ServiceRecord]]] = (
            asyncio.Queue(config.queue_size)
        )
        self._cache: dict[Endpoint, tuple[float, asyncio.Future[ServiceRecord]]] = {}
        self._workers = [asyncio.create_task(self._work()) for _ in range(workers)]
        self.dropped = 0
        self.probed = 0
        self.out_of_scope = 0

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def request(self, ep: Endpoint) -> asyncio.Future[ServiceRecord] | None:
        """The (shared) future result of probing ep, or None when out of scope or dropped."""
        if not in_scope(ep.ip, self.scope):
            self.out_of_scope += 1
            return None
        now = time.monotonic()
        cached = self._cache.get(ep)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        fut: asyncio.Future[ServiceRecord] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((ep, fut))
        except asyncio.QueueFull:
            self.dropped += 1
            return None
        self._cache[ep] = (now, fut)
        if len(self._cache) > 100_000:  # keep the cache bounded: forget the expired
            self._cache = {k: v for k, v in self._cache.items() if now - v[0] < self.ttl}
        return fut

    async def _work(self) -> None:
        while True:
            ep, fut = await self._queue.get()
            try:
                await self._rate.wait()
                record = await self.prober.probe(ep)
            except asyncio.CancelledError:
                fut.cancel()
                raise
            except Exception as e:  # a hostile endpoint gives a record, never a crash
                record = ServiceRecord(ep, "open", service="unknown", error=f"internal: {e!r}")
            self.probed += 1
            if not fut.done():
                fut.set_result(record)

    async def close(self) -> None:
        for w in self._workers:
            w.cancel()
        for w in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await w
        while not self._queue.empty():
            _, fut = self._queue.get_nowait()
            fut.cancel()
