"""VPN tunnels: OpenVPN, WireGuard, SoftEther and DNSCrypt.

OpenVPN (openvpn.net "OpenVPN protocol", ssl.h / ssl_pkt.h of OpenVPN 2.x): a packet opens
with opcode (5 bits) and key id (3 bits); over TCP each packet is behind a 2-byte length.
Control packets (opcodes 1-5, 7, 8, 10, 11) carry the sender's 8-byte session id next,
then (with tls-auth) an HMAC of 20, 32 or 64 bytes, a packet id and a timestamp, then an
ACK array (count, packet ids, the peer's session id) and the message packet id. A session
begins with a hard reset: the client's (opcode 1, 7 or 10, key id 0), answered by the
server's (opcode 2 or 8) that acknowledges it with the client's session id. Claimed for
such a pair (or two hard resets whose layouts hold, tls-crypt hiding the ACK), or for one
side's hard reset whose layout holds followed by other control packets of its session id.

WireGuard (the WireGuard whitepaper §5.4): a message type byte 1-4 and three reserved
zero bytes; handshake initiation 148 bytes, response 92 bytes (its receiver index is the
initiator's sender index), cookie reply 64 bytes, transport data 32 bytes or more with a
receiver index, a little-endian 64-bit counter and 16-byte blocks. Transport data alone is
claimed for two or more packets of one receiver index whose counters advance.

DNSCrypt (dnscrypt.info "DNSCrypt version 2 protocol specification"): a client first asks
for the resolver's certificates, a DNS TXT query for "2.dnscrypt-cert.<provider name>",
answered by TXT records starting with "DNSC" and the certificate version. Encrypted
responses start with the resolver magic "r6fnvWj8" and a nonce whose first half is the
client's nonce (bytes 40-51 of its query, after its 8-byte magic and 32-byte public key).
Over TCP every message is behind a 2-byte length.

SoftEther VPN (its source, Mayaqua/Pack.c and Cedar/NatTraversal): UDP control messages
are PACKs, a big-endian element count then per element a name (length + 1, name), a value
type (0 int, 1 data, 2 string, 3 unicode string, 4 int64), a value count and the values,
filling the datagram; its NAT traversal server answers with the text "IP=<address>,
PORT=<port>".
"""

from __future__ import annotations

import itertools
import re

from probescan.detect.base import (
    BOTH,
    NEED_MORE,
    UDP,
    Detection,
    Detector,
    Fact,
    Messages,
    Result,
)
from probescan.protocols import dns
from probescan.protocols.errors import NeedMore, ParseError

_LOOK = 8
OPCODES = {1: "hard_reset_client_v1", 2: "hard_reset_server_v1", 3: "soft_reset", 4: "control",
           5: "ack", 6: "data_v1", 7: "hard_reset_client_v2", 8: "hard_reset_server_v2",
           9: "data_v2", 10: "hard_reset_client_v3", 11: "control_wkc"}  # fmt: skip
CONTROL = frozenset({1, 2, 3, 4, 5, 7, 8, 10, 11})
CLIENT_RESETS = frozenset({1, 7, 10})
SERVER_RESETS = frozenset({2, 8})


def _frames(stream: bytes) -> tuple[list[bytes], bool]:
    """OpenVPN over TCP: the length-framed packets, and whether the last one is cut."""
    out: list[bytes] = []
    pos = 0
    while pos + 2 <= len(stream) and len(out) < _LOOK:
        size = int.from_bytes(stream[pos : pos + 2], "big")
        if size < 9 or size > 1600:
            return out, False
        if pos + 2 + size > len(stream):
            return out, True
        out.append(stream[pos + 2 : pos + 2 + size])
        pos += 2 + size
    return out, pos < len(stream)


def _acked_layout(p: bytes, server: bool) -> bool:
    """A hard reset in clear (no auth, or tls-auth with an HMAC of 20, 32 or 64 bytes): an
    ACK array that is empty (client) or acknowledges with the peer's session id (server),
    then message packet id 0 and at most a short payload (early-negotiation TLVs)."""
    for hmac in (0, 20, 32, 64):
        pos = 9 + (hmac + 8 if hmac else 0)
        if pos + 5 > len(p) or (hmac and not 0 < int.from_bytes(p[9 + hmac : 13 + hmac],
                                                                   "big") <= 16):
            continue
        count = p[pos]
        if (count != 0) if not server else not 1 <= count <= 8:
            continue
        pos += 1 + (4 * count + 8 if count else 0)
        if p[pos : pos + 4] == b"\x00\x00\x00\x00" and len(p) - pos - 4 <= 32:
            return True
    return False


def _reset_ok(p: bytes) -> bool:
    """A hard reset (V2 / V3, key id 0) whose layout holds."""
    if len(p) < 14 or p[0] & 7 or p[0] >> 3 not in (7, 8, 10):
        return False
    opcode = p[0] >> 3
    if opcode == 10:  # tls-crypt-v2: the wrapped client key ends with its own length
        wkc = int.from_bytes(p[-2:], "big")
        return 32 < wkc <= len(p) - 54 and 0 < int.from_bytes(p[9:13], "big") <= 16
    tls_crypt = len(p) >= 54 and 0 < int.from_bytes(p[9:13], "big") <= 16
    return tls_crypt or _acked_layout(p, opcode == 8)


def _session(packets: list[bytes]) -> bool:
    """A side whose first packet is a hard reset whose layout holds, followed by another,
    different control packet of the same session id."""
    if len(packets) < 2 or not _reset_ok(packets[0]):
        return False
    sid = packets[0][1:9]
    later = [p for p in packets[1:] if p != packets[0]]
    return bool(later) and all(len(p) >= 14 and p[0] >> 3 in CONTROL - {1, 2} and
                               p[1:9] == sid for p in packets[1:])


def _acks(server_first: bytes, client_sid: bytes) -> bool:
    """The server's hard reset acknowledges the client's: its ACK array holds the client's
    session id (after the server's own id and any HMAC / packet id / timestamp)."""
    return (len(server_first) >= 14 and server_first[0] >> 3 in SERVER_RESETS
            and not server_first[0] & 7 and client_sid in server_first[9:])


def _openvpn_facts(first: bytes) -> dict[str, Fact]:
    return {"openvpn_opcode": OPCODES.get(first[0] >> 3, str(first[0] >> 3))}


def openvpn(msgs: Messages) -> Result:
    waiting = False
    if msgs.transport == "tcp":
        client, cut_c = _frames(msgs.client_stream)
        server, cut_s = _frames(msgs.server_stream)
        waiting = cut_c or cut_s
    else:
        client, server = list(msgs.client[:_LOOK]), list(msgs.server[:_LOOK])
    for mine, other, resets, swapped in ((client, server, CLIENT_RESETS, False),
                                         (server, client, CLIENT_RESETS, True)):
        if mine and len(mine[0]) >= 14 and mine[0][0] >> 3 in resets and not mine[0][0] & 7 \
                and other and _acks(other[0], mine[0][1:9]):
            return Detection("openvpn", _openvpn_facts(mine[0]), swapped=swapped)
    if client and server and _reset_ok(client[0]) and _reset_ok(server[0]) and \
            client[0][0] >> 3 in CLIENT_RESETS and server[0][0] >> 3 in SERVER_RESETS:
        return Detection("openvpn", _openvpn_facts(client[0]))  # tls-crypt: ACK encrypted
    for mine in (client, server):
        if _session(mine):
            return Detection("openvpn", _openvpn_facts(mine[0]))
    for mine in (client, server):
        if len(mine) == 1 and _reset_ok(mine[0]):
            waiting = True
    return NEED_MORE if waiting else None


# --- WireGuard -------------------------------------------------------------------------------

WG_SIZES = {1: 148, 2: 92, 3: 64}
WG_NAMES = {1: "handshake_initiation", 2: "handshake_response", 3: "cookie_reply",
            4: "transport_data"}


def _wg_type(p: bytes) -> int:
    if len(p) < 32 or p[1:4] != b"\x00\x00\x00" or not 1 <= p[0] <= 4:
        return 0
    if p[0] == 4:
        return 4 if (len(p) - 32) % 16 == 0 else 0
    return p[0] if len(p) == WG_SIZES[p[0]] else 0


def _wg_transport(packets: tuple[bytes, ...]) -> bool:
    data = [p for p in packets[:_LOOK] if _wg_type(p) == 4]
    if len(data) < 2 or len({p[4:8] for p in data}) != 1:
        return False
    counters = [int.from_bytes(p[8:16], "little") for p in data]
    return all(0 < b - a <= 1024 for a, b in itertools.pairwise(counters))


def wireguard(msgs: Messages) -> Result:
    """A handshake initiation (148 bytes, a sender index) proves WireGuard; a response or
    cookie reply (92, 64 bytes) is too short to prove it alone (other protocols' messages can
    have its shape), so it counts only beside the initiation. Without a handshake: transport
    data of one receiver with rising counters."""
    for side in msgs.sides:
        for p in side[:2]:
            if _wg_type(p) == 1 and p[4:8] != b"\x00\x00\x00\x00":
                return Detection("wireguard", {"wireguard_message": WG_NAMES[1]})
    for side in msgs.sides:
        if _wg_transport(side):
            return Detection("wireguard", {"wireguard_message": "transport_data"})
    return None


# --- SoftEther -------------------------------------------------------------------------------

PACK_FIXED = {0: 4, 4: 8}
MAX_PACK_ELEMENTS = 64


def softether_pack(data: bytes) -> list[str] | None:
    """The element names of a SoftEther PACK filling `data`, or None."""
    try:
        count = int.from_bytes(data[0:4], "big")
        if not 1 <= count <= MAX_PACK_ELEMENTS or len(data) < 8:
            return None
        pos, names = 4, []
        for _ in range(count):
            size = int.from_bytes(data[pos : pos + 4], "big")
            name = data[pos + 4 : pos + 3 + size]
            if not 2 <= size <= 64 or len(name) != size - 1 or not name.isascii() \
                    or not name.decode("ascii").isprintable():
                return None
            pos += 3 + size
            vtype = int.from_bytes(data[pos : pos + 4], "big")
            values = int.from_bytes(data[pos + 4 : pos + 8], "big")
            pos += 8
            if vtype > 4 or not 1 <= values <= 1024 or pos > len(data):
                return None
            for _ in range(values):
                step = PACK_FIXED.get(vtype)
                if step is None:
                    step = 4 + int.from_bytes(data[pos : pos + 4], "big")
                pos += step
                if pos > len(data):
                    return None
            names.append(name.decode("ascii"))
        return names if pos == len(data) else None
    except IndexError:  # pragma: no cover - slices never raise
        return None


_NAT_T_ANSWER = re.compile(rb"IP=[0-9a-fA-F.:]{2,45},PORT=\d{1,5}")


def softether(msgs: Messages) -> Result:
    for side in msgs.sides:
        for data in side[:_LOOK]:
            if data.startswith(b"IP=") and _NAT_T_ANSWER.fullmatch(data):
                return Detection("softether", {"softether_message": "nat_t_answer"})
            if data[:3] == b"\x00\x00\x00":
                names = softether_pack(data)
                if names:
                    return Detection("softether", {"softether_pack": tuple(names[:4])})
    return None


# --- DNSCrypt --------------------------------------------------------------------------------

RESOLVER_MAGIC = b"r6fnvWj8"
CERT_PREFIX = "2.dnscrypt-cert."
CERT_MAGIC = b"DNSC"


def _cert_exchange(data: bytes, tcp: bool) -> dict[str, Fact] | None:
    """A certificate query or its answer: DNS, TXT, the name "2.dnscrypt-cert.<name>"."""
    if b"\x012\x0ddnscrypt-cert" not in data[:32].lower():
        return None
    try:
        msg = dns.parse_message(data, tcp=tcp)
    except (NeedMore, ParseError):
        return None
    questions = [q for q in msg.questions if q.type == dns.TXT]
    if not questions or not questions[0].name.lower().startswith(CERT_PREFIX):
        return None
    facts: dict[str, Fact] = {"dnscrypt_provider": questions[0].name[len(CERT_PREFIX):]}
    for record in msg.answers:
        if record.type == dns.TXT and record.rdata[1:5] == CERT_MAGIC:
            facts["dnscrypt_cert_version"] = int.from_bytes(record.rdata[5:7], "big")
    return facts


def dnscrypt(msgs: Messages) -> Result:
    tcp = msgs.transport == "tcp"
    sides = ([msgs.client_stream], [msgs.server_stream]) if tcp else msgs.sides
    found: dict[str, Fact] = {}
    for side in sides:
        for data in side[:2]:
            found.update(_cert_exchange(data, tcp) or {})
    if found:
        return Detection("dnscrypt", found)
    for mine, other in ((sides[1], sides[0]), (sides[0], sides[1])):
        for data in mine[:2]:
            body = data[2:] if tcp else data
            if body[:8] == RESOLVER_MAGIC and len(body) >= 20 + 16:
                facts = {"dnscrypt_message": "response"}
                query = (other[0][2:] if tcp else other[0]) if other else b""
                if query[40:52] == body[8:20]:
                    facts["dnscrypt_nonce"] = "matches"
                return Detection("dnscrypt", facts, swapped=mine is sides[0])
    return None


DETECTORS = (
    Detector("openvpn", BOTH, openvpn,
             "client hard reset (opcode 1/7/10, key id 0) answered by a server hard reset "
             "whose ACK holds the client's session id; or one side's hard reset and more "
             "control packets of the same 8-byte session id; TCP: 2-byte length framing",
             "OpenVPN protocol (openvpn.net security overview; ssl_pkt.h)"),
    Detector("wireguard", UDP, wireguard,
             "either side: a handshake initiation (148 bytes), response (92) or cookie reply "
             "(64) with type byte and three zero bytes; or two or more transport data "
             "packets of one receiver index with advancing counters",
             "WireGuard whitepaper §5.4 (Donenfeld, NDSS 2017)"),
    Detector("softether", UDP, softether,
             "either side: a PACK (element count, named typed values) filling the datagram, "
             "or the NAT traversal answer IP=<address>,PORT=<port>",
             "SoftEther VPN source: Mayaqua/Pack.c, Cedar/NatTraversal"),
    Detector("dnscrypt", BOTH, dnscrypt,
             "the certificate query (DNS TXT for 2.dnscrypt-cert.<provider>) or its DNSC "
             "answer; an encrypted response opening with the resolver magic r6fnvWj8 (its "
             "nonce starting with the client's)",
             "DNSCrypt version 2 protocol specification (dnscrypt.info)"),
)
