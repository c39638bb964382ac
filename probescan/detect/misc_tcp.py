"""Assorted TCP protocols: Zabbix, Gearman, Thrift, Ceph, Munin, HiSLIP, ATG (tank gauges),
Lustre and FIX.

* Zabbix: `ZBXD`, protocol flags (0x01 set; compression, large packet), a data length that
  covers the rest (compressed data inflates); JSON requests go to the trapper, item keys to
  the agent.
* Gearman: `\\0REQ` / `\\0RES`, a packet type 1-42 and a data size = the rest.
* Thrift: binary protocol (strict `80 01`, message type 1-4, method name, optionally in a
  framed transport) or compact protocol (`82`, type and version 1, varint sequence id and a
  method name).
* Ceph messenger banners `ceph v027` (v1) and `ceph v2\\n` (v2).
* Munin: the node's greeting `# munin node at <host>`.
* HiSLIP (IVI-6.1): `HS`, a message type 0-26, control code, parameter and a payload length
  = the rest.
* ATG (Veeder-Root TLS-350 serial interface on TCP): `<SOH>` + a function letter and five
  digits; the reply echoes the function and gives a date.
* Lustre LNet over TCP (socket LND): the acceptor's connection request (magic 0xacce7100,
  version 1, a TCP NID), the hello (magic 0x45726963, version 2/3, NIDs) or an LNet message
  (ksock type 0xc1, NIDs of the socket LND, a message type, payload length = the rest).
* FIX: `8=<BeginString>` `9=<BodyLength>` `35=<MsgType>`, the body length reaching the next
  message or the `10=` checksum, which is verified.
"""

from __future__ import annotations

import re
import zlib

from probescan.detect.base import (
    BOTH,
    NEED_MORE,
    TCP,
    Detection,
    Detector,
    Fact,
    Messages,
    NeedMoreType,
    Result,
)
from probescan.detect.framing import (
    CLIENT,
    SERVER,
    Hit,
    SideResult,
    by_stream,
    by_transport,
    varint,
)

# ---- Zabbix ----------------------------------------------------------------------------


def _zabbix(d: bytes) -> tuple[str, Hit] | NeedMoreType | None:
    if d[:4] != b"ZBXD"[:len(d)]:
        return None
    if len(d) < 13:
        return NEED_MORE
    flags = d[4]
    if not flags & 0x01 or flags & ~0x07:
        return None
    head = 21 if flags & 0x04 else 13
    size = int.from_bytes(d[5:13] if flags & 0x04 else d[5:9], "little")
    if size > 1 << 30:
        return None
    if len(d) < head:
        return NEED_MORE
    data = d[head:head + size]
    whole = len(data) == size
    if flags & 0x02:
        try:
            data = zlib.decompressobj().decompress(data, 8192)
        except zlib.error:
            return None
    request = None
    if data.startswith(b"{"):
        found = re.search(rb'"(request|response)"\s*:\s*"[ -~]{1,40}?"', data)
        request = found.group(1) if found else None
    if request is None and not whole and (not data or data.startswith(b"{")):
        return NEED_MORE  # a JSON request may name itself further on
    if request is not None:
        return "zabbix-trapper", Hit({"zabbix_" + request.decode(): True},
                                     CLIENT if request == b"request" else SERVER)
    return "zabbix-agent", Hit({"zabbix_data_length": size})


def _zabbix_agent(d: bytes) -> SideResult:
    got = _zabbix(d)
    return (got[1] if got[0] == "zabbix-agent" else None) if isinstance(got, tuple) else got


def _zabbix_trapper(d: bytes) -> SideResult:
    got = _zabbix(d)
    return (got[1] if got[0] == "zabbix-trapper" else None) if isinstance(got, tuple) else got


def zabbix_agent(msgs: Messages) -> Result:
    return by_stream(msgs, "zabbix-agent", _zabbix_agent)


def zabbix_trapper(msgs: Messages) -> Result:
    return by_stream(msgs, "zabbix-trapper", _zabbix_trapper)


# ---- Gearman ---------------------------------------------------------------------------


def _gearman(d: bytes) -> SideResult:
    if d[:4] not in (b"\x00REQ"[:len(d)], b"\x00RES"[:len(d)]):
        return None
    if len(d) < 12:
        return NEED_MORE
    kind, size = int.from_bytes(d[4:8], "big"), int.from_bytes(d[8:12], "big")
    if not 1 <= kind <= 42 or size > 1 << 24:
        return None
    if len(d) > 12 + size and d[12 + size:13 + size] != b"\x00":
        return None  # the next packet starts with the magic's NUL
    return Hit({"gearman_type": kind}, CLIENT if d[1:4] == b"REQ" else SERVER)


def gearman(msgs: Messages) -> Result:
    return by_stream(msgs, "gearman", _gearman)


# ---- Thrift ----------------------------------------------------------------------------

_IDENT = re.compile(rb"[A-Za-z_][A-Za-z0-9_.:]*")
_THRIFT_TYPES = ("", "call", "reply", "exception", "oneway")


def _thrift_binary(d: bytes) -> SideResult:
    if len(d) < 12:
        return None
    kind, n = d[3], int.from_bytes(d[4:8], "big")
    name = d[8:8 + n]
    if d[2] != 0 or not 1 <= kind <= 4 or not 1 <= n <= 256 or len(name) != n:
        return None
    if not _IDENT.fullmatch(name):
        return None
    facts: dict[str, Fact] = {"thrift_protocol": "binary", "thrift_method": name.decode(),
                              "thrift_message": _THRIFT_TYPES[kind]}
    return Hit(facts, CLIENT if kind in (1, 4) else SERVER)


def _thrift_compact(d: bytes) -> SideResult:
    kind = d[1] >> 5
    if d[1] & 0x1F != 1 or not 1 <= kind <= 4:
        return None
    seq = varint(d, 2, 5)
    size = varint(d, seq[1], 5) if seq else None
    if size is None or not 3 <= size[0] <= 256:
        return None
    name = d[size[1]:size[1] + size[0]]
    if len(name) != size[0] or not _IDENT.fullmatch(name) or not name[:1].isalpha():
        return None
    facts: dict[str, Fact] = {"thrift_protocol": "compact", "thrift_method": name.decode(),
                              "thrift_message": _THRIFT_TYPES[kind]}
    return Hit(facts, CLIENT if kind in (1, 4) else SERVER)


def _thrift(d: bytes) -> SideResult:
    if len(d) >= 16 and d[4:6] == b"\x80\x01":  # framed transport
        frame = int.from_bytes(d[:4], "big")
        if not 12 <= frame <= 1 << 24:
            return None
        return _thrift_binary(d[4:])
    if d[:2] == b"\x80\x01":
        return _thrift_binary(d)
    if d[0] == 0x82 and len(d) >= 6:
        return _thrift_compact(d)
    return None


def thrift(msgs: Messages) -> Result:
    return by_transport(msgs, "thrift", _thrift)


# ---- banners: Ceph, Munin --------------------------------------------------------------

_CEPH = {b"ceph v027": "msgr1", b"ceph v2\n": "msgr2"}


def _ceph(d: bytes) -> SideResult:
    for banner, version in _CEPH.items():
        if d.startswith(banner):
            return Hit({"ceph_messenger": version})
        if banner.startswith(d):
            return NEED_MORE
    return None


def ceph(msgs: Messages) -> Result:
    return by_stream(msgs, "ceph", _ceph)


_MUNIN = re.compile(rb"# munin node at ([!-~]{1,253})\r?\n")


def _munin(d: bytes) -> SideResult:
    m = _MUNIN.match(d)
    if m:
        return Hit({"munin_node": m.group(1).decode()}, SERVER, "munin-node")
    return NEED_MORE if b"# munin node at ".startswith(d[:16]) and b"\n" not in d else None


def munin(msgs: Messages) -> Result:
    return by_stream(msgs, "munin", _munin)


# ---- HiSLIP ----------------------------------------------------------------------------

_HISLIP = {0: "Initialize", 1: "InitializeResponse", 6: "Data", 7: "DataEnd",
           17: "AsyncInitialize", 18: "AsyncInitializeResponse"}


def _hislip(d: bytes) -> SideResult:
    if d[:2] != b"HS"[:len(d)]:
        return None
    if len(d) < 16:
        return NEED_MORE
    kind, size = d[2], int.from_bytes(d[8:16], "big")
    if kind > 26 or size > 1 << 24:
        return None
    if len(d) > 16 + size and d[16 + size:18 + size] != b"HS"[:len(d) - 16 - size]:
        return None
    role = CLIENT if kind in (0, 17) else SERVER if kind in (1, 18) else None
    return Hit({"hislip_message": _HISLIP.get(kind, str(kind))}, role)


def hislip(msgs: Messages) -> Result:
    return by_stream(msgs, "hislip", _hislip)


# ---- ATG (Veeder-Root TLS-350) ---------------------------------------------------------

_ATG_COMMANDS = re.compile(rb"\x01([IiSs]\d{5})(?:\r\n|\r|\n)?(?:\x01[IiSs]\d{5}(?:\r\n|\r|\n)?)*")
_ATG_REPLY = re.compile(rb"\x01?(?:\r?\n)+([IiSs]\d{5})\r?\n\d\d/\d\d/\d{4} \d\d:\d\d")


def _atg(msgs: Messages) -> Result:
    first = _ATG_COMMANDS.fullmatch(msgs.client[0]) if msgs.client else None
    reply = _ATG_REPLY.match(msgs.server_stream)
    if first:
        if not msgs.server or (reply and reply.group(1) == first.group(1)):
            return Detection("atg", {"atg_function": first.group(1).decode()})
        return None
    if reply and not msgs.client:
        return Detection("atg", {"atg_function": reply.group(1).decode()})
    return None


# ---- Lustre (LNet socket LND) ---------------------------------------------------------

_LNET_ACCEPTOR = b"\x00\x71\xce\xac"  # 0xacce7100, little-endian
_LNET_HELLO = b"cirE"  # LNET_PROTO_MAGIC 0x45726963, little-endian
_SOCKLND = b"\x02\x00"  # the LND type in a NID's top 16 bits


def _lnet_nid(d: bytes, pos: int) -> bool:
    return d[pos + 6:pos + 8] == _SOCKLND


def _lustre(d: bytes) -> SideResult:
    if len(d) < 16:
        return None
    head = d[:4]
    if head == _LNET_ACCEPTOR:
        if d[4:8] == b"\x01\x00\x00\x00" and _lnet_nid(d, 8):
            return Hit({"lnet_message": "acceptor request"}, CLIENT)
        return None
    if head == _LNET_HELLO:
        if len(d) < 24 or d[4:8] not in (b"\x02\x00\x00\x00", b"\x03\x00\x00\x00"):
            return NEED_MORE if len(d) < 24 else None
        return Hit({"lnet_message": "hello"}) if _lnet_nid(d, 8) and _lnet_nid(d, 16) else None
    if head != b"\xc1\x00\x00\x00" or len(d) < 96:
        return None
    # ksock message (type, checksum, zero-copy cookies), then the LNet header: destination
    # and source NIDs, PIDs, message type and payload length
    size = 96 + int.from_bytes(d[52:56], "little")
    if not (_lnet_nid(d, 24) and _lnet_nid(d, 32)) or int.from_bytes(d[48:52], "little") > 4:
        return None
    if len(d) > size and d[size:size + 4] not in (b"\xc1\x00\x00\x00", b"\xc0\x00\x00\x00"):
        return None
    return Hit({"lnet_message": "lnet"})


def lustre(msgs: Messages) -> Result:
    return by_stream(msgs, "lustre", _lustre)


# ---- FIX -------------------------------------------------------------------------------

_FIX = re.compile(rb"8=([ -~]{1,16}?)\x019=(\d{1,6})\x0135=([0-9A-Za-z]{1,4})\x01")


def _fix(d: bytes) -> SideResult:
    m = _FIX.match(d)
    if m is None:
        return NEED_MORE if len(d) < 24 and d[:2] == b"8="[:len(d)] and b"\x01" not in d[2:3] \
            and len(d) >= 2 else None
    begin = m.group(1)
    end = d.index(b"\x01", d.index(b"9=")) + 1 + int(m.group(2))
    tail = d[end:end + 7]
    standard = begin.startswith((b"FIX.", b"FIXT."))
    if tail.startswith(b"10="):
        if len(tail) == 7 and (tail[3:6] != b"%03d" % (sum(d[:end]) % 256) or tail[6] != 1):
            return None
    elif tail and not tail.startswith(b"8="[:len(tail)]):
        return None
    elif not tail and len(d) < end and not standard:
        return NEED_MORE
    facts: dict[str, Fact] = {"fix_begin": begin.decode(), "fix_msgtype": m.group(3).decode()}
    return Hit(facts)


def fix(msgs: Messages) -> Result:
    return by_stream(msgs, "fix", _fix)


DETECTORS = (
    Detector("zabbix-agent", TCP, zabbix_agent,
             "either side: `ZBXD`, flags, length covering the data (an item key or value)",
             "Zabbix manual: Zabbix protocols, header and data length"),
    Detector("zabbix-trapper", TCP, zabbix_trapper,
             "either side: `ZBXD`, flags, length; (inflated) JSON with a request/response",
             "Zabbix manual: Zabbix protocols (active agent, sender, proxy)"),
    Detector("gearman", TCP, gearman,
             "either side: `\\0REQ`/`\\0RES`, packet type 1-42, data size", "Gearman protocol "
             "(gearman.org/protocol)"),
    Detector("thrift", BOTH, thrift,
             "either side: binary (strict `80 01`, type, method name; framed or not) or compact "
             "(`82`, type/version, varints, method name)",
             "Apache Thrift binary and compact protocol specifications"),
    Detector("ceph", TCP, ceph, "either side: the `ceph v027` or `ceph v2` banner",
             "Ceph messenger v1/v2 (docs.ceph.com/en/latest/dev/msgr2)"),
    Detector("munin", TCP, munin, "server: `# munin node at <host>`",
             "Munin node protocol (guide.munin-monitoring.org)"),
    Detector("hislip", TCP, hislip,
             "either side: `HS`, message type 0-26, payload length; the next message follows",
             "IVI-6.1 High-Speed LAN Instrument Protocol (HiSLIP) §2"),
    Detector("atg", TCP, _atg,
             "client: `<SOH>` + function letter + 5 digits; server: the function echoed with "
             "a date", "Veeder-Root TLS-3XX Series Serial Interface Manual (576013-635)"),
    Detector("lustre", TCP, lustre,
             "either side: LNet acceptor request or socklnd hello (magic, version, NIDs of the "
             "socket LND), or LNet messages whose payload length sets the message size",
             "Lustre LNet wire formats (lnet-idl.h, socklnd.h in the Lustre sources)"),
    Detector("fix", TCP, fix,
             "either side: `8=` `9=` `35=` header, body length reaching the next message or a "
             "verified `10=` checksum",
             "FIX Protocol 4.x / FIXT 1.1 Session Layer (fixtrading.org)"),
)
