"""JSON Lines: one record per endpoint, written and flushed as soon as it is known."""

from __future__ import annotations

import json
from typing import IO, Any

import orjson

from probescan.model import ServiceRecord


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
    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def __call__(self, record: ServiceRecord) -> None:
        self._stream.write(record_line(record) + "\n")
        self._stream.flush()
