"""Reading the report's inputs: JSON Lines files and SQLite stores, each record checked.

Input kinds are recognised by their first bytes and read by a loader from `LOADERS`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from probescan.report.schema import ReportInputError, check_record, scan_records, split_records


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One record as an input kind yields it, before checking."""

    where: int | str  # line number (JSON Lines) or table and row (a store: "flows row 3")
    data: object


# An input kind: a name, a test on the first 16 bytes of the file, and a loader that opens
# the file itself (a SQLite store is opened by name, not read as a stream) and yields its
# raw records; it raises ReportInputError for what is not a record at all, and may raise
# OSError. A new kind is one more entry in LOADERS.
Loader = Callable[[str], Iterator[RawRecord]]
HEAD_BYTES = 16


@dataclass(frozen=True, slots=True)
class InputKind:
    name: str
    sniff: Callable[[bytes], bool]
    load: Loader


def _iter_jsonl(stream: IO[bytes], name: str) -> Iterator[RawRecord]:
    for number, raw in enumerate(stream, 1):
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            raise ReportInputError(name, "not UTF-8", number) from None
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            raise ReportInputError(name, "not JSON", number) from None
        yield RawRecord(number, data)


def _load_jsonl(path: str) -> Iterator[RawRecord]:
    with open(path, "rb") as stream:
        yield from _iter_jsonl(stream, path)


def _load_sqlite(path: str) -> Iterator[RawRecord]:
    """A store written by probescan.output.store.Store: its flows, then its endpoints.

    The endpoints table holds the latest result per endpoint (the watcher stores every probe
    result there too), so it comes last and wins over the probes nested in older flows.
    """
    from probescan.output.store import StoreError, read_scans, read_store

    try:
        endpoints, flows = read_store(Path(path))
        scans = read_scans(Path(path))
    except StoreError as e:
        cause = e.__cause__ if e.__cause__ is not None else e
        raise ReportInputError(path, f"not a readable probescan store: {cause}") from None
    except (ValueError, RecursionError):  # a stored record that is not JSON
        raise ReportInputError(path, "a stored record is not JSON") from None
    for number, data in enumerate(flows, 1):
        yield RawRecord(f"flows row {number}", data)
    for number, data in enumerate(scans, 1):
        yield RawRecord(f"scans row {number}", data)
    for number, data in enumerate(endpoints, 1):
        yield RawRecord(f"endpoints row {number}", data)


SQLITE_MAGIC = b"SQLite format 3\x00"

# First match wins; the last entry takes anything (JSON Lines has no magic bytes).
LOADERS: list[InputKind] = [
    InputKind("sqlite", lambda head: head.startswith(SQLITE_MAGIC), _load_sqlite),
    InputKind("jsonl", lambda head: True, _load_jsonl),
]


def load_records(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Read and check every record of every input; "-" reads JSON Lines from standard input.

    Returns the flow records in reading order, then the scan records (in reading order),
    then the endpoint records: one per endpoint
    (ip, port, transport), the last one read, where an endpoint record nested in a flow
    (`probes.server`, `probes.client`) counts as read where its flow was. So a rescan given
    after the first scan replaces its records, and `render_report` of the result shows the
    same as of the inputs in their order.
    """
    checked = [record for path in paths for record in _load_one(str(path))]
    endpoints, flows = split_records(checked)
    return [*flows, *scan_records(checked), *endpoints]


def _load_one(path: str) -> Iterator[dict[str, Any]]:
    if path == "-":
        raws = _iter_jsonl(sys.stdin.buffer, "<stdin>")
        name = "<stdin>"
    else:
        try:
            with open(path, "rb") as f:
                head = f.read(HEAD_BYTES)
        except FileNotFoundError:
            raise ReportInputError(path, "no such file") from None
        except IsADirectoryError:
            raise ReportInputError(path, "a directory, not a file") from None
        except OSError as e:
            raise ReportInputError(path, f"cannot read: {e.strerror or e}") from None
        kind = next(k for k in LOADERS if k.sniff(head))
        raws = kind.load(path)
        name = path
    try:
        for raw in raws:
            yield check_record(raw.data, name, raw.where)
    except OSError as e:
        raise ReportInputError(name, f"cannot read: {e.strerror or e}") from None
