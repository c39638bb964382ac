"""The client's side of a cluster scan: connect (or start a local cluster), hand out the
shards, take the records back as they come and stop cleanly.

Imported only with `--cluster` (it imports Dask's distributed scheduler). The catalog goes to
every worker once, pickled (`scatter`, broadcast); each shard is one task (`worker.run_shard`); the
records come back through one distributed Queue, in batches, and `merge.Merger` writes each
endpoint once. Dask runs the task of a lost worker again on another worker; a shard that still
fails is reported and the others go on. Cancelling `session` (Ctrl-C) sets the stop event,
gives the running shards `STOP_GRACE` seconds to send what they found, then cancels them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

from distributed import Client, Event, LocalCluster, Queue
from distributed.comm.core import CommClosedError

from probescan.catalog import Catalog
from probescan.cli.common import InputError
from probescan.cluster.merge import Merger
from probescan.cluster.plan import Shard, TargetPlan, split
from probescan.cluster.run import Outcome, Where
from probescan.cluster.worker import ShardDone, ShardTask, pack_catalog, run_shard
from probescan.config import Config

SHARDS_PER_THREAD = 4  # shards per worker thread: a slow shard does not hold the end
CONNECT_TIMEOUT = 10.0  # seconds to reach a scheduler
WORKERS_TIMEOUT = 60.0  # seconds for a first worker to join a scheduler without any
POLL = 0.1  # seconds between two reads of an empty queue
STOP_GRACE = 3.0  # seconds the shards get, after Ctrl-C, to send what they found
DRAIN_TIMEOUT = 30.0  # seconds for the last batches of finished shards to arrive
LOCAL_HOST_ENV = "PROBESCAN_CLUSTER_HOST"  # where a local cluster listens (default 127.0.0.1)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Worker processes started now ignore the terminal's Ctrl-C (the client stops them)."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: nothing to do
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.asynccontextmanager
async def connect(where: Where) -> AsyncIterator[Any]:
    """A connected asynchronous Client; a local cluster lives as long as the block."""
    if where.address is None:
        host = os.environ.get(LOCAL_HOST_ENV) or "127.0.0.1"
        with _sigint_ignored():
            cluster = await LocalCluster(
                n_workers=where.workers, threads_per_worker=1, processes=True, host=host,
                dashboard_address=None, asynchronous=True, silence_logs=logging.CRITICAL)
        try:
            async with Client(cluster, asynchronous=True) as client:
                yield client
        finally:
            await cluster.close()
        return
    try:
        client = await Client(where.address, asynchronous=True, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as e:
        raise InputError(f"cannot reach the Dask scheduler at {where}: {e}") from e
    try:
        yield client
    finally:
        await client.close()


async def _threads(client: Any, where: Where) -> tuple[int, int]:
    """(workers, threads) of the cluster, once it has at least one worker."""
    try:
        await client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
    except TimeoutError as e:
        raise InputError(f"no Dask worker joined {where} within {WORKERS_TIMEOUT:.0f} s "
                         "(start some with 'dask worker ADDRESS')") from e
    nthreads: dict[str, int] = await client.nthreads()
    return len(nthreads), max(1, sum(nthreads.values()))


class _Run:
    """One scan's shards on a connected client."""

    def __init__(self, client: Any, merger: Merger, outcome: Outcome) -> None:
        self.client, self.merger, self.outcome = client, merger, outcome
        self.name = f"probescan-{uuid.uuid4().hex[:12]}"
        self.queue: Any = None
        self.stop: Any = None
        self.shards: dict[str, Shard] = {}  # task key -> shard
        self.pending: list[Any] = []  # futures not yet settled

    async def start(self, shards: list[Shard], config: Config, catalog: Catalog) -> None:
        self.queue = await Queue(f"{self.name}-records", client=self.client)
        self.stop = Event(f"{self.name}-stop", client=self.client)
        digest, packed = pack_catalog(catalog)
        catalog_future = await self.client.scatter(packed, broadcast=True, hash=False)
        for s in shards:
            key = f"{self.name}-shard-{s.index}"
            task = ShardTask(s, config, self.queue.name, self.stop.name, digest)
            self.shards[key] = s
            self.pending.append(self.client.submit(run_shard, task, catalog_future, key=key,
                                                   pure=False))

    async def _drain(self, wait: float) -> None:
        """Hand the queued batches to the merger; none there: sleep `wait` seconds. (A read
        never waits on the scheduler: a timed-out wait is logged there as an error.)"""
        messages = await self.queue.get(batch=True)
        for message in messages:
            self.merger.batch(message)
        if not messages and wait:
            await asyncio.sleep(wait)

    async def _settle(self) -> None:
        if self.client.status != "running":  # it lost the scheduler: every future is cancelled
            raise CommClosedError(f"the client is {self.client.status}")
        for future in [f for f in self.pending if f.done()]:
            self.pending.remove(future)
            shard = self.shards[future.key]
            if future.status == "finished":
                done: ShardDone = await future
                self.merger.finished(done.index, done.attempt, done.batches)
            elif future.status == "cancelled":
                self.outcome.failures.append((str(shard), "cancelled by the cluster"))
            else:
                error = await future.exception()
                reason = " ".join(f"{type(error).__name__}: {error}".split()).rstrip(":")
                if "deserializ" in reason:  # a worker cannot import the task's code
                    reason += " (is the same probescan installed on every worker?)"
                self.outcome.failures.append((str(shard), reason[:500]))

    async def collect(self) -> None:
        """Until every shard settled and every batch of the finished ones arrived."""
        deadline: float | None = None
        loop = asyncio.get_running_loop()
        while self.pending or self.merger.waiting():
            await self._drain(POLL)
            await self._settle()
            if not self.pending:
                deadline = deadline or loop.time() + DRAIN_TIMEOUT
                if loop.time() > deadline:
                    for index in self.merger.waiting():
                        self.outcome.failures.append((
                            f"{index}/{len(self.shards)}",
                            f"not all its records arrived within {DRAIN_TIMEOUT:.0f} s"))
                    return

    async def halt(self) -> None:
        """Ctrl-C: stop every shard, keep what they send within STOP_GRACE, cancel the rest."""
        await self.stop.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_GRACE
        while self.pending and loop.time() < deadline:
            await self._drain(POLL)
            await self._settle()
        if self.pending:
            await self.client.cancel(self.pending)
        await self._drain(0)

    async def close(self) -> None:
        if self.queue is not None:
            with contextlib.suppress(Exception):
                self.queue.close()


def _quiet_dask() -> None:
    """Dask logs lost connections and closing comms with tracebacks; probescan says what
    matters in its own lines."""
    for name in ["distributed", *logging.root.manager.loggerDict]:
        if name.startswith("distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


async def session(where: Where, plan: TargetPlan, total: int | None, config: Config,
                  catalog: Catalog, merger: Merger, outcome: Outcome) -> None:
    """Scan `plan` on the cluster; records go to `merger`. Cancelled: stops as said above."""
    _quiet_dask()
    async with connect(where) as client:
        outcome.workers, outcome.threads = await _threads(client, where)
        shards = split(plan, SHARDS_PER_THREAD * outcome.threads, total)
        outcome.shards = len(shards)
        if config.rate:  # --rate is for the whole cluster: shared by the shards running at once
            config = replace(config, rate=config.rate / min(outcome.threads, len(shards)))
        run = _Run(client, merger, outcome)
        try:
            await run.start(shards, config, catalog)
            await run.collect()
        except CommClosedError as e:  # the scheduler went away
            raise InputError(f"lost the Dask scheduler at {where}: {e}; the records received "
                             "so far are written") from e
        except asyncio.CancelledError:
            if run.stop is not None:
                await run.halt()
            raise
        finally:
            merger.close()
            await run.close()
