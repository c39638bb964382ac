"""TLS handshake facts from the first bytes of a flow: ClientHello, ServerHello, certificates.

Plaintext handshake only (record layer + handshake messages, possibly spanning records).
A message is parsed once every record holding it is complete: a shorter prefix raises
NeedMore, bytes that cannot start a TLS handshake raise ParseError. This module reads the
records and finds the messages; their bodies (the hellos, their extensions, the certificate
chain) are read by probescan.protocols.tls_messages. The JA3/JA3S/JA4 fingerprints of the
parsed hellos are in probescan.protocols.tls_fingerprints.
"""

from __future__ import annotations

from probescan.protocols.errors import NeedMore, ParseError
from probescan.protocols.tls_messages import (
    TLS1_3,
    ClientHello,
    ServerHello,
    certificate_list,
    client_hello,
    server_hello,
)

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
    return client_hello(message, record_version, length)


def parse_server_hello(data: bytes) -> ServerHello:
    """The ServerHello at the start of the server's bytes (record layer included)."""
    hs, message = _first_message(data, HS_SERVER_HELLO, "ServerHello")
    record_version = int.from_bytes(data[1:3], "big")
    length = hs.data_end(4 + len(message))
    return server_hello(message, record_version, length)


def parse_certificates(data: bytes) -> tuple[bytes, ...]:
    """DER certificates of the server's Certificate message, when it travels in the clear.

    Walks the handshake messages that follow the ServerHello in the server's first flight.
    Returns () when none can be seen: TLS 1.3 (encrypted), a HelloRetryRequest, an abbreviated
    (resumed) handshake, or an anonymous/PSK suite that goes straight to key exchange.
    """
    hs, message = _first_message(data, HS_SERVER_HELLO, "ServerHello")
    hello = server_hello(message, 0, 0)
    if hello.version >= TLS1_3 or hello.hello_retry_request:
        return ()
    at = 4 + len(message)
    while True:
        found = hs.message(at)
        if found is None:  # ChangeCipherSpec (resumption) or an alert: no certificate
            return ()
        msg_type, body = found
        if msg_type == HS_CERTIFICATE:
            return certificate_list(body)
        if msg_type in (HS_SERVER_KEY_EXCHANGE, HS_CERTIFICATE_REQUEST, HS_SERVER_HELLO_DONE):
            return ()
        at += 4 + len(body)

