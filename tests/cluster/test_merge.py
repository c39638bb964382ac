"""The client writes each endpoint once, whatever attempts of a shard send; the worker's side
batches records as they are found and says how many batches it sent. No cluster needed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from probescan.catalog import Catalog, load_fingerprints, load_probes
from probescan.cluster.merge import Merger, batch_message
from probescan.cluster.plan import Shard, make_plan
from probescan.cluster.worker import ShardTask, _run
from probescan.config import Config
from probescan.model import Endpoint, Evidence, ServiceRecord, TlsInfo
from tests.cluster.fakes import fake_servers


def rec(port: int, service: str = "ssh", error: str | None = None) -> ServiceRecord:
    return ServiceRecord(Endpoint("127.1.0.140", port), "open", service=service, error=error)


def test_a_rerun_shard_writes_each_endpoint_once() -> None:
    written: list[ServiceRecord] = []
    merger = Merger(written.append)
    merger.batch(batch_message(1, "lost", 0, [rec(1), rec(2)]))  # then its worker died
    merger.batch(batch_message(1, "again", 0, [rec(1), rec(2), rec(3)]))
    merger.finished(1, "again", 1)
    assert [r.endpoint.port for r in written] == [1, 2, 3]
    assert merger.duplicates == 2 and merger.rerun == {1}
    assert merger.waiting() == []


def test_a_later_complete_record_wins_over_one_cut_short() -> None:
    written: list[ServiceRecord] = []
    merger = Merger(written.append)
    merger.batch(batch_message(2, "lost", 0, [rec(1, "unknown", "internal: loop closed")]))
    assert written == []  # held back
    merger.batch(batch_message(2, "again", 0, [rec(1, "ssh")]))
    merger.finished(2, "again", 1)
    assert [(r.endpoint.port, r.service) for r in written] == [(1, "ssh")]


def test_a_record_cut_short_is_still_written_when_nothing_better_comes() -> None:
    written: list[ServiceRecord] = []
    merger = Merger(written.append)
    merger.batch(batch_message(3, "a", 0, [rec(1, "unknown", "internal: boom")]))
    merger.finished(3, "a", 1)
    assert [r.error for r in written] == ["internal: boom"]


def test_a_shard_is_complete_once_every_batch_of_its_attempt_arrived() -> None:
    written: list[ServiceRecord] = []
    merger = Merger(written.append)
    merger.batch(batch_message(4, "a", 0, [rec(1)]))
    merger.finished(4, "a", 2)  # the task returned before its second batch arrived
    assert merger.waiting() == [4]
    merger.batch(batch_message(4, "a", 1, [rec(2)]))
    assert merger.waiting() == []
    merger.batch(batch_message(4, "lost", 0, [rec(9)]))  # a left-over of a lost attempt
    assert merger.late == 1 and [r.endpoint.port for r in written] == [1, 2]


CATALOG = Catalog(load_probes(), load_fingerprints())
FAST = Config(connect_timeout=0.5, retries=0, banner_wait=0.5, probe_wait=0.5,
              endpoint_budget=2.0, intensity=1)


def test_the_worker_streams_batches_as_records_are_found() -> None:
    plan = make_plan(["127.1.0.141", "127.1.0.142"], [], [("tcp", 2222), ("tcp", 9001)])
    task = ShardTask(Shard(plan, 1, 1), FAST, "queue", "stop", "")
    sent: list[tuple[float, dict[str, Any]]] = []
    start = time.monotonic()

    def put(message: dict[str, Any]) -> None:
        sent.append((time.monotonic() - start, message))

    entries = [("127.1.0.141", 2222, "ssh"), ("127.1.0.141", 9001, "silent"),
               ("127.1.0.142", 9001, "silent")]
    with fake_servers(entries):
        done = asyncio.run(_run(task, CATALOG, put, lambda: time.sleep(0.05) or False))
    assert not done.stopped and done.batches == len(sent) and done.records == 4
    written: list[ServiceRecord] = []
    merger = Merger(written.append)
    for _, message in sent:
        merger.batch(message)
    merger.finished(1, done.attempt, done.batches)
    assert sorted((r.endpoint.ip, r.endpoint.port) for r in written) == sorted(
        (ep.ip, ep.port) for ep in plan.endpoints())
    first = next(t for t, m in sent if b"OpenSSH" in m["records"])
    assert first < 0.5 < sent[-1][0]  # the SSH record went before the silent ports finished


def test_the_stop_event_ends_the_shard_and_keeps_what_was_found() -> None:
    plan = make_plan(["127.1.0.143"], [], [("tcp", 2222), ("tcp", 9001)])
    slow = Config(banner_wait=30, endpoint_budget=60)
    task = ShardTask(Shard(plan, 1, 1), slow, "queue", "stop", "")
    sent: list[dict[str, Any]] = []
    start = time.monotonic()

    def stopped() -> bool:
        time.sleep(0.05)
        return time.monotonic() - start > 1.0

    with fake_servers([("127.1.0.143", 2222, "ssh"), ("127.1.0.143", 9001, "silent")]):
        done = asyncio.run(_run(task, CATALOG, sent.append, stopped))
    assert done.stopped and done.records == 1 and done.batches == len(sent)
    assert time.monotonic() - start < 5


def test_records_cross_the_wire_unchanged() -> None:
    full = ServiceRecord(
        Endpoint("2001:db8::1", 443, "tcp", "web.example"), "open", service="http",
        product="nginx", version="1.22.1", info="x", hostname="h", os="Linux", device="d",
        cpe=("cpe:/a:nginx:nginx:1.22.1",), tunnel="tls",
        tls=TlsInfo(version="TLSv1.3", sans=("web.example",), self_signed=True),
        method="probe", confidence=10,
        evidence=(Evidence("GetRequest", "http-nginx", "probescan:http.toml", b"HTTP/1.1 200",
                           "tls"),),
        unmatched=(Evidence("null", None, None, b"\x00\xff"),), timings={"connect": 0.01},
        error=None)
    records = [full, ServiceRecord(Endpoint("127.1.0.1", 1, "udp"), "open|filtered")]
    written: list[ServiceRecord] = []
    merger = Merger(written.append)
    merger.batch(batch_message(1, "a", 0, records))
    assert written == records
