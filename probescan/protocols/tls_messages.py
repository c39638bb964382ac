"""TLS handshake message bodies: the ClientHello and ServerHello with the extensions read
from them, and the Certificate message's chain (pure).

Each function takes one complete message body (probescan.protocols.tls reassembles them from
the records); running out of bytes or a malformed field raises ParseError.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from probescan.protocols.errors import ParseError

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


def client_hello(message: bytes, record_version: int, length: int) -> ClientHello:
    """The ClientHello of a complete message body; `length`: the input bytes it took."""
    body = _Body(message, "ClientHello")
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


def server_hello(message: bytes, record_version: int, length: int) -> ServerHello:
    """The ServerHello of a complete message body; `length`: the input bytes it took."""
    body = _Body(message, "ServerHello")
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


def certificate_list(message: bytes) -> tuple[bytes, ...]:
    """The DER certificates of a Certificate message body (TLS 1.2 and before)."""
    chain = _Body(_whole(message, 3, "Certificate"), "Certificate")
    certs: list[bytes] = []
    while chain.remaining():
        der = chain.vector(3)
        if not der:
            raise ParseError("Certificate: empty certificate")
        certs.append(der)
    return tuple(certs)
