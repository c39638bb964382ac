"""The client's side of the record stream: batches from the shards in, each endpoint written
once, shards known complete.

A shard may run more than once: when the worker running it is lost, Dask runs it again
elsewhere, and the records the lost attempt already sent come again. `Merger` writes each
endpoint once: a complete record goes out at once and later ones of that endpoint are
dropped; a record cut short (the engine's `internal:` error, as when a worker goes down
mid-probe) is held back, and a later complete record of the endpoint wins over it (what is
still held at the end is written then). An endpoint belongs to one shard only
(`cluster.plan`), so the endpoints seen are kept per shard and forgotten when the shard is
complete: the memory is that of the running shards, not of the whole scan.

A shard is complete when its task has returned and every batch of that attempt was received
(the task says how many it sent); batches of a complete shard that arrive later are left-overs
of a lost attempt and dropped. Pure: no Dask here.
"""

from __future__ import annotations

import copyreg
import io
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from probescan.model import Endpoint, Evidence, ServiceRecord, TlsInfo

Write = Callable[[ServiceRecord], None]


def complete(record: ServiceRecord) -> bool:
    """False for a record the engine gave up on with an internal error (cut short)."""
    return not (record.error or "").startswith("internal:")


def _by_position(cls: type[Any]) -> Callable[[Any], tuple[type[Any], tuple[Any, ...]]]:
    """A pickle reducer that rebuilds a record class from its fields in order: unpickling a
    frozen slots dataclass the default way costs ~10x more (dataclasses' __setstate__)."""
    names = tuple(f.name for f in fields(cls))
    assert all(f.init for f in fields(cls)), cls

    def reduce(obj: Any) -> tuple[type[Any], tuple[Any, ...]]:
        return cls, tuple(getattr(obj, name) for name in names)

    return reduce


_REDUCERS: dict[type, Any] = {cls: _by_position(cls)
                              for cls in (ServiceRecord, Endpoint, TlsInfo, Evidence)}


def pack(records: list[ServiceRecord]) -> bytes:
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {**copyreg.dispatch_table, **_REDUCERS}
    pickler.dump(records)
    return buffer.getvalue()


def batch_message(shard: int, attempt: str, seq: int,
                  records: list[ServiceRecord]) -> dict[str, Any]:
    """One batch of a shard's records as it goes over the wire (msgpack: str, int, bytes)."""
    return {"shard": shard, "attempt": attempt, "seq": seq, "records": pack(records)}


@dataclass
class _Shard:
    seen: set[Endpoint] = field(default_factory=set)
    held: dict[Endpoint, ServiceRecord] = field(default_factory=dict)
    received: dict[str, int] = field(default_factory=dict)  # attempt -> batches received
    expected: tuple[str, int] | None = None  # (attempt, batches) the finished task sent
    done: bool = False


@dataclass
class Merger:
    """Hands each endpoint's record to `write` once (see the module's docstring)."""

    write: Write
    shards: dict[int, _Shard] = field(default_factory=dict)
    duplicates: int = 0  # records dropped: their endpoint was already written
    late: int = 0  # batches dropped: their shard was already complete
    rerun: set[int] = field(default_factory=set)  # shards whose records came from 2+ attempts

    def _shard(self, index: int) -> _Shard:
        return self.shards.setdefault(index, _Shard())

    def batch(self, message: dict[str, Any]) -> None:
        """A batch as `batch_message` built it. The sender is a worker of the user's own
        cluster (Dask itself unpickles whatever its workers send)."""
        shard = self._shard(int(message["shard"]))
        if shard.done:
            self.late += 1
            return
        attempt = str(message["attempt"])
        shard.received[attempt] = shard.received.get(attempt, 0) + 1
        if len(shard.received) > 1:
            self.rerun.add(int(message["shard"]))
        records: list[ServiceRecord] = pickle.loads(message["records"])
        for record in records:
            self._record(shard, record)
        self._check_done(shard)

    def _record(self, shard: _Shard, record: ServiceRecord) -> None:
        ep = record.endpoint
        if ep in shard.seen:
            self.duplicates += 1
        elif complete(record):
            shard.held.pop(ep, None)
            shard.seen.add(ep)
            self.write(record)
        else:  # cut short: wait for a complete one (the latest incomplete one is kept)
            if ep in shard.held:
                self.duplicates += 1
            shard.held[ep] = record

    def finished(self, index: int, attempt: str, batches: int) -> None:
        """Shard `index`'s task returned: attempt `attempt` sent `batches` batches."""
        shard = self._shard(index)
        shard.expected = (attempt, batches)
        self._check_done(shard)

    def _check_done(self, shard: _Shard) -> None:
        if shard.done or shard.expected is None:
            return
        attempt, batches = shard.expected
        if shard.received.get(attempt, 0) >= batches:
            self._close(shard)

    def _close(self, shard: _Shard) -> None:
        for record in shard.held.values():
            self.write(record)
        shard.held.clear()
        shard.seen.clear()
        shard.done = True

    def waiting(self) -> list[int]:
        """Shards whose task returned but whose batches have not all arrived."""
        return [i for i, s in self.shards.items() if s.expected is not None and not s.done]

    def close(self) -> None:
        """The end (or a stop): write what is still held back, forget every shard."""
        for shard in self.shards.values():
            if not shard.done:
                self._close(shard)
