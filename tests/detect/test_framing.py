"""The shared checksums against their catalogued check values (CRC of "123456789")."""

from __future__ import annotations

from probescan.detect import NEED_MORE, Messages
from probescan.detect.framing import (
    CLIENT,
    SERVER,
    Hit,
    by_stream,
    crc16_ccitt,
    crc16_dnp,
    crc16_x25,
    cstring,
    printable,
)

CHECK = b"123456789"


def test_crc_check_values() -> None:
    assert crc16_dnp(CHECK) == 0xEA82
    assert crc16_x25(CHECK) == 0x906E
    assert crc16_ccitt(CHECK) == 0x29B1
    assert crc16_ccitt(CHECK, init=0) == 0x31C3


def test_text_helpers() -> None:
    assert printable(b"abc 123") and not printable(b"ab\x00")
    assert printable(b"a\r\n", extra=b"\r\n")
    assert cstring(b"ab\x00cd", 0) == (b"ab", 3)
    assert cstring(b"abcd", 0) is None


def test_by_stream_sets_swapped_from_the_role() -> None:
    def reply(data: bytes) -> Hit | None:
        return Hit(role=SERVER) if data == b"R" else None

    def request(data: bytes) -> Hit | None:
        return Hit(role=CLIENT) if data == b"Q" else None

    r = by_stream(Messages("tcp", client=(b"R",)), "x", reply)
    assert r is not None and r is not NEED_MORE and r.swapped  # type: ignore[union-attr]
    r = by_stream(Messages("tcp", server=(b"Q",)), "x", request)
    assert r is not None and r is not NEED_MORE and r.swapped  # type: ignore[union-attr]
    r = by_stream(Messages("tcp", client=(b"Q",)), "x", request)
    assert r is not None and r is not NEED_MORE and not r.swapped  # type: ignore[union-attr]
