"""Identification in a worker process gives what the watcher would find itself, in order,
and survives the worker's death."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from probescan.catalog import build_catalog
from probescan.cli import main
from probescan.watch.flows import Shape
from probescan.watch.passive import PassiveResult
from probescan.watch.workers import BATCH_FLOWS, IdentifyPool, Job, identify_job

CATALOG = build_catalog(None)
SSH = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"
HTTP_REQ = b"GET / HTTP/1.1\r\nHost: a.test\r\nUser-Agent: curl/7.88.1\r\n\r\n"
HTTP_RESP = b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Length: 0\r\n\r\n"
SHAPE: Shape = ((), (), "client", 40000, 4000, "127.0.0.2")  # one message each way
JOBS: list[Job] = [
    (SSH, SSH, "tcp", "ssh", SHAPE),
    (HTTP_REQ, HTTP_RESP, "tcp", None, SHAPE),
    (b"", b"220 mail.example.com ESMTP Postfix (Debian/GNU)\r\n", "tcp", "smtp", SHAPE),
    (b"\x00\xff" * 40, b"\xde\xad\xbe\xef" * 30, "tcp", None, SHAPE),  # garbage both ways
    (b"", b"", "udp", "dns", SHAPE),
]


def here(job: Job) -> PassiveResult:
    return identify_job(job, CATALOG.probes, CATALOG.fingerprints)


def run_pool(jobs: list[Job], kill_worker_after: int | None = None, start_after: int = 0
             ) -> tuple[list[tuple[int, PassiveResult]], int]:
    got: list[tuple[int, PassiveResult]] = []
    pool: IdentifyPool[int] = IdentifyPool(CATALOG.probes, CATALOG.fingerprints, None,
                                           lambda tag, r: got.append((tag, r)),
                                           start_after=start_after)
    try:
        for i, job in enumerate(jobs):
            if i == kill_worker_after:
                pool.finish()  # the worker is up and has done a batch
                executor = pool._executor  # the test reaches in to kill the worker
                assert executor is not None
                for pid in list(executor._processes):
                    os.kill(pid, signal.SIGKILL)
                time.sleep(0.2)
            pool.submit(i, job)
        pool.finish()
    finally:
        failed = pool.failed
        pool.close()
    return got, failed


def test_worker_results_equal_the_watchers_own_and_keep_submission_order() -> None:
    jobs = JOBS * (BATCH_FLOWS // 2)  # several batches, the last one partial
    got, failed = run_pool(jobs)
    assert failed == 0
    assert [tag for tag, _ in got] == list(range(len(jobs)))
    assert [r for _, r in got] == [here(j) for j in jobs]
    assert got[0][1].match is not None and got[0][1].match.product == "OpenSSH"


def test_the_first_flows_are_identified_before_any_worker_starts() -> None:
    got: list[tuple[int, PassiveResult]] = []
    pool: IdentifyPool[int] = IdentifyPool(CATALOG.probes, CATALOG.fingerprints, None,
                                           lambda tag, r: got.append((tag, r)), start_after=3)
    try:
        for i, job in enumerate(JOBS[:3]):
            pool.submit(i, job)
        assert [tag for tag, _ in got] == [0, 1, 2]  # at once, in the caller
        assert pool._executor is None  # the test checks that no process was started
        pool.submit(3, JOBS[3])
        assert pool._executor is not None
        pool.finish()
        assert [tag for tag, _ in got] == [0, 1, 2, 3]
    finally:
        pool.close()


def test_a_killed_worker_loses_no_flow() -> None:
    jobs = JOBS * BATCH_FLOWS
    got, failed = run_pool(jobs, kill_worker_after=BATCH_FLOWS)
    assert [tag for tag, _ in got] == list(range(len(jobs)))
    assert [r for _, r in got] == [here(j) for j in jobs]
    assert failed >= 1  # the batches after the kill were identified in the watcher


@pytest.mark.parametrize("value", ["-1", "65"])
def test_workers_out_of_range_is_a_one_line_error(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pcap = tmp_path / "empty.pcap"
    pcap.write_bytes(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))
    assert main(["watch", "-r", str(pcap), "--no-probe", "--workers", value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--workers {value}" in err and "Traceback" not in err


def test_a_worker_killed_with_batches_in_flight_loses_no_flow() -> None:
    jobs = JOBS * (BATCH_FLOWS * 2)
    got: list[tuple[int, PassiveResult]] = []
    pool: IdentifyPool[int] = IdentifyPool(CATALOG.probes, CATALOG.fingerprints, None,
                                           lambda tag, r: got.append((tag, r)), start_after=0)
    try:
        half = len(jobs) // 2
        for i, job in enumerate(jobs[:half]):
            pool.submit(i, job)
        executor = pool._executor
        assert executor is not None
        for pid in list(executor._processes):  # batches are still in its pipe or being read
            os.kill(pid, signal.SIGKILL)
        for i, job in enumerate(jobs[half:], half):
            pool.submit(i, job)
        pool.finish()
    finally:
        pool.close()
    assert [tag for tag, _ in got] == list(range(len(jobs)))
    assert [r for _, r in got] == [here(j) for j in jobs]
    assert pool.failed >= 1


def test_batches_beyond_what_the_worker_holds_are_identified_in_order_here() -> None:
    jobs = JOBS * (BATCH_FLOWS * 4)  # 20 batches at once: more than MAX_BATCHES in flight
    got: list[tuple[int, PassiveResult]] = []
    pool: IdentifyPool[int] = IdentifyPool(CATALOG.probes, CATALOG.fingerprints, None,
                                           lambda tag, r: got.append((tag, r)), start_after=0)
    try:
        for i, job in enumerate(jobs):
            pool.submit(i, job)
        pool.finish()
    finally:
        pool.close()
    assert [tag for tag, _ in got] == list(range(len(jobs)))
    assert [r for _, r in got] == [here(j) for j in jobs]
    assert pool.failed == 0 and pool.shared >= 1  # the worker was still starting
