"""SQLite store of flows and endpoint results, readable by a later `watch` or `report`.

Schema (version 1; the scans table was added later, and a store without it reads as one
without scans):
  endpoints(ip, port, transport, state, service, product, version, confidence, method,
            seen REAL, record TEXT JSON)             -- one row per endpoint, latest wins
  flows(id INTEGER PK, first_seen, last_seen, transport, client_ip, client_port, server_ip,
        server_port, service, product, version, confidence, method, anomalies TEXT JSON,
        record TEXT JSON)
  scans(id INTEGER PK, first_seen, last_seen, source_ip, source_group, type, shape, tool,
        record TEXT JSON)                              -- one row per scan record
Rows are committed as they are written (WAL journal), or with `commit_every` seconds at
most every so often plus by `commit()` (watch: a commit per flow would cost more than
labeling it); `close()` commits the rest, so an interrupted run keeps everything stored.
`Store` is a sink (probescan.output.sink): `record` stores an endpoint, `flow` a flow and its
endpoints' probe results, `scan` a scan record.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from probescan.model import ServiceRecord
from probescan.output.jsonl import json_line
from probescan.output.sink import OutputError

if TYPE_CHECKING:
    from probescan.scans.record import ScanRecord
    from probescan.watch.label import FlowRecord

SCHEMA = """
PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS endpoints (
  ip TEXT NOT NULL, port INTEGER NOT NULL, transport TEXT NOT NULL, state TEXT NOT NULL,
  service TEXT, product TEXT, version TEXT, confidence INTEGER, method TEXT,
  seen REAL NOT NULL, record TEXT NOT NULL,
  PRIMARY KEY (ip, port, transport)
);
CREATE TABLE IF NOT EXISTS flows (
  rowid INTEGER PRIMARY KEY AUTOINCREMENT,
  first_seen REAL, last_seen REAL, transport TEXT, client_ip TEXT, client_port INTEGER,
  server_ip TEXT, server_port INTEGER, service TEXT, product TEXT, version TEXT,
  confidence INTEGER, method TEXT, anomalies TEXT, record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS flows_server ON flows (server_ip, server_port);
CREATE TABLE IF NOT EXISTS scans (
  rowid INTEGER PRIMARY KEY AUTOINCREMENT,
  first_seen REAL, last_seen REAL, source_ip TEXT, source_group TEXT, type TEXT, shape TEXT,
  tool TEXT, record TEXT NOT NULL
);
"""


class StoreError(OutputError):
    pass


class Store:
    def __init__(self, path: Path, commit_every: float = 0.0) -> None:
        self.commit_every = commit_every
        self._committed = 0.0
        self._pending = False
        try:
            self.db = sqlite3.connect(str(path))
            self.db.executescript(SCHEMA)
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', '1')")
            self.db.commit()
        except sqlite3.DatabaseError as e:
            raise StoreError(f"cannot use '{path}' as a probescan store: {e}") from e

    def record(self, record: ServiceRecord) -> None:
        self.add_endpoint(record)

    def flow(self, flow: FlowRecord) -> None:
        self.add_flow(flow.to_dict())
        for probe in (flow.server_probe, flow.client_probe):
            if probe is not None:
                self.add_endpoint(probe)

    def scan(self, record: ScanRecord) -> None:
        d = record.to_dict()
        self.db.execute(
            "INSERT INTO scans (first_seen, last_seen, source_ip, source_group, type, shape, "
            "tool, record) VALUES (?,?,?,?,?,?,?,?)",
            (d["first_seen"], d["last_seen"], d["source"]["ip"], d["source"]["group"],
             d["type"], d["shape"], d["tool"], json_line(d)))
        self._written()

    def add_endpoint(self, record: ServiceRecord) -> None:
        d = record.to_dict()
        self.db.execute(
            "INSERT OR REPLACE INTO endpoints VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (d["ip"], d["port"], d["transport"], d["state"], d["service"], d["product"],
             d["version"], d["confidence"], d["method"], time.time(), json_line(d)),
        )
        self._written()

    def add_flow(self, d: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO flows (first_seen, last_seen, transport, client_ip, client_port, "
            "server_ip, server_port, service, product, version, confidence, method, anomalies, "
            "record) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (d["first_seen"], d["last_seen"], d["transport"], d["client"]["ip"],
             d["client"]["port"], d["server"]["ip"], d["server"]["port"], d["service"],
             d["product"], d["version"], d["confidence"], d["method"],
             json.dumps(d["anomalies"]), json_line(d)),
        )
        self._written()

    def _written(self) -> None:
        self._pending = True
        if time.monotonic() - self._committed >= self.commit_every:
            self.commit()

    def commit(self) -> None:
        if self._pending:
            self.db.commit()
            self._pending, self._committed = False, time.monotonic()

    def flush(self) -> None:
        self.commit()

    def close(self, *, interrupted: bool = False, failed: bool = False) -> None:
        self.commit()
        self.db.close()


def read_store(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(endpoint records, flow records) as dicts, in the JSON Lines shapes."""
    try:
        db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
        try:
            eps = [json.loads(r[0]) for r in db.execute("SELECT record FROM endpoints")]
            rows = db.execute("SELECT record FROM flows ORDER BY rowid")
            flows = [json.loads(r[0]) for r in rows]
        finally:
            db.close()
    except sqlite3.DatabaseError as e:
        raise StoreError(f"cannot read probescan store '{path}': {e}") from e
    return eps, flows


def read_scans(path: Path) -> list[dict[str, Any]]:
    """The scan records of a store, in the order written (none in a store without them)."""
    try:
        db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
            if "scans" not in tables:
                return []
            rows = db.execute("SELECT record FROM scans ORDER BY rowid")
            return [json.loads(r[0]) for r in rows]
        finally:
            db.close()
    except sqlite3.DatabaseError as e:
        raise StoreError(f"cannot read probescan store '{path}': {e}") from e
