"""JSON Lines: one record a line (an endpoint's, a flow's or a scan's), written as soon as it
is known, to a file or to standard output."""

from __future__ import annotations

import json
import time
from typing import IO, TYPE_CHECKING, Any

import orjson

from probescan.model import ServiceRecord

if TYPE_CHECKING:
    from probescan.scans.record import ScanRecord
    from probescan.watch.label import FlowRecord


def json_line(d: dict[str, Any], *, ascii_only: bool = False) -> str:
    """One record as compact JSON (no line end). orjson is several times faster than the
    standard library on records this size, which `watch` writes for every flow; the standard
    library takes over for what orjson refuses (integers beyond 64 bits) and, with
    `ascii_only`, for text that is not ASCII (a terminal may not take UTF-8)."""
    try:
        line = orjson.dumps(d).decode("utf-8")
    except TypeError:
        return json.dumps(d, ensure_ascii=ascii_only, separators=(",", ":"))
    if ascii_only and not line.isascii():
        return json.dumps(d, separators=(",", ":"))
    return line


def record_line(record: ServiceRecord) -> str:
    return json_line(record.to_dict())


class JsonlSink:
    """A sink (probescan.output.sink) writing JSON Lines to `stream`.

    `flush_every` 0 flushes every record (scan: a record is on disk the moment it is
    found). More: sparse records are flushed as they come; in a burst, at most every
    `flush_every` seconds, plus at each flush() (watch: a flush per flow would cost more
    than labeling some flows). close() flushes the rest and closes the stream if
    `close_stream` (not standard output). `ascii_only`: escape text that is not ASCII (a
    terminal may not take UTF-8).
    """

    def __init__(self, stream: IO[str], *, flush_every: float = 0.0, ascii_only: bool = False,
                 close_stream: bool = True) -> None:
        self._stream = stream
        self.flush_every = flush_every
        self.ascii_only = ascii_only
        self.close_stream = close_stream
        self._flushed = 0.0
        self._unflushed = False

    def record(self, record: ServiceRecord) -> None:
        self._write(record.to_dict())

    def flow(self, flow: FlowRecord) -> None:
        self._write(flow.to_dict())

    def scan(self, record: ScanRecord) -> None:
        self._write(record.to_dict())

    def _write(self, d: dict[str, Any]) -> None:
        self._stream.write(json_line(d, ascii_only=self.ascii_only) + "\n")
        self._unflushed = True
        if time.monotonic() - self._flushed >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        if self._unflushed:
            self._flushed, self._unflushed = time.monotonic(), False
            self._stream.flush()

    def close(self, *, interrupted: bool = False, failed: bool = False) -> None:
        if self.close_stream:
            self._stream.close()
        else:
            self.flush()
