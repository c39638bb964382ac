"""Passive identification in a second process, so capture and labeling use two cores.

The watcher's per-packet work (frames, flows) and its per-flow work (parsers and fingerprints
over the first bytes: `passive.identify`) each take about half of its time on short flows.
`IdentifyPool` runs `identify` in worker processes (one by default): the watcher hands it
batches of jobs (client bytes, server bytes, transport, the server port's service) and takes
back the results in the order it sent them, so records come out exactly as they would
without the worker. The first START_AFTER flows are identified in the watcher itself (a
small capture never starts a worker). The worker builds the same catalogue as the watcher
(the same `--nmap-db`), ignores SIGINT (Ctrl-C reaches the whole process group; the watcher
decides when to stop), and if it dies its batches are identified in the watcher: nothing is
lost.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Generic, TypeVar

from probescan.catalog import FingerprintSet, ProbeSet, build_catalog
from probescan.catalog.user import RuleFiles
from probescan.classify.layers import PAYLOAD_LAYERS
from probescan.model import Transport
from probescan.watch.flows import Shape
from probescan.watch.passive import PassiveResult, flow_messages, identify

# client's first bytes, server's first bytes, transport, the server port's usual service,
# the flow's shape (message boundaries, first speaker, ports: watch.flows.Flow.shape)
Job = tuple[bytes, bytes, Transport, str | None, Shape]
T = TypeVar("T")

BATCH_FLOWS = 64  # flows with bytes per batch: the hand-over costs a few microseconds a flow
MAX_BATCH_ENTRIES = 4096  # flows in a batch at most, counting those without bytes
# Flows identified in the watcher before the worker is started: a short capture is done
# before a worker would be up (starting one and loading its catalogue takes ~0.4 s).
START_AFTER = 2000
MAX_BATCHES = 8  # batches in flight (per worker) before the watcher waits for the oldest

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
        self._executor: ProcessPoolExecutor | None = None
        self._batch: list[tuple[T, Job]] = []
        self._shippable = 0  # jobs in the batch with bytes to identify (the others stay here)
        self._inflight: deque[tuple[list[tuple[T, Job]], Future[list[PassiveResult]]]] = deque()
        self.failed = 0  # batches identified here because the worker could not take them

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
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(self._nmap_db, self._files, self.layers))
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
            fut = self._send(jobs) if jobs else _done([])
            self._inflight.append((batch, fut))
            while len(self._inflight) > MAX_BATCHES * self.workers:
                self._take_oldest()
        self.collect()

    def collect(self) -> None:
        """Hand out the results that are back, in order, without waiting."""
        while self._inflight and self._inflight[0][1].done():
            self._take_oldest()

    def finish(self) -> None:
        """Send the rest and wait for every result."""
        self.flush()
        while self._inflight:
            self._take_oldest()

    def close(self) -> None:
        self.finish()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def _send(self, jobs: list[Job]) -> Future[list[PassiveResult]]:
        if self._executor is not None:
            try:
                return self._executor.submit(_identify_batch, jobs)
            except RuntimeError:  # the pool broke or was shut down
                self._executor = None
        self.failed += 1
        return _done(self._here(jobs))

    def _take_oldest(self) -> None:
        batch, fut = self._inflight.popleft()
        try:
            results = iter(fut.result())
        except Exception:  # the worker died (BrokenProcessPool) or failed on this batch
            self.failed += 1
            results = iter(self._here([job for _, job in batch if job[0] or job[1]]))
        for tag, job in batch:
            self.done(tag, next(results) if job[0] or job[1] else self._one(job))

    def _one(self, job: Job) -> PassiveResult:
        return identify_job(job, self.probes, self.rules, self.layers)

    def _here(self, jobs: list[Job]) -> list[PassiveResult]:
        return [self._one(job) for job in jobs]


def _done(results: list[PassiveResult]) -> Future[list[PassiveResult]]:
    fut: Future[list[PassiveResult]] = Future()
    fut.set_result(results)
    return fut
