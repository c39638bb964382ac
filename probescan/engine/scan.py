"""Run a scan over a stream of endpoints: a sweep finds the open TCP ports, a worker pool
identifies them (and probes UDP endpoints) while the sweep goes on; records stream out.

    endpoints ──> feeder ──TCP──> sweep (connect or SYN) ──closed, filtered──> records
                     │                 └──open──┐
                     └──UDP──────────────────> work queue ──> workers (Prober) ──> records

The feeder pulls endpoints lazily in chunks (a /8 never sits in memory): TCP ones go to the
sweep (engine/sweep.py; `config.sweep` picks engine/connect_sweep.py or engine/syn/), which
holds the feeder back while its backlog is long; UDP ones go to the work queue, which holds
it back the same way. The sweep's verdicts are records at once - closed, filtered, and open
when only discovery is asked; otherwise an open port joins the work queue and a worker runs
the prober on it (a connection of its own, the probe schedule, TLS) while the sweep goes on.
A verdict in a state no output lists (`counted`: the closed ports of a sweep, usually) is only
counted (`on_count`), no record made: most of a sweep's ports, at a fraction of the cost.
The prober (and what it imports) is made when the first worker starts: a sweep needs none.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Collection, Iterable
from typing import TYPE_CHECKING

from probescan.config import Config
from probescan.engine.limits import Limits, RateLimiter
from probescan.engine.sweep import Sweep, SweepState, Verdict
from probescan.model import Endpoint, ServiceRecord

if TYPE_CHECKING:
    from probescan.catalog import Catalog
    from probescan.engine.prober import Prober

Sink = Callable[[ServiceRecord], None]

FEED_CHUNK = 1024  # endpoints pulled from the source at a time
WORK_HIGH = 4096  # UDP endpoints queued before the feeder waits


def make_sweep(config: Config, on_verdict: Verdict, pacer: RateLimiter | None = None) -> Sweep:
    """The sweep `config.sweep` names (the SYN sweep needs raw sockets: OSError otherwise)."""
    if config.sweep == "syn":
        from probescan.engine.syn.sweep import SynSweep

        return SynSweep(config, on_verdict, pacer)
    from probescan.engine.connect_sweep import ConnectSweep

    return ConnectSweep(config, on_verdict, pacer)


async def scan(
    endpoints: Iterable[Endpoint],
    config: Config,
    catalog: Catalog | Callable[[], Catalog],
    on_record: Sink,
    counted: Collection[str] = (),
    on_count: Callable[[str], None] | None = None,
) -> int:
    """Probe every endpoint; call on_record for each result as soon as it is known - or,
    for a sweep's verdict in a state of `counted`, on_count(state) instead (no record).
    `catalog` may be a function that makes it, called when the first worker starts.

    Returns the number of endpoints taken from the stream. Cancelling the task stops
    cleanly: every record already passed to on_record stays delivered.
    """
    limits = Limits(config.concurrency, config.per_host, config.rate)
    prober: Prober | None = None
    work: asyncio.Queue[Endpoint | None] = asyncio.Queue()
    identify = config.version_scan
    # an open port to identify is never only counted
    skip = frozenset(counted) - {"open" if identify else ""} if on_count else frozenset()
    tally: Callable[[str], None] = on_count or (lambda _: None)

    def verdict(ep: Endpoint, state: SweepState, rtt: float, detail: str | None) -> None:
        if state in skip:
            tally(state)
        elif state == "open" and identify:
            work.put_nowait(ep)
            hire()
        else:
            on_record(ServiceRecord(ep, state, timings={"connect": rtt}, error=detail))

    sweep = make_sweep(config, verdict, limits.rate)
    count = 0

    async def feed() -> None:
        nonlocal count
        source = iter(endpoints)
        while chunk := list(itertools.islice(source, FEED_CHUNK)):
            count += len(chunk)
            tcp = [ep for ep in chunk if ep.transport == "tcp"]
            if len(tcp) < len(chunk):
                for ep in chunk:
                    if ep.transport != "tcp":
                        work.put_nowait(ep)
                        hire()
                while work.qsize() > WORK_HIGH:
                    await asyncio.sleep(0.01)
            sweep.add(tcp)
            await sweep.room()
        sweep.close_input()

    # Workers start as work comes (a sweep of closed ports needs none). Each endpoint may hold
    # several connections (the cap bounds those) or none (UDP probes wait on shared sockets),
    # so enough workers fill the cap and let silent UDP ports wait side by side.
    most = max(limits.concurrency, 4096)
    workers: list[asyncio.Task[None]] = []
    idle = 0

    async def worker(prober: Prober) -> None:
        nonlocal idle
        while True:
            idle += 1
            try:
                ep = await work.get()
            finally:
                idle -= 1
            if ep is None:
                return
            try:
                record = await prober.probe(ep)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a hostile server must give a record, never a crash
                record = ServiceRecord(ep, "open", service="unknown", error=f"internal: {e!r}")
            on_record(record)

    def hire() -> None:
        """Another worker when work waits and none is free."""
        nonlocal prober
        if work.qsize() > idle and len(workers) < most:
            if prober is None:
                from probescan.engine.prober import Prober

                prober = Prober(config, catalog() if callable(catalog) else catalog, limits)
            workers.append(asyncio.create_task(worker(prober)))

    feeder = asyncio.create_task(feed())
    sweeper = asyncio.create_task(sweep.run())
    try:
        await asyncio.gather(feeder, sweeper)
        for _ in workers:
            work.put_nowait(None)
        await asyncio.gather(*workers)
    finally:
        tasks = [feeder, sweeper, *workers]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if prober is not None:
            prober.close()
    return count
