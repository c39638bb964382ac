"""JSON Lines: one record per endpoint, written and flushed as soon as it is known."""

from __future__ import annotations

import json
from typing import IO

from probescan.model import ServiceRecord


def record_line(record: ServiceRecord) -> str:
    return json.dumps(record.to_dict(), ensure_ascii=False, separators=(",", ":"))


class JsonlSink:
    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def __call__(self, record: ServiceRecord) -> None:
        self._stream.write(record_line(record) + "\n")
        self._stream.flush()
