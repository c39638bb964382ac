"""What runs on a Dask worker: one shard through the usual async engine
(`probescan.engine.scan`), its records sent back as they are found.

`run_shard` is the task the client submits, once per shard. The catalog comes pickled, once
per worker (`pack_catalog`: Dask's own serialisation of the object graph is several times
slower), and is unpickled once per worker process (`_catalog`). The task runs the engine in
its own event loop in the worker's task thread and sends the records in small batches (at
most `BATCH_RECORDS` records, at most `BATCH_SECONDS` old) to a distributed Queue that the
client reads; a batch is a msgpack map of the shard's number, this attempt's id and the
pickled records (`merge.batch_message`). The task returns how many batches it sent, so the
client knows when it has them all. A distributed Event set by the client (Ctrl-C) stops the
shard: the engine is cancelled, what was found is still sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import pickle
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from probescan.catalog import Catalog
from probescan.cluster.merge import batch_message
from probescan.cluster.plan import Shard
from probescan.config import Config
from probescan.engine.scan import scan
from probescan.model import ServiceRecord

BATCH_RECORDS = 200  # records in one batch at most
BATCH_SECONDS = 0.2  # a record waits this long at most before its batch goes
STOP_POLL = 0.25  # seconds between two looks at the stop event


@dataclass(frozen=True, slots=True)
class ShardTask:
    """What the client sends with each shard (the catalog travels once per worker, apart)."""

    shard: Shard
    config: Config
    queue: str  # name of the distributed Queue the batches go to
    stop: str  # name of the distributed Event that stops every shard
    catalog: str  # the packed catalog's digest (the bytes themselves go apart, once)


@dataclass(frozen=True, slots=True)
class ShardDone:
    """What the task returns: the attempt's id and how many batches and records it sent."""

    index: int
    attempt: str
    batches: int
    records: int
    stopped: bool  # the stop event ended it early


def pack_catalog(catalog: Catalog) -> tuple[str, bytes]:
    """(digest, pickled catalog): what the client scatters to every worker."""
    blob = pickle.dumps(catalog, protocol=pickle.HIGHEST_PROTOCOL)
    return hashlib.sha256(blob).hexdigest(), blob


_cache: dict[str, Catalog] = {}  # digest -> catalog: the latest one only
_cache_lock = threading.Lock()


def _catalog(digest: str, blob: bytes) -> Catalog:
    """The catalog unpickled once per worker process (its threads share it: it is read-only)."""
    with _cache_lock:
        if digest not in _cache:
            _cache.clear()
            _cache[digest] = pickle.loads(blob)
        return _cache[digest]


def run_shard(task: ShardTask, packed: bytes) -> ShardDone:
    """The Dask task: scan the shard, send its records to the queue as they are found."""
    from distributed import Event, Queue, get_client  # only on workers, only with --cluster

    catalog = _catalog(task.catalog, packed)
    client = get_client()
    queue, stop = Queue(task.queue, client=client), Event(task.stop, client=client)
    try:
        return asyncio.run(_run(task, catalog, queue.put, lambda: bool(stop.wait(STOP_POLL))))
    finally:
        queue.close()


class _Sender:
    """Collects records into batches and puts each on the queue, in order, off the loop."""

    def __init__(self, index: int, put: Callable[[Any], Any]) -> None:
        self.index, self.put = index, put
        self.attempt = uuid.uuid4().hex
        self.pending: list[ServiceRecord] = []
        self.oldest = 0.0
        self.batches = self.records = 0
        self.lock = asyncio.Lock()
        self.closing = False  # set at the end: run() returns after its current batch

    def add(self, record: ServiceRecord) -> None:
        if not self.pending:
            self.oldest = time.monotonic()
        self.pending.append(record)

    def due(self) -> bool:
        return bool(self.pending) and (len(self.pending) >= BATCH_RECORDS or
                                       time.monotonic() - self.oldest >= BATCH_SECONDS)

    async def send(self) -> None:
        async with self.lock:
            while self.pending:
                batch, self.pending = self.pending[:BATCH_RECORDS], self.pending[BATCH_RECORDS:]
                message = batch_message(self.index, self.attempt, self.batches, batch)
                await asyncio.to_thread(self.put, message)
                self.batches += 1
                self.records += len(batch)

    async def run(self) -> None:
        while not self.closing:
            await asyncio.sleep(BATCH_SECONDS / 4)
            if self.due():
                await self.send()


async def _run(task: ShardTask, catalog: Catalog, put: Callable[[Any], Any],
               stopped: Callable[[], bool]) -> ShardDone:
    sender = _Sender(task.shard.index, put)
    engine = asyncio.create_task(scan(task.shard.endpoints(), task.config, catalog, sender.add))

    async def watch_stop() -> bool:
        while not await asyncio.to_thread(stopped):
            pass
        engine.cancel()
        return True

    watcher = asyncio.create_task(watch_stop())
    flusher = asyncio.create_task(sender.run())
    try:
        await engine
    except asyncio.CancelledError:
        if not (watcher.done() and not watcher.cancelled()):
            raise
    finally:
        watcher.cancel()
        sender.closing = True  # a batch being put is never cut off: it is counted
        await asyncio.gather(watcher, flusher, return_exceptions=True)
    await sender.send()
    return ShardDone(task.shard.index, sender.attempt, sender.batches, sender.records,
                     stopped=engine.cancelled())
