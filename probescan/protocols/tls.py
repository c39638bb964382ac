"""TLS handshake facts from the first bytes of a flow: ClientHello, ServerHello, certificates.

Plaintext handshake only (record layer + handshake messages, possibly spanning records).
A message is parsed once every record holding it is complete: a shorter prefix raises
NeedMore, bytes that cannot start a TLS handshake raise ParseError. The JA3/JA3S/JA4
fingerprints of the parsed hellos are in probescan.protocols.tls_fingerprints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from probescan.protocols.errors import NeedMore, ParseError

CONTENT_CHANGE_CIPHER_SPEC = 20
CONTENT_ALERT = 21
CONTENT_HANDSHAKE = 22
CONTENT_APPLICATION_DATA = 23
_CONTENT_TYPES = frozenset(
    {CONTENT_CHANGE_CIPHER_SPEC, CONTENT_ALERT, CONTENT_HANDSHAKE, CONTENT_APPLICATION_DATA}
)
# TLSCiphertext may carry 2^14 + 2048 bytes (RFC 5246 §6.2.3); nothing legitimate is longer.
MAX_RECORD = (1 << 14) + 2048
# A hello or certificate chain larger than this is refused rather than waited for.
MAX_HANDSHAKE = 1 << 17

HS_CLIENT_HELLO = 1
HS_SERVER_HELLO = 2
HS_CERTIFICATE = 11
HS_SERVER_KEY_EXCHANGE = 12
HS_CERTIFICATE_REQUEST = 13
HS_SERVER_HELLO_DONE = 14

EXT_SERVER_NAME = 0x0000
EXT_SUPPORTED_GROUPS = 0x000A
EXT_EC_POINT_FORMATS = 0x000B
EXT_SIGNATURE_ALGORITHMS = 0x000D
EXT_ALPN = 0x0010
EXT_SUPPORTED_VERSIONS = 0x002B

TLS1_3 = 0x0304
# ServerHello.random of a HelloRetryRequest (RFC 8446 §4.1.3): SHA-256("HelloRetryRequest").
HELLO_RETRY_REQUEST_RANDOM = bytes.fromhex(
    "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"
)



def is_grease(value: int) -> bool:
    """RFC 8701 GREASE code points: 0x0A0A, 0x1A1A, ... 0xFAFA."""
    return (value & 0x0F0F) == 0x0A0A and (value >> 8) == (value & 0xFF)


class Extension(NamedTuple):
    type: int
    data: bytes


@dataclass(frozen=True, slots=True)
class ClientHello:
    record_version: int  # legacy version in the first record header
    version: int  # ClientHello.legacy_version (what JA3 uses); see max_version
    random: bytes
    session_id: bytes
    cipher_suites: tuple[int, ...]
    compression_methods: tuple[int, ...]
    extensions: tuple[Extension, ...]
    sni: str | None
    alpn: tuple[str, ...]  # protocol ids decoded as latin-1 (one char per byte)
    supported_versions: tuple[int, ...]
    supported_groups: tuple[int, ...]
    ec_point_formats: tuple[int, ...]
    signature_algorithms: tuple[int, ...]
    length: int  # bytes of the input (whole records) that carried the message

    @property
    def max_version(self) -> int:
        """Highest version offered: supported_versions (GREASE left out) or legacy_version."""
        offered = [v for v in self.supported_versions if not is_grease(v)]
        return max(offered) if offered else self.version


@dataclass(frozen=True, slots=True)
class ServerHello:
    record_version: int
    legacy_version: int  # ServerHello.legacy_version (what JA3S uses)
    version: int  # negotiated: supported_versions extension if present, else legacy_version
    random: bytes
    session_id: bytes
    cipher_suite: int
    compression_method: int
    extensions: tuple[Extension, ...]
    alpn: str | None  # the protocol the server selected
    hello_retry_request: bool
    length: int


# --- record layer -------------------------------------------------------------------------


def _check_record_header(data: bytes, pos: int) -> None:
    """Refuse a (possibly partial) record header that is not TLS; return if it may be."""
    head = data[pos : pos + 5]
    if head and head[0] not in _CONTENT_TYPES:
        raise ParseError(f"not a TLS record: content type {head[0]}")
    if len(head) >= 2 and head[1] != 3:
        raise ParseError(f"not a TLS record: version major {head[1]}")
    if len(head) >= 3 and head[2] > 4:
        raise ParseError(f"not a TLS record: version minor {head[2]}")
    if len(head) == 5:
        length = int.from_bytes(head[3:5], "big")
        if length > MAX_RECORD:
            raise ParseError(f"TLS record too long: {length}")
        if length == 0 and head[0] != CONTENT_APPLICATION_DATA:
            raise ParseError("empty TLS record")


class _Handshakes:
    """Handshake bytes carried by the leading run of handshake records of `data`."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.next_record = 0
        self.stream = bytearray()
        self.record_ends: list[tuple[int, int]] = []  # (stream end, data end) per record
        self.stopped_by: int | None = None  # content type of the record that ended the run

    def _pull(self) -> bool:
        """Append the next complete handshake record; False once a non-handshake one follows."""
        if self.stopped_by is not None:
            return False
        pos = self.next_record
        _check_record_header(self.data, pos)
        if len(self.data) < pos + 5:
            raise NeedMore
        ctype = self.data[pos]
        if ctype != CONTENT_HANDSHAKE:
            self.stopped_by = ctype
            return False
        end = pos + 5 + int.from_bytes(self.data[pos + 3 : pos + 5], "big")
        if len(self.data) < end:
            raise NeedMore
        self.stream += self.data[pos + 5 : end]
        self.next_record = end
        self.record_ends.append((len(self.stream), end))
        return True

    def have(self, n: int) -> bool:
        """Make sure the stream holds `n` bytes: NeedMore while records are still arriving."""
        while len(self.stream) < n:
            if not self._pull():
                return False
        return True

    def data_end(self, stream_end: int) -> int:
        """Input offset just past the record holding stream byte `stream_end - 1`."""
        for s_end, d_end in self.record_ends:
            if s_end >= stream_end:
                return d_end
        raise AssertionError("stream offset beyond the records read")

    def message(self, at: int) -> tuple[int, bytes] | None:
        """The handshake message starting at stream offset `at`, or None if the run ended."""
        if not self.have(at + 1):
            return None
        if not self.have(at + 4):
            raise ParseError("handshake message cut short by a non-handshake record")
        msg_type = self.stream[at]
        length = int.from_bytes(self.stream[at + 1 : at + 4], "big")
        if length > MAX_HANDSHAKE:
            raise ParseError(f"handshake message too long: {length}")
        if not self.have(at + 4 + length):
            raise ParseError("handshake message cut short by a non-handshake record")
        return msg_type, bytes(self.stream[at + 4 : at + 4 + length])


def _first_message(data: bytes, want: int, name: str) -> tuple[_Handshakes, bytes]:
    """The first handshake message, which must be of type `want`."""
    if data[:1] and data[0] != CONTENT_HANDSHAKE:
        what = "an alert" if data[0] == CONTENT_ALERT else f"content type {data[0]}"
        raise ParseError(f"expected a {name} handshake record, got {what}")
    if len(data) > 5 and data[5] != want:
        raise ParseError(f"expected a {name} (type {want}), got handshake type {data[5]}")
    hs = _Handshakes(data)
    found = hs.message(0)
    if found is None:  # pragma: no cover - the first record is a handshake record
        raise ParseError(f"no {name}")
    return hs, found[1]


# --- message bodies ------------------------------------------------------------------------


class _Body:
    """Bounds-checked cursor over one complete message: running out is a ParseError."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.pos = 0
        self.what = what

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ParseError(f"{self.what}: field runs past the end")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def vector(self, len_bytes: int) -> bytes:
        return self.take(self.uint(len_bytes))

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def done(self) -> None:
        if self.pos != len(self.data):
            raise ParseError(f"{self.what}: {len(self.data) - self.pos} trailing bytes")


def _u16_list(raw: bytes, what: str) -> tuple[int, ...]:
    if len(raw) % 2:
        raise ParseError(f"{what}: odd length {len(raw)}")
    return tuple(int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2))


def _extensions(body: _Body) -> tuple[Extension, ...]:
    if body.remaining() == 0:  # extensions are optional before TLS 1.3
        return ()
    block = _Body(body.vector(2), "extensions")
    out: list[Extension] = []
    while block.remaining():
        ext_type = block.uint(2)
        out.append(Extension(ext_type, block.vector(2)))
    body.done()
    return tuple(out)


def _whole(raw: bytes, len_bytes: int, what: str) -> bytes:
    """The single length-prefixed vector that must fill `raw` exactly."""
    body = _Body(raw, what)
    inner = body.vector(len_bytes)
    body.done()
    return inner


def _alpn_list(raw: bytes) -> tuple[str, ...]:
    body = _Body(_whole(raw, 2, "ALPN"), "ALPN")
    names: list[str] = []
    while body.remaining():
        names.append(body.vector(1).decode("latin-1"))
    return tuple(names)


def _server_name(raw: bytes) -> str | None:
    body = _Body(_whole(raw, 2, "server_name"), "server_name")
    while body.remaining():
        name_type = body.uint(1)
        name = body.vector(2)
        if name_type == 0:
            return name.decode("latin-1")
    return None


def _hello_start(body: _Body, kind: str) -> tuple[int, bytes, bytes]:
    """The (legacy) version, random and session id that open both hellos."""
    version = body.uint(2)
    random = body.take(32)
    session_id = body.vector(1)
    if len(session_id) > 32:
        raise ParseError(f"{kind}: session id of {len(session_id)} bytes")
    return version, random, session_id


def _client_hello(body: _Body, record_version: int, length: int) -> ClientHello:
    version, random, session_id = _hello_start(body, "ClientHello")
    ciphers = _u16_list(body.vector(2), "cipher_suites")
    if not ciphers:
        raise ParseError("ClientHello: no cipher suites")
    compression = tuple(body.vector(1))
    if not compression:
        raise ParseError("ClientHello: no compression methods")
    extensions = _extensions(body)
    sni: str | None = None
    alpn: tuple[str, ...] = ()
    versions: tuple[int, ...] = ()
    groups: tuple[int, ...] = ()
    point_formats: tuple[int, ...] = ()
    sigalgs: tuple[int, ...] = ()
    for ext in extensions:
        if ext.type == EXT_SERVER_NAME and ext.data:
            sni = _server_name(ext.data)
        elif ext.type == EXT_ALPN:
            alpn = _alpn_list(ext.data)
        elif ext.type == EXT_SUPPORTED_VERSIONS:
            versions = _u16_list(_whole(ext.data, 1, "supported_versions"), "supported_versions")
        elif ext.type == EXT_SUPPORTED_GROUPS:
            groups = _u16_list(_whole(ext.data, 2, "supported_groups"), "supported_groups")
        elif ext.type == EXT_EC_POINT_FORMATS:
            point_formats = tuple(_whole(ext.data, 1, "ec_point_formats"))
        elif ext.type == EXT_SIGNATURE_ALGORITHMS:
            sigalgs = _u16_list(_whole(ext.data, 2, "signature_algorithms"), "signature_algorithms")
    return ClientHello(
        record_version=record_version,
        version=version,
        random=random,
        session_id=session_id,
        cipher_suites=ciphers,
        compression_methods=compression,
        extensions=extensions,
        sni=sni,
        alpn=alpn,
        supported_versions=versions,
        supported_groups=groups,
        ec_point_formats=point_formats,
        signature_algorithms=sigalgs,
        length=length,
    )


def _server_hello(body: _Body, record_version: int, length: int) -> ServerHello:
    legacy_version, random, session_id = _hello_start(body, "ServerHello")
    cipher = body.uint(2)
    compression = body.uint(1)
    extensions = _extensions(body)
    version = legacy_version
    alpn: str | None = None
    for ext in extensions:
        if ext.type == EXT_SUPPORTED_VERSIONS:
            if len(ext.data) != 2:
                raise ParseError("ServerHello: supported_versions is not one version")
            version = int.from_bytes(ext.data, "big")
        elif ext.type == EXT_ALPN:
            names = _alpn_list(ext.data)
            if len(names) != 1:
                raise ParseError(f"ServerHello: ALPN selects {len(names)} protocols")
            alpn = names[0]
    return ServerHello(
        record_version=record_version,
        legacy_version=legacy_version,
        version=version,
        random=random,
        session_id=session_id,
        cipher_suite=cipher,
        compression_method=compression,
        extensions=extensions,
        alpn=alpn,
        hello_retry_request=random == HELLO_RETRY_REQUEST_RANDOM,
        length=length,
    )


# --- public parsers ------------------------------------------------------------------------


def looks_like_tls(data: bytes) -> bool:
    """Cheap check: a handshake record (ClientHello/ServerHello) or an alert record header."""
    if len(data) < 3 or data[1] != 3 or data[2] > 4:
        return False
    if data[0] == CONTENT_ALERT:
        return len(data) < 5 or int.from_bytes(data[3:5], "big") == 2
    if data[0] != CONTENT_HANDSHAKE:
        return False
    if len(data) >= 5 and not 4 <= int.from_bytes(data[3:5], "big") <= MAX_RECORD:
        return False
    return len(data) < 6 or data[5] in (HS_CLIENT_HELLO, HS_SERVER_HELLO)


def parse_client_hello(data: bytes) -> ClientHello:
    """The ClientHello at the start of the client's bytes (record layer included)."""
    hs, message = _first_message(data, HS_CLIENT_HELLO, "ClientHello")
    record_version = int.from_bytes(data[1:3], "big")
    length = hs.data_end(4 + len(message))
    return _client_hello(_Body(message, "ClientHello"), record_version, length)


def parse_server_hello(data: bytes) -> ServerHello:
    """The ServerHello at the start of the server's bytes (record layer included)."""
    hs, message = _first_message(data, HS_SERVER_HELLO, "ServerHello")
    record_version = int.from_bytes(data[1:3], "big")
    length = hs.data_end(4 + len(message))
    return _server_hello(_Body(message, "ServerHello"), record_version, length)


def parse_certificates(data: bytes) -> tuple[bytes, ...]:
    """DER certificates of the server's Certificate message, when it travels in the clear.

    Walks the handshake messages that follow the ServerHello in the server's first flight.
    Returns () when none can be seen: TLS 1.3 (encrypted), a HelloRetryRequest, an abbreviated
    (resumed) handshake, or an anonymous/PSK suite that goes straight to key exchange.
    """
    hs, message = _first_message(data, HS_SERVER_HELLO, "ServerHello")
    hello = _server_hello(_Body(message, "ServerHello"), 0, 0)
    if hello.version >= TLS1_3 or hello.hello_retry_request:
        return ()
    at = 4 + len(message)
    while True:
        found = hs.message(at)
        if found is None:  # ChangeCipherSpec (resumption) or an alert: no certificate
            return ()
        msg_type, body = found
        if msg_type == HS_CERTIFICATE:
            return _certificate_list(body)
        if msg_type in (HS_SERVER_KEY_EXCHANGE, HS_CERTIFICATE_REQUEST, HS_SERVER_HELLO_DONE):
            return ()
        at += 4 + len(body)


def _certificate_list(message: bytes) -> tuple[bytes, ...]:
    chain = _Body(_whole(message, 3, "Certificate"), "Certificate")
    certs: list[bytes] = []
    while chain.remaining():
        der = chain.vector(3)
        if not der:
            raise ParseError("Certificate: empty certificate")
        certs.append(der)
    return tuple(certs)
