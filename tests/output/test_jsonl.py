"""Records as JSON lines: the fast encoder writes what the standard library reads back."""

from __future__ import annotations

import json

from probescan.output.jsonl import json_line

RECORD = {
    "kind": "flow", "id": 7, "first_seen": 1795612941.95553, "ok": True, "none": None,
    "nested": {"list": [1, 2.5, "x"], "raw": "SSH-2.0\\r\\n\\x00"}, "cert": "CN=Zürich",
}


def test_line_reads_back_as_the_same_record() -> None:
    line = json_line(RECORD)
    assert "\n" not in line
    assert json.loads(line) == RECORD


def test_ascii_only_line_escapes_non_ascii_text() -> None:
    line = json_line(RECORD, ascii_only=True)
    assert line.isascii()
    assert json.loads(line) == RECORD


def test_integers_beyond_64_bits_are_still_written() -> None:
    big = {"serial": 2**80 + 1}
    assert json.loads(json_line(big)) == big
