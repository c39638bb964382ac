"""One shape for every output: a `Sink` is handed each record the moment it is known and
closed once at the end; `Sinks` hands every record to several.

Scan records (`probescan scans`, and `watch` when it finds a scan) go to the sinks that have
a `scan(record)` method (JSON Lines, the store, the HTML report); the others never see them.

A sink owns its output: its options, its file (opened by the caller, closed by the sink),
when it flushes, and what it writes at the end. Scan hands out endpoint records
(`record`), watch flow records (`flow`); a sink ignores what it has no use for.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Protocol

from probescan.model import ServiceRecord

if TYPE_CHECKING:
    from probescan.scans.record import ScanRecord
    from probescan.watch.label import FlowRecord

SHOWN_STATES = frozenset({"open", "open|filtered"})  # what a scan lists without --all-states


class OutputError(Exception):
    """An output cannot be opened or written: one line for the user, exit status 2."""


class Sink(Protocol):
    def record(self, record: ServiceRecord) -> None:
        """An endpoint's record (scan)."""

    def flow(self, flow: FlowRecord) -> None:
        """A flow's record (watch)."""

    def flush(self) -> None:
        """Make what was written visible now: watch calls this every FLUSH_EVERY seconds."""

    def close(self, *, interrupted: bool, failed: bool) -> None:
        """The run ended: finish the output and close it. `interrupted`: stopped by a signal
        (the output keeps every record so far and may say so); `failed`: ended by an error,
        so only files are finished and closed (no end-of-run report or summary)."""


def wants(sink: object, state: str) -> bool:
    """Does `sink` need the endpoint records of `state`? A sink may say no with a
    `wants(state)` method (the terminal, when it only counts them); without one, it does.
    A scan makes no record of a state no sink wants (engine/scan.py `counted`)."""
    method = getattr(sink, "wants", None)
    return method is None or bool(method(state))


class Sinks:
    """Hands every record to each sink, in order; closes them all, even when one fails."""

    def __init__(self, sinks: Iterable[Sink]) -> None:
        self.sinks = list(sinks)

    def record(self, record: ServiceRecord) -> None:
        for sink in self.sinks:
            sink.record(record)

    def wants(self, state: str) -> bool:
        return any(wants(sink, state) for sink in self.sinks)

    def flow(self, flow: FlowRecord) -> None:
        for sink in self.sinks:
            sink.flow(flow)

    def scan(self, record: ScanRecord) -> None:
        """A scan record, to each sink that takes scan records."""
        for sink in self.sinks:
            method = getattr(sink, "scan", None)
            if method is not None:
                method(record)

    def flush(self) -> None:
        for sink in self.sinks:
            sink.flush()

    def close(self, *, interrupted: bool, failed: bool = False) -> None:
        """Close every sink; after a sink fails to close, the later ones are closed as
        `failed`; the first error is raised at the end."""
        error: Exception | None = None
        for sink in self.sinks:
            try:
                sink.close(interrupted=interrupted, failed=failed or error is not None)
            except Exception as e:
                error = error or e
        if error is not None:
            raise error


class StateFilter:
    """Hands a sink only the endpoint records in `states` (every flow record)."""

    def __init__(self, sink: Sink, states: Collection[str]) -> None:
        self.sink = sink
        self.states = frozenset(states)

    def record(self, record: ServiceRecord) -> None:
        if record.state in self.states:
            self.sink.record(record)

    def wants(self, state: str) -> bool:
        return state in self.states and wants(self.sink, state)

    def flow(self, flow: FlowRecord) -> None:
        self.sink.flow(flow)

    def scan(self, record: ScanRecord) -> None:
        method = getattr(self.sink, "scan", None)
        if method is not None:
            method(record)

    def flush(self) -> None:
        self.sink.flush()

    def close(self, *, interrupted: bool, failed: bool = False) -> None:
        self.sink.close(interrupted=interrupted, failed=failed)
