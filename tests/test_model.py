"""Raw bytes in records: printable ASCII as is, everything else escaped, reversibly."""

from __future__ import annotations

import ast
import os

from probescan.model import escape_bytes

NAMED = {0x5C: "\\\\", 0x0D: "\\r", 0x0A: "\\n", 0x09: "\\t"}


def test_every_byte_value_escapes_to_its_documented_form() -> None:
    for b in range(256):
        want = NAMED.get(b, chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}")
        assert escape_bytes(bytes([b])) == want, b


def test_quotes_stay_unescaped() -> None:
    assert escape_bytes(b"it's \"x\"") == "it's \"x\""
    assert escape_bytes(b"\\'") == "\\\\'"


def test_escaped_text_reads_back_to_the_same_bytes() -> None:
    for _ in range(200):
        data = os.urandom(64) + b"'\\'\"\r\n"
        assert ast.literal_eval('b"' + escape_bytes(data).replace('"', '\\"') + '"') == data
