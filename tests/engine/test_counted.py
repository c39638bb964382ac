"""Verdicts no output lists are only counted: the scan makes no record of them, the terminal
counts them all the same (engine/scan.py `counted`, output/console.py `wants`/`count`)."""

from __future__ import annotations

import asyncio
import socket

from probescan.cli.sweep import discovery_catalog
from probescan.config import Config
from probescan.engine.scan import scan
from probescan.model import Endpoint, ServiceRecord
from probescan.output.console import ScanConsole, TableOptions
from probescan.output.sink import SHOWN_STATES, Sinks, StateFilter

HOST = "127.0.70.11"


def _scan(counted: frozenset[str]) -> tuple[list[ServiceRecord], list[str]]:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((HOST, 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    eps = [Endpoint(HOST, p) for p in (port, port + 1, port + 2)]
    records: list[ServiceRecord] = []
    counts: list[str] = []
    config = Config(sweep="connect", version_scan=False)
    try:
        asyncio.run(scan(eps, config, discovery_catalog(), records.append, counted,
                         counts.append))
    finally:
        listener.close()
    return records, counts


def test_counted_states_make_no_record_and_are_counted() -> None:
    records, counts = _scan(frozenset({"closed", "filtered"}))
    assert [r.state for r in records] == ["open"]
    assert sorted(counts) == ["closed", "closed"]


def test_without_counted_states_every_verdict_is_a_record() -> None:
    records, counts = _scan(frozenset())
    assert sorted(r.state for r in records) == ["closed", "closed", "open"]
    assert counts == []


def _console(table: bool, **options: int) -> ScanConsole:
    return ScanConsole(3, bar=False, table=table, shown=SHOWN_STATES,
                       options=TableOptions(**options))  # type: ignore[arg-type]


def test_the_terminal_wants_only_what_it_shows() -> None:
    assert not _console(False).wants("closed")
    assert not _console(False).wants("open")
    assert not _console(True).wants("closed")
    assert _console(True).wants("open")
    assert _console(False, verbose=1).wants("open")
    assert not _console(False, verbose=1).wants("closed")
    assert _console(False, verbose=2).wants("closed")
    assert _console(False, debug=1).wants("filtered")


def test_a_listed_output_or_an_unfiltered_one_wants_its_states() -> None:
    quiet = _console(False)

    class Plain:  # a sink without `wants`: every record
        def record(self, record: ServiceRecord) -> None:
            pass

    listed = Sinks([StateFilter(Sinks([Plain()]), SHOWN_STATES), quiet])
    assert listed.wants("open") and not listed.wants("closed")
    assert Sinks([Plain(), quiet]).wants("closed")  # nmap XML and its kin count every port


def test_counted_ports_appear_in_the_terminal_counts() -> None:
    console = _console(False)
    console.record(ServiceRecord(Endpoint(HOST, 1), "open"))
    console.count("closed")
    console.count("closed")
    assert console.counts == {"open": 1, "closed": 2}
    assert console.opened == 1
