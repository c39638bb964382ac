"""Applications' own transports: EAQ's round-trip probes, Cloudflare WARP's WireGuard
variant, Spotify's access-point handshake.

EAQ (Entidade Aferidora da Qualidade, Brazil's broadband measurement; nDPI's eaq
dissector records the 16-octet datagrams and their sequence number): the measuring client
sends 16-octet datagrams, a 32-bit sequence number that grows by one and a send time as
seconds and microseconds (below 1,000,000) that only grows, then four octets of its own;
the server reflects the first twelve octets. Claimed when the server's datagram repeats a
client datagram's number and time; a client's run alone is left unclaimed (any probe of a
counter and a timestamp looks the same).

Cloudflare WARP (nDPI's cloudflare_warp dissector describes it): WireGuard messages whose
type octet is 0xc1-0xc4 instead of 1-4; the initiation (0xc1) keeps its three reserved
octets zero, the response (0xc2) carries the responder's 32-bit index, and the transport
data (0xc4) messages name that index as receiver with a 64-bit little-endian counter.
Claimed when the client's initiation, the server's response and a client data message
naming the response's index are all seen.

Spotify access point (librespot's connection handshake and the ClientHello /
APResponseMessage definitions of Spotify's keyexchange.proto): the client opens with
0x00 0x04, a 32-bit length counting the whole message and a ClientHello protobuf (fields
10-80 in steps of ten, field 10 the build info first); the server answers with a 32-bit
length and an APResponseMessage (field 10 the challenge, 20 an upgrade, 30 a login
failure). Claimed when a message's protobuf fields fill its length exactly.
"""

from __future__ import annotations

from probescan.detect.base import (
    NEED_MORE,
    TCP,
    UDP,
    Detection,
    Detector,
    Messages,
    Result,
)
from probescan.detect.framing import varint

# ---------------------------------------------------------------- EAQ

EAQ_SIZE = 16
EAQ_LOOK = 16


def _eaq(p: bytes) -> tuple[int, int] | None:
    """(sequence number, send time in microseconds) of an EAQ probe, or None."""
    if len(p) != EAQ_SIZE:
        return None
    usec = int.from_bytes(p[8:12], "big")
    if usec >= 1_000_000:
        return None
    return int.from_bytes(p[0:4], "big"), int.from_bytes(p[4:8], "big") * 1_000_000 + usec


def _eaq_run(side: tuple[bytes, ...]) -> int:
    """How many of the side's first datagrams are probes in order: numbers growing by one,
    times growing."""
    run, last = 0, (-1, -1)
    for p in side[:EAQ_LOOK]:
        probe = _eaq(p)
        if probe is None or (run and (probe[0] != last[0] + 1 or probe[1] <= last[1])):
            break
        run, last = run + 1, probe
    return run


def eaq(msgs: Messages) -> Result:
    if not msgs.client or _eaq(msgs.client[0]) is None:
        return None
    run = _eaq_run(msgs.client)
    sent = {p[:12] for p in msgs.client[:run]}
    reflected = sum(1 for p in msgs.server[:EAQ_LOOK] if _eaq(p) and p[:12] in sent)
    if reflected:
        return Detection("eaq", {"eaq_probes": run, "eaq_reflected": reflected})
    return NEED_MORE if run == len(msgs.client) and not msgs.server else None


# ---------------------------------------------------------------- Cloudflare WARP

WARP_INIT, WARP_RESPONSE, WARP_DATA = 0xC1, 0xC2, 0xC4
WARP_MIN_INIT = 148  # WireGuard's initiation size; WARP's is larger
WARP_MIN_DATA = 32  # header and an authentication tag


def cloudflare_warp(msgs: Messages) -> Result:
    c, s = msgs.client, msgs.server
    if not c or len(c[0]) < WARP_MIN_INIT or c[0][:4] != bytes((WARP_INIT, 0, 0, 0)):
        return None
    if not s:
        return NEED_MORE
    response = s[0]
    if len(response) < 16 or response[0] != WARP_RESPONSE:
        return None
    index = response[4:8]
    for p in c[1:EAQ_LOOK]:
        if (len(p) >= WARP_MIN_DATA and p[0] == WARP_DATA and p[4:8] == index
                and p[1:4] == response[1:4]
                and int.from_bytes(p[8:16], "little") < 1 << 32):
            return Detection("cloudflarewarp", {"warp_message": "transport_data"})
    return NEED_MORE if len(c) < 4 else None


# ---------------------------------------------------------------- Spotify AP

HELLO_FIELDS = frozenset(range(10, 90, 10))  # ClientHello
HELLO_OPENING = frozenset((10,))  # build_info
RESPONSE_FIELDS = frozenset((10, 20, 30))  # APResponseMessage: challenge, upgrade, failure
AP_OPENING_TAGS = b"\x52\xa2\xf2"  # the first octet of field 10, 20 or 30's tag
MAX_AP_MESSAGE = 1 << 16


def _fields_fill(data: bytes, allowed: frozenset[int], opening: frozenset[int]) -> bool:
    """The protobuf message is top-level fields of `allowed` numbers, varints or
    length-delimited, the first one of `opening` and length-delimited, that end exactly
    at its end."""
    pos, first = 0, True
    while pos < len(data):
        tag = varint(data, pos, 10)
        if tag is None:
            return False
        field, wire = tag[0] >> 3, tag[0] & 7
        if field not in allowed or wire not in (0, 2) or (
                first and (field not in opening or wire != 2)):
            return False
        value = varint(data, tag[1], 10)
        if value is None:
            return False
        pos = value[1] + (value[0] if wire == 2 else 0)
        first = False
    return pos == len(data) and not first


def _ap_side(data: bytes, client: bool) -> Result:
    head = 6 if client else 4
    if client and data[:2] != b"\x00\x04":
        return None
    if len(data) < head + 1:
        return None
    size = int.from_bytes(data[head - 4:head], "big")
    if not head + 2 <= size <= MAX_AP_MESSAGE or data[head] not in (
            AP_OPENING_TAGS[:1] if client else AP_OPENING_TAGS):
        return None
    if len(data) < size:
        return NEED_MORE
    fields, opening = ((HELLO_FIELDS, HELLO_OPENING) if client
                       else (RESPONSE_FIELDS, RESPONSE_FIELDS))
    if not _fields_fill(data[head:size], fields, opening):
        return None
    return Detection("spotify", {"spotify_ap": "client_hello" if client else "ap_response"})


def spotify_ap(msgs: Messages) -> Result:
    c = _ap_side(msgs.client_stream, client=True)
    if isinstance(c, Detection):
        return c
    s = _ap_side(msgs.server_stream, client=False)
    if isinstance(s, Detection):
        return s
    return NEED_MORE if NEED_MORE in (c, s) else None


DETECTORS = (
    Detector("eaq", UDP, eaq,
             "both sides: the client's 16-octet probes (a sequence number growing by one, a "
             "send time in seconds and microseconds) reflected by the server",
             "EAQ broadband measurement (no public specification; nDPI's eaq dissector "
             "records the 16-octet datagrams and their sequence number)"),
    Detector("cloudflarewarp", UDP, cloudflare_warp,
             "both sides: a 0xc1 initiation (reserved octets zero), the 0xc2 response and a "
             "client 0xc4 data message naming the response's index",
             "WireGuard whitepaper §5.4 with Cloudflare WARP's type octets 0xc1-0xc4 "
             "(nDPI's cloudflare_warp dissector)"),
    Detector("spotify", TCP, spotify_ap,
             "client: 0x00 0x04, a 32-bit length and a ClientHello protobuf filling it; "
             "server: a 32-bit length and an APResponseMessage filling it",
             "librespot's access-point handshake; Spotify keyexchange.proto (ClientHello, "
             "APResponseMessage)"),
)
