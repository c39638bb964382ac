"""Miscellaneous network protocols: AFS's RX, FLUTE file delivery, canonical's Raft
transport, Cisco Meraki's cloud tunnel, the MGLNDD probe.

* RX (the AFS remote procedure call transport, OpenAFS `rx/rx_packet.h`; Zeldovich & al.,
  "RX protocol specification"): a 28-byte big-endian header of epoch, connection id (its
  low two bits the channel), call number, sequence number, serial number, packet type
  (1 DATA ... 13 VERSION), flags (CLIENT_INITIATED 1, REQUEST_ACK 2, LAST_PACKET 4,
  MORE_PACKETS 8, SLOW_START / JUMBO 0x20), user status, security index, a spare word and
  the service id. Claimed when a packet of each side belongs to one call (same epoch,
  connection and call number) and exactly one of the two carries CLIENT_INITIATED.
* FLUTE (RFC 6726) over ALC (RFC 5775) and LCT (RFC 5651): an LCT header of version 1
  whose CCI, TSI and TOI fields and header extensions fill HDR_LEN exactly; claimed for
  the File Delivery Table: TOI 0, an EXT_FDT extension (HET 192, FLUTE version 1 or 2)
  and an XML payload holding an `FDT-Instance`.
* Raft (canonical/raft, the C library under dqlite: `uv_tcp_connect.c`, `uv_encoding.c`):
  a connecting server sends a handshake of little-endian 64-bit words, protocol version 1,
  its server id and the size of its address (NUL-terminated, padded to 8 bytes), then
  messages of a 64-bit type (1 AppendEntries ... 6 TimeoutNow) and a 64-bit header size
  that the type fixes (RequestVote 32 or 40, its result 16 or 24, AppendEntries 40 or 48
  and 16 per entry, its result 24, TimeoutNow 24).
* Meraki cloud tunnel (the UDP channel Meraki devices keep to the Meraki cloud; its magic
  0xFEF72891 as nDPI's merakicloud dissector records it): every datagram starts with the
  magic, two bytes, and a 16-bit length equal to the datagram.
* MGLNDD: the probe `MGLNDD_<address>_<port>` (and a line end) that RIPE Atlas' Magellan
  measurements send to UDP and TCP ports; nDPI names it RipeAtlas.
"""

from __future__ import annotations

import ipaddress
import re

from probescan.detect.base import BOTH, TCP, UDP, Detection, Detector, Fact, Messages, Result

_LOOK = 6

# --- RX --------------------------------------------------------------------------------

RX_HEADER = 28
RX_TYPES = {1: "data", 2: "ack", 3: "busy", 4: "abort", 5: "ackall", 6: "challenge",
            7: "response", 8: "debug", 9: "params", 10: "params", 11: "params",
            12: "params", 13: "version"}
_RX_FLAGS = 0x2F  # CLIENT_INITIATED, REQUEST_ACK, LAST_PACKET, MORE_PACKETS, 0x20
_RX_CLIENT_INITIATED = 0x01


def rx_header(p: bytes) -> tuple[bytes, int, int, int] | None:
    """(epoch + connection id, call number, type, flags) of a plausible RX packet."""
    if len(p) < RX_HEADER or p[20] not in RX_TYPES or p[21] & ~_RX_FLAGS or p[23] > 7:
        return None
    if not any(p[:4]) or not any(p[16:20]):  # an epoch, and serial numbers start at 1
        return None
    if p[20] == 1 and not any(p[12:16]):  # DATA packets count from sequence number 1
        return None
    return p[:8], int.from_bytes(p[8:12], "big"), p[20], p[21]


def rx(msgs: Messages) -> Result:
    clients = [(p, h) for p in msgs.client[:_LOOK] if (h := rx_header(p)) is not None]
    if not clients:
        return None
    servers = [(p, h) for p in msgs.server[:_LOOK] if (h := rx_header(p)) is not None]
    for cp, (conn, call, ctype, cflags) in clients:
        for sp, (sconn, scall, stype, sflags) in servers:
            if conn != sconn or call != scall:
                continue
            if (cflags ^ sflags) & _RX_CLIENT_INITIATED == 0:
                continue
            caller = cp if cflags & _RX_CLIENT_INITIATED else sp
            facts: dict[str, Fact] = {
                "rx_service": int.from_bytes(caller[26:28], "big"),
                "rx_types": tuple(sorted({RX_TYPES[ctype], RX_TYPES[stype]})),
            }
            return Detection("rx", facts, swapped=not cflags & _RX_CLIENT_INITIATED)
    return None


# --- FLUTE / ALC / LCT -------------------------------------------------------------------

_EXT_FDT = 192


def lct_header(p: bytes) -> tuple[int, int, int, list[tuple[int, bytes]]] | None:
    """(header length, TSI, TOI, extensions) of an LCT header whose fields and extensions
    fill its HDR_LEN exactly (RFC 5651 §5)."""
    if len(p) < 8 or p[0] >> 4 != 1 or p[1] & 0x0C:
        return None
    cci = 4 * ((p[0] >> 2 & 3) + 1)
    s, o, h = p[1] >> 7, p[1] >> 5 & 3, p[1] >> 4 & 1
    tsi_len, toi_len = 4 * s + 2 * h, 4 * o + 2 * h
    size = 4 * p[2]
    pos = 4 + cci
    if size > len(p) or pos + tsi_len + toi_len > size:
        return None
    tsi = int.from_bytes(p[pos : pos + tsi_len], "big")
    pos += tsi_len
    toi = int.from_bytes(p[pos : pos + toi_len], "big")
    pos += toi_len
    extensions = []
    while pos < size:
        het = p[pos]
        ext_len = 4 if het >= 128 else 4 * p[pos + 1] if pos + 1 < size else 0
        if ext_len == 0 or pos + ext_len > size:
            return None
        extensions.append((het, p[pos : pos + ext_len]))
        pos += ext_len
    return size, tsi, toi, extensions


def _fdt(p: bytes) -> dict[str, Fact] | None:
    """Facts of an FDT Instance packet: TOI 0, EXT_FDT and an XML FDT-Instance payload."""
    header = lct_header(p)
    if header is None:
        return None
    size, tsi, toi, extensions = header
    fdt = [e for het, e in extensions if het == _EXT_FDT]
    if toi != 0 or len(fdt) != 1 or fdt[0][1] >> 4 not in (1, 2):
        return None
    payload = p[size : size + 1024]
    start = payload.find(b"<?xml")
    if not 0 <= start <= 16 or b"FDT-Instance" not in payload:
        return None
    return {"flute_version": fdt[0][1] >> 4, "flute_tsi": tsi,
            "flute_fdt_instance": int.from_bytes(fdt[0][1:4], "big") & 0xFFFFF}


def flute(msgs: Messages) -> Result:
    for side in msgs.sides:
        for p in side[:_LOOK]:
            if p[:1] and p[0] >> 4 == 1:
                facts = _fdt(p)
                if facts:
                    return Detection("flute", facts)
    return None


# --- Raft (canonical/raft) ----------------------------------------------------------------

RAFT_TYPES = {1: "append-entries", 2: "append-entries-result", 3: "request-vote",
              4: "request-vote-result", 5: "install-snapshot", 6: "timeout-now"}
_RAFT_SIZES = {2: (24,), 3: (32, 40), 4: (16, 24), 6: (24,)}
_RAFT_ADDRESS = re.compile(rb"[!-~]{1,253}:[0-9]{1,5}")


def _u64(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 8], "little")


def _raft_message(data: bytes, at: int) -> str | None:
    """The type of the message whose preamble and header start at `at`, when the header
    size is the one its type fixes."""
    kind, size = _u64(data, at), _u64(data, at + 8)
    if kind == 1:  # AppendEntries: term, previous index and term, commit, batch header
        entries = _u64(data, at + 48) if at + 56 <= len(data) else -1
        ok = 0 <= entries <= 4096 and size - 16 * entries in (40, 48)
    elif kind == 5:  # InstallSnapshot: five words, a configuration, the data size
        ok = 48 <= size <= 1 << 20 and size % 8 == 0
    else:
        ok = size in _RAFT_SIZES.get(kind, ())
    return RAFT_TYPES[kind] if ok else None


def raft(msgs: Messages) -> Result:
    for side, is_client in ((msgs.client_stream, True), (msgs.server_stream, False)):
        if len(side) < 40 or side[:8] != b"\x01" + bytes(7):
            continue
        server_id, size = _u64(side, 8), _u64(side, 16)
        if not 0 < server_id < 1 << 32 or not 8 <= size <= 256 or size % 8:
            continue
        address, _, padding = side[24 : 24 + size].partition(b"\0")
        if any(padding) or _RAFT_ADDRESS.fullmatch(address) is None:
            continue
        at = 24 + size
        if len(side) < at + 16:
            continue
        kind = _raft_message(side, at)
        if kind is not None:
            return Detection("raft", {"raft_server_id": server_id, "raft_message": kind},
                             swapped=not is_client)
    return None


# --- Meraki cloud tunnel -----------------------------------------------------------------

MERAKI_MAGIC = bytes.fromhex("fef72891")


def _meraki(d: bytes) -> bool:
    return len(d) >= 16 and d[:4] == MERAKI_MAGIC and int.from_bytes(d[6:8], "big") == len(d)


def merakicloud(msgs: Messages) -> Result:
    seen = [d for side in msgs.sides for d in side[:_LOOK]]
    if len(seen) >= 2 and all(map(_meraki, seen)):
        return Detection("merakicloud", {"meraki_datagrams": len(seen)})
    return None


# --- MGLNDD ------------------------------------------------------------------------------

_MGLNDD = re.compile(rb"MGLNDD_([0-9A-Fa-f.:]{2,39})_([0-9]{1,5})(?:\r?\n)?")


def _mglndd(data: bytes) -> str | None:
    m = _MGLNDD.fullmatch(data)
    if m is None or int(m[2]) > 65535:
        return None
    try:
        ipaddress.ip_address(m[1].decode())
    except ValueError:
        return None
    return m[2].decode()


def ripeatlas(msgs: Messages) -> Result:
    for side, is_client in ((msgs.client, True), (msgs.server, False)):
        if not side or side[0][:7] != b"MGLNDD_":
            continue
        data = side[0] if msgs.transport == "udp" else b"".join(side)
        port = _mglndd(data)
        if port is not None:
            return Detection("ripeatlas", {"ripeatlas_probe": "MGLNDD", "ripeatlas_port":
                                           int(port)}, swapped=not is_client)
    return None


DETECTORS = (
    Detector("rx", UDP, rx,
             "both sides: 28-byte RX headers (type 1-13, known flags, security index, "
             "serial from 1) of one call (epoch, connection id, call number), exactly one "
             "side CLIENT_INITIATED",
             "OpenAFS rx/rx_packet.h; RX protocol specification"),
    Detector("flute", UDP, flute,
             "either side: an LCT v1 header whose fields and extensions fill HDR_LEN, TOI 0 "
             "with EXT_FDT (FLUTE v1/v2) and an XML FDT-Instance payload",
             "RFC 6726 (FLUTE), RFC 5775 (ALC), RFC 5651 (LCT)"),
    Detector("raft", TCP, raft,
             "either side: the handshake (64-bit LE protocol 1, server id, padded "
             "NUL-terminated host:port) and a message whose header size its type 1-6 fixes",
             "canonical/raft: uv_tcp_connect.c (handshake), uv_encoding.c (messages)"),
    Detector("merakicloud", UDP, merakicloud,
             "both sides or several datagrams: every one the magic 0xFEF72891, two bytes and "
             "a 16-bit length equal to the datagram",
             "Cisco Meraki cloud tunnel (magic as nDPI's merakicloud dissector records it)"),
    Detector("ripeatlas", BOTH, ripeatlas,
             "either side: the whole message `MGLNDD_<IP address>_<port>` and a line end",
             "RIPE Atlas / Magellan MGLNDD probe (as nDPI's ripe_atlas dissector names it)"),
)
