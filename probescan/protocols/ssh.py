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


@dataclass(frozen=True, slots=True)
class KexInit:
    cookie: bytes
    kex_algorithms: tuple[str, ...]
    server_host_key_algorithms: tuple[str, ...]
    encryption_algorithms_c2s: tuple[str, ...]
    encryption_algorithms_s2c: tuple[str, ...]
    mac_algorithms_c2s: tuple[str, ...]
    mac_algorithms_s2c: tuple[str, ...]
    compression_algorithms_c2s: tuple[str, ...]
    compression_algorithms_s2c: tuple[str, ...]
    languages_c2s: tuple[str, ...]
    languages_s2c: tuple[str, ...]
    first_kex_packet_follows: bool
    reserved: int
    packet_length: int
    padding_length: int
    length: int  # bytes of the input taken by the packet (4 + packet_length; no MAC yet)


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


class _Payload:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ParseError("KEXINIT: field runs past the end of the packet")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def uint32(self) -> int:
        return int.from_bytes(self.take(4), "big")

    def name_list(self) -> tuple[str, ...]:
        raw = self.take(self.uint32())
        if not raw:
            return ()
        if raw.translate(None, _TOKEN_DELETE):  # anything left is not a token byte
            raise ParseError(f"KEXINIT: name-list is not printable ASCII: {raw[:32]!r}")
        names = tuple(raw.decode("ascii").split(","))
        if "" in names:
            raise ParseError(f"KEXINIT: empty name in {raw[:64]!r}")
        return names


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
    body = _Payload(data[6 : 4 + packet_length - padding])
    cookie = body.take(16)
    (kex, host_key, enc_c2s, enc_s2c, mac_c2s, mac_s2c, cmp_c2s, cmp_s2c, lang_c2s, lang_s2c) = [
        body.name_list() for _ in range(10)
    ]
    follows = body.take(1)[0]
    reserved = body.uint32()
    if body.pos != len(body.data):
        raise ParseError(f"KEXINIT: {len(body.data) - body.pos} unexpected trailing bytes")
    return KexInit(
        cookie=cookie,
        kex_algorithms=kex,
        server_host_key_algorithms=host_key,
        encryption_algorithms_c2s=enc_c2s,
        encryption_algorithms_s2c=enc_s2c,
        mac_algorithms_c2s=mac_c2s,
        mac_algorithms_s2c=mac_s2c,
        compression_algorithms_c2s=cmp_c2s,
        compression_algorithms_s2c=cmp_s2c,
        languages_c2s=lang_c2s,
        languages_s2c=lang_s2c,
        first_kex_packet_follows=follows != 0,
        reserved=reserved,
        packet_length=packet_length,
        padding_length=padding,
        length=4 + packet_length,
    )


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("ascii")).hexdigest()


def _hassh(*lists: tuple[str, ...]) -> tuple[str, str]:
    text = ";".join(",".join(names) for names in lists)
    return text, _md5(text)


def hassh(kex: KexInit) -> tuple[str, str]:
    """Client HASSH: "kex;encryption c2s;mac c2s;compression c2s" and its MD5."""
    return _hassh(kex.kex_algorithms, kex.encryption_algorithms_c2s, kex.mac_algorithms_c2s,
                  kex.compression_algorithms_c2s)


def hassh_server(kex: KexInit) -> tuple[str, str]:
    """HASSHServer: "kex;encryption s2c;mac s2c;compression s2c" and its MD5."""
    return _hassh(kex.kex_algorithms, kex.encryption_algorithms_s2c, kex.mac_algorithms_s2c,
                  kex.compression_algorithms_s2c)
