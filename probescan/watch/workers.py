"""Passive identification in a second process, so capture and labeling use two cores.

The watcher's per-packet work (frames, flows) and its per-flow work (parsers and fingerprints
over the first bytes: `passive.identify`) each take about half of its time on short flows.
`IdentifyPool` runs `identify` in worker processes (one by default; watch/pipes.py): the
watcher hands it batches of jobs (client bytes, server bytes, transport, the server port's
service) and takes back the results in the order it sent them, so records come out exactly
as they would without the worker. The first START_AFTER flows are identified in the watcher
itself (a small capture never starts a worker). When every worker already holds MAX_BATCHES
batches (one is starting, or is behind), the watcher identifies the next batch itself
instead of waiting. The worker builds the same catalogue as the watcher (the same
`--nmap-db`), ignores SIGINT (Ctrl-C reaches the whole process group; the watcher decides
when to stop), and if it dies its batches are identified in the watcher: nothing is lost.
"""

from __future__ import annotations

import signal
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Generic, TypeVar

from probescan.catalog import FingerprintSet, ProbeSet, build_catalog
from probescan.catalog.user import RuleFiles
from probescan.classify.layers import PAYLOAD_LAYERS
from probescan.gctune import collector_at_ease
from probescan.model import Transport
from probescan.watch.flows import Shape
from probescan.watch.passive import PassiveResult, flow_messages, identify
from probescan.watch.pipes import FAILED, Worker, serve

# client's first bytes, server's first bytes, transport, the server port's usual service,
# the flow's shape (message boundaries, first speaker, ports: watch.flows.Flow.shape)
Job = tuple[bytes, bytes, Transport, str | None, Shape]
T = TypeVar("T")

BATCH_FLOWS = 64  # flows with bytes per batch: the hand-over costs a few microseconds a flow
MAX_BATCH_ENTRIES = 4096  # flows in a batch at most, counting those without bytes
# Flows identified in the watcher before the worker is started: a short capture is done
# before a worker would be up (starting one and loading its catalogue takes ~0.4 s).
START_AFTER = 2000
MAX_BATCHES = 8  # batches a worker holds before the watcher identifies the next one itself
MAX_QUEUED = 64  # batches waiting to be handed out (in order) before the watcher waits

_catalog: tuple[ProbeSet, FingerprintSet] | None = None
_layers: frozenset[str] = PAYLOAD_LAYERS


def _start_worker(nmap_db: Path | None, files: RuleFiles | None = None,
                  layers: frozenset[str] = PAYLOAD_LAYERS) -> None:
    global _catalog, _layers
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    catalog = build_catalog(nmap_db, files)
    _catalog = (catalog.probes, catalog.fingerprints)
    _layers = layers


def _identify_batch(jobs: list[Job]) -> list[PassiveResult]:
    assert _catalog is not None, "worker started without its catalogue"
    probes, rules = _catalog
    return [identify_job(job, probes, rules, _layers) for job in jobs]


def _worker_main(requests: Connection, replies: Connection, nmap_db: Path | None,
                 files: RuleFiles | None, layers: frozenset[str] = PAYLOAD_LAYERS) -> None:
    """A worker process: the catalogue, then batches of jobs until the watcher is done."""
    _start_worker(nmap_db, files, layers)
    with collector_at_ease():
        serve(requests, replies, _identify_batch)


def identify_job(job: Job, probes: ProbeSet, rules: FingerprintSet,
                 layers: frozenset[str] = PAYLOAD_LAYERS) -> PassiveResult:
    """`layers`: the payload layers used (classify/layers.py)."""
    c2s, s2c, transport, port_service, shape = job
    return identify(c2s, s2c, transport, probes, rules, port_service,
                    flow_messages(c2s, s2c, transport, shape), layers)


def worth_a_worker() -> bool:
    """A worker pays off with a second core to run on."""
    import os

    try:
        return len(os.sched_getaffinity(0)) >= 2
    except AttributeError:  # not on Linux
        return (os.cpu_count() or 1) >= 2


class Workers:
    """The worker processes of a pool, started together."""

    def __init__(self, count: int, nmap_db: Path | None, files: RuleFiles | None,
                 layers: frozenset[str] = PAYLOAD_LAYERS) -> None:
        """As many of `count` workers as can be started (OSError when none)."""
        self.workers: list[Worker] = []
        for _ in range(max(1, count)):
            try:
                self.workers.append(Worker(_worker_main, (nmap_db, files, layers)))
            except OSError:
                if not self.workers:
                    raise
                break

    @property
    def _processes(self) -> dict[int, BaseProcess]:
        """The processes by pid (the name concurrent.futures' executors give them)."""
        return {w.process.pid: w.process for w in self.workers if w.process.pid is not None}

    def idlest(self) -> Worker | None:
        """The live worker holding the fewest batches (None: every worker died)."""
        live = [w for w in self.workers if w.alive]
        return min(live, key=lambda w: len(w.tags)) if live else None

    def pump(self) -> None:
        for w in self.workers:
            w.pump()

    def close(self) -> None:
        for w in self.workers:
            w.close()


# a batch on its way: [flows and their jobs, the results (None while in a worker), worker]
Entry = list[Any]


class IdentifyPool(Generic[T]):
    """Batches of jobs, each with a tag (the watcher's pending flow), identified in a worker;
    `done` is called with (tag, result) in submission order."""

    def __init__(self, probes: ProbeSet, rules: FingerprintSet, nmap_db: Path | None,
                 done: Callable[[T, PassiveResult], None], workers: int = 1,
                 start_after: int = START_AFTER, files: RuleFiles | None = None,
                 layers: frozenset[str] = PAYLOAD_LAYERS) -> None:
        self.probes, self.rules, self.done, self.workers = probes, rules, done, workers
        self.layers = layers
        self._nmap_db = nmap_db
        self._files = files  # the user's own rules: the worker builds the same catalogue
        self._here_first = start_after  # flows still to identify here before starting
        self._started = False
        self._executor: Workers | None = None
        self._batch: list[tuple[T, Job]] = []
        self._shippable = 0  # jobs in the batch with bytes to identify (the others stay here)
        self._inflight: deque[Entry] = deque()
        self.failed = 0  # batches identified here because the worker could not take them
        self.shared = 0  # batches identified here because every worker was busy

    def submit(self, tag: T, job: Job) -> None:
        if self._here_first > 0:  # nothing is in flight before the worker starts
            self._here_first -= 1
            self.done(tag, self._one(job))
            return
        if not (job[0] or job[1]) and not self._batch and not self._inflight:
            self.done(tag, self._one(job))  # no bytes, nothing ahead of it: done here
            return
        if not self._started:
            self._started = True
            try:
                self._executor = Workers(self.workers, self._nmap_db, self._files, self.layers)
            except OSError:  # no process could be started: everything is identified here
                self._executor = None
        self._batch.append((tag, job))
        if job[0] or job[1]:
            self._shippable += 1
        if self._shippable >= BATCH_FLOWS or len(self._batch) >= MAX_BATCH_ENTRIES:
            self.flush()

    def flush(self) -> None:
        """Send what is batched; hand out whatever results are back. A flow that carried no
        bytes either way (a lone SYN of a port scan) is identified here at no cost, never
        shipped, but still handed out in its place."""
        if self._batch:
            batch, self._batch, self._shippable = self._batch, [], 0
            jobs = [job for _, job in batch if job[0] or job[1]]
            entry: Entry = [batch, None, None]
            worker = self._executor.idlest() if self._executor is not None else None
            if not jobs:
                entry[1] = []
            elif worker is None:  # no worker left
                self.failed += 1
                entry[1] = self._here(jobs)
            elif len(worker.tags) >= MAX_BATCHES:  # every worker is busy: do it here
                self.shared += 1
                entry[1] = self._here(jobs)
            else:
                entry[2] = worker
                worker.send(jobs, entry)
            self._inflight.append(entry)
            while len(self._inflight) > MAX_QUEUED:
                self._take_oldest()
        self.collect()

    def collect(self) -> None:
        """Hand out the results that are back, in order, without waiting."""
        if self._executor is not None:
            self._executor.pump()
        while self._inflight and self._inflight[0][1] is not None:
            self._take_oldest()

    def finish(self) -> None:
        """Send the rest and wait for every result."""
        self.flush()
        while self._inflight:
            self._take_oldest()

    def close(self) -> None:
        self.finish()
        if self._executor is not None:
            self._executor.close()
            self._executor = None

    def _take_oldest(self) -> None:
        entry = self._inflight[0]
        while entry[1] is None:
            entry[2].wait()
        self._inflight.popleft()
        batch, results = entry[0], entry[1]
        if results is FAILED:  # the worker died or failed on this batch
            self.failed += 1
            results = self._here([job for _, job in batch if job[0] or job[1]])
        it = iter(results)
        for tag, job in batch:
            self.done(tag, next(it) if job[0] or job[1] else self._one(job))

    def _one(self, job: Job) -> PassiveResult:
        return identify_job(job, self.probes, self.rules, self.layers)

    def _here(self, jobs: list[Job]) -> list[PassiveResult]:
        return [self._one(job) for job in jobs]
