"""Run the prober over a stream of endpoints with a bounded worker pool; records stream out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from probescan.catalog import Catalog
from probescan.config import Config
from probescan.engine.limits import Limits
from probescan.engine.prober import Prober
from probescan.model import Endpoint, ServiceRecord

Sink = Callable[[ServiceRecord], None]


async def scan(
    endpoints: Iterable[Endpoint],
    config: Config,
    catalog: Catalog,
    on_record: Sink,
) -> int:
    """Probe every endpoint; call on_record for each result as soon as it is known.

    Endpoints are pulled lazily, so a huge target list never sits in memory as tasks.
    Returns the number of endpoints probed. Cancelling the task stops cleanly: every record
    already passed to on_record stays delivered.
    """
    limits = Limits(config.concurrency, config.per_host, config.rate)
    prober = Prober(config, catalog, limits)
    source = iter(endpoints)
    count = 0

    async def worker() -> None:
        nonlocal count
        for ep in source:
            count += 1
            try:
                record = await prober.probe(ep)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a hostile server must give a record, never a crash
                record = ServiceRecord(ep, "open", service="unknown", error=f"internal: {e!r}")
            on_record(record)

    # Each endpoint may hold several connections; keep enough workers to fill the cap.
    workers = max(1, min(limits.concurrency, 4096))
    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    try:
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return count
