"""SSH facts from the first bytes of a flow: identification string and SSH_MSG_KEXINIT.

RFC 4253 §4.2 (identification) and §6/§7.1 (binary packet, KEXINIT), plus Salesforce's
HASSH / HASSHServer: MD5 of "kex;enc;mac;compression" taken from the KEXINIT.

Typical use on one direction of a flow::

    ident = parse_ident(data, server=True)
    kex = parse_kexinit(data[ident.length:])
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from probescan.protocols.errors import NeedMore, ParseError

MSG_KEXINIT = 20
MAX_IDENT_LINE = 255  # including CR LF (RFC 4253 §4.2)
MAX_PREAMBLE_LINES = 32  # server lines before the identification we are willing to skip
MAX_PREAMBLE_BYTES = 8192
MAX_PACKET = 256 * 1024  # OpenSSH's PACKET_MAX_SIZE; a KEXINIT is a few KiB at most
_PROTO = re.compile(rb"[0-9]+\.[0-9]+")
_TOKEN_BYTES = frozenset(range(0x21, 0x7F))
_TOKEN_DELETE = bytes(sorted(_TOKEN_BYTES))


@dataclass(frozen=True, slots=True)
class SshIdent:
    protoversion: str  # "2.0", "1.99", ...
    softwareversion: str  # "OpenSSH_9.2p1"
    comments: str | None  # "Debian-2+deb12u10"
    preamble: tuple[str, ...]  # lines a server sent before its identification
    line: str  # the identification line without its line end
    length: int  # bytes of the input up to and including the identification line end


class _NameList:
    """One of KEXINIT's name-lists, split on demand (most callers only need HASSH, which
    takes the lists as sent)."""

    def __init__(self, index: int) -> None:
        self.index = index

    def __get__(self, kex: KexInit, owner: type | None = None) -> tuple[str, ...]:
        text = kex.name_lists[self.index]
        return tuple(text.split(",")) if text else ()


@dataclass(frozen=True, slots=True)
class KexInit:
    cookie: bytes
    name_lists: tuple[str, ...]  # the ten name-lists as sent (comma-separated), in order
    first_kex_packet_follows: bool
    reserved: int
    packet_length: int
    padding_length: int
    length: int  # bytes of the input taken by the packet (4 + packet_length; no MAC yet)

    kex_algorithms = _NameList(0)
    server_host_key_algorithms = _NameList(1)
    encryption_algorithms_c2s = _NameList(2)
    encryption_algorithms_s2c = _NameList(3)
    mac_algorithms_c2s = _NameList(4)
    mac_algorithms_s2c = _NameList(5)
    compression_algorithms_c2s = _NameList(6)
    compression_algorithms_s2c = _NameList(7)
    languages_c2s = _NameList(8)
    languages_s2c = _NameList(9)


# --- identification -----------------------------------------------------------------------


def _check_partial_ident(rest: bytes) -> None:
    """Refuse an unfinished identification line that can no longer become valid."""
    if len(rest) >= MAX_IDENT_LINE:
        raise ParseError("SSH identification line longer than 255 bytes")
    if b"\0" in rest:
        raise ParseError("NUL in SSH identification line")
    proto = rest[4:].split(b"-", 1)[0]
    if proto.strip(b"0123456789."):
        raise ParseError(f"bad SSH protocol version {proto!r}")


def _ident(line: bytes, preamble: tuple[str, ...], length: int) -> SshIdent:
    if b"\0" in line or b"\r" in line:
        raise ParseError("control character in SSH identification line")
    head, _, comments = line.partition(b" ")
    proto, sep, software = head[4:].partition(b"-")
    if not sep or not _PROTO.fullmatch(proto):
        raise ParseError(f"bad SSH protocol version in {line[:64]!r}")
    if not software or not set(software) <= _TOKEN_BYTES:
        raise ParseError(f"bad SSH software version in {line[:64]!r}")
    return SshIdent(
        protoversion=proto.decode("ascii"),
        softwareversion=software.decode("ascii"),
        comments=comments.decode("utf-8", "replace") if comments else None,
        preamble=preamble,
        line=line.decode("utf-8", "replace"),
        length=length,
    )


def parse_ident(data: bytes, *, server: bool = False) -> SshIdent:
    """The identification string "SSH-protoversion-softwareversion [comments]" CR LF.

    A bare LF ends a line too. With server=True, up to MAX_PREAMBLE_LINES text lines not
    starting with "SSH-" may come first (RFC 4253 §4.2); a client must start with "SSH-".
    """
    pos = 0
    preamble: list[str] = []
    while True:
        rest = data[pos:]
        if rest[:4] != b"SSH-"[: len(rest[:4])]:
            if not server:
                raise ParseError(f"not an SSH identification: {rest[:16]!r}")
            pos = _skip_preamble_line(data, pos, preamble)
            continue
        end = rest.find(b"\n")
        if end < 0:
            _check_partial_ident(rest)
            raise NeedMore
        if end + 1 > MAX_IDENT_LINE:
            raise ParseError("SSH identification line longer than 255 bytes")
        return _ident(rest[:end].removesuffix(b"\r"), tuple(preamble), pos + end + 1)


def _skip_preamble_line(data: bytes, pos: int, preamble: list[str]) -> int:
    """Record one server line before the identification; return where the next one starts."""
    end = data.find(b"\n", pos)
    line_end = len(data) if end < 0 else end
    if b"\0" in data[pos:line_end]:
        raise ParseError("NUL before the SSH identification")
    if len(preamble) >= MAX_PREAMBLE_LINES or line_end > MAX_PREAMBLE_BYTES:
        raise ParseError("no SSH identification within the allowed preamble")
    if end < 0:
        raise NeedMore
    try:
        preamble.append(data[pos:end].removesuffix(b"\r").decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ParseError(f"binary data before the SSH identification: {e}") from e
    return end + 1


# --- KEXINIT ------------------------------------------------------------------------------


def _name_lists(body: bytes, count: int) -> tuple[list[str], int]:
    """`count` name-lists from offset 16 of a KEXINIT body (after the cookie), checked and
    kept as sent; returns them and the offset after the last."""
    lists: list[str] = []
    pos, end = 16, len(body)
    for _ in range(count):
        if pos + 4 > end:
            raise ParseError("KEXINIT: field runs past the end of the packet")
        n = int.from_bytes(body[pos:pos + 4], "big")
        pos += 4
        if pos + n > end:
            raise ParseError("KEXINIT: field runs past the end of the packet")
        raw = body[pos:pos + n]
        pos += n
        if raw and raw.translate(None, _TOKEN_DELETE):  # anything left is not a token byte
            raise ParseError(f"KEXINIT: name-list is not printable ASCII: {raw[:32]!r}")
        if raw and (raw[0] == 0x2C or raw[-1] == 0x2C or b",," in raw):
            raise ParseError(f"KEXINIT: empty name in {raw[:64]!r}")
        lists.append(raw.decode("ascii"))
    return lists, pos


def parse_kexinit(data: bytes) -> KexInit:
    """The unencrypted SSH_MSG_KEXINIT packet that follows the identification line."""
    if data[:1] and data[0] != 0:  # packet_length <= MAX_PACKET < 2^24
        raise ParseError("not an SSH binary packet: length too large")
    if len(data) < 4:
        raise NeedMore
    packet_length = int.from_bytes(data[:4], "big")
    if not 12 <= packet_length <= MAX_PACKET:
        raise ParseError(f"not an SSH binary packet: packet_length {packet_length}")
    if len(data) >= 5:
        padding = data[4]
        if padding < 4 or padding + 1 >= packet_length:
            raise ParseError(f"not an SSH binary packet: padding_length {padding}")
    if len(data) >= 6 and data[5] != MSG_KEXINIT:
        raise ParseError(f"expected SSH_MSG_KEXINIT (20), got message {data[5]}")
    if len(data) < 4 + packet_length:
        raise NeedMore
    padding = data[4]
    body = data[6 : 4 + packet_length - padding]
    if len(body) < 16:
        raise ParseError("KEXINIT: field runs past the end of the packet")
    lists, pos = _name_lists(body, 10)
    if pos + 5 > len(body):
        raise ParseError("KEXINIT: field runs past the end of the packet")
    follows = body[pos]
    reserved = int.from_bytes(body[pos + 1:pos + 5], "big")
    if pos + 5 != len(body):
        raise ParseError(f"KEXINIT: {len(body) - pos - 5} unexpected trailing bytes")
    return KexInit(
        cookie=body[:16],
        name_lists=tuple(lists),
        first_kex_packet_follows=follows != 0,
        reserved=reserved,
        packet_length=packet_length,
        padding_length=padding,
        length=4 + packet_length,
    )


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("ascii")).hexdigest()


def _hassh(kex: KexInit, *lists: int) -> tuple[str, str]:
    text = ";".join(kex.name_lists[i] for i in lists)
    return text, _md5(text)


def hassh(kex: KexInit) -> tuple[str, str]:
    """Client HASSH: "kex;encryption c2s;mac c2s;compression c2s" and its MD5."""
    return _hassh(kex, 0, 2, 4, 6)


def hassh_server(kex: KexInit) -> tuple[str, str]:
    """HASSHServer: "kex;encryption s2c;mac s2c;compression s2c" and its MD5."""
    return _hassh(kex, 0, 3, 5, 7)
