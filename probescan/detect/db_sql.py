"""SQL database protocols: PostgreSQL, MySQL/MariaDB, Microsoft SQL Server (TDS), Oracle
(TNS).

* PostgreSQL (frontend/backend protocol 3, "Message Formats"): the client's StartupMessage
  (length, version 3.x, NUL-terminated parameter pairs ending in an empty name),
  SSLRequest, GSSENCRequest or CancelRequest; the server's Authentication request ('R',
  length fitting the method) or an ErrorResponse.
* MySQL (client/server protocol): the server's Handshake v10 (3-byte length, sequence 0,
  version string, filler 0) or an early error packet; the client's HandshakeResponse41 or
  SSLRequest (sequence 1, PROTOCOL_41, 23 zero bytes).
* TDS (MS-TDS §2.2): packet header (known type, status bits, length, window 0) around a
  PRELOGIN option list whose offsets and lengths land inside the payload, or a LOGIN7 whose
  length and TDS version hold, or TLS carried in PRELOGIN packets.
* Oracle TNS (Net8): packet header (length, type) and a CONNECT whose connect data offset
  and length add up, or an ACCEPT, REFUSE, REDIRECT.
"""

from __future__ import annotations

from probescan.detect.base import NEED_MORE, TCP, Detector, Fact, Messages, Result
from probescan.detect.framing import (
    CLIENT,
    SERVER,
    Hit,
    SideResult,
    by_stream,
    printable,
)

# ---- PostgreSQL ------------------------------------------------------------------------

_PG_SPECIAL = {80877103: "ssl", 80877104: "gssenc", 80877102: "cancel"}
_PG_AUTH = {0: 8, 2: 8, 3: 8, 5: 12, 6: 8, 7: 8, 8: 0, 9: 8, 10: 0, 11: 0, 12: 0}


def _pg_frontend(d: bytes) -> SideResult:
    length = int.from_bytes(d[:4], "big")
    if len(d) < 8:
        return NEED_MORE if len(d) >= 4 and 8 <= length <= 10000 else None
    code = int.from_bytes(d[4:8], "big")
    if code in _PG_SPECIAL:
        if length != (16 if code == 80877102 else 8):
            return None
        return Hit({"postgresql_request": _PG_SPECIAL[code]}, CLIENT)
    if code not in (0x00030000, 0x00030001, 0x00030002) or not 9 <= length <= 10000:
        return None
    if len(d) < length:
        return NEED_MORE
    params = d[8:length]
    if not params.endswith(b"\x00"):
        return None
    items = params[:-1].split(b"\x00")
    if len(items) % 2 != 1 or items[-1] != b"":  # name, value, ... then the empty name
        return None
    names, values = items[:-1:2], items[1:-1:2]
    if not names or not all(n and printable(n) for n in names):
        return None
    facts: dict[str, Fact] = {"postgresql_request": "startup",
                              "postgresql_protocol": f"3.{code & 0xFFFF}"}
    if b"user" in names:
        facts["postgresql_user"] = values[names.index(b"user")].decode("utf-8", "replace")
    return Hit(facts, CLIENT)


def _pg_backend(d: bytes) -> SideResult:
    if len(d) < 9:
        return NEED_MORE if d[:1] in (b"R", b"E") and len(d) >= 5 and d[1:3] == b"\0\0" else None
    length = int.from_bytes(d[1:5], "big")
    if d[:1] == b"R":
        code = int.from_bytes(d[5:9], "big")
        want = _PG_AUTH.get(code)
        if want is None or (want and length != want) or not 8 <= length <= 4096:
            return None
        if code == 10:  # SASL: mechanism names, then an empty one
            if len(d) < 1 + length:
                return NEED_MORE
            names = d[9:1 + length]
            if not names.endswith(b"\x00\x00") or not printable(names[:-2], b"\x00"):
                return None
        return Hit({"postgresql_auth": code}, SERVER)
    if d[:1] == b"E" and 16 <= length <= 4096 and d[5:6] == b"S":
        severity = d[6:12]
        if severity.startswith((b"FATAL\x00", b"ERROR\x00", b"PANIC\x00")):
            return Hit({"postgresql_error": True}, SERVER)
    return None


def _pg(d: bytes) -> SideResult:
    if d[:1] in (b"R", b"E"):
        return _pg_backend(d)
    return _pg_frontend(d) if d[0] == 0 else None


def postgresql(msgs: Messages) -> Result:
    return by_stream(msgs, "postgresql", _pg)


# ---- MySQL -----------------------------------------------------------------------------


def _mysql_greeting(d: bytes, length: int) -> SideResult:
    end = d.find(b"\x00", 5, 5 + 64)
    if end < 0:
        return NEED_MORE if len(d) < 5 + 64 and printable(d[5:]) else None
    version = d[5:end]
    if not version[:1].isdigit() or not printable(version):
        return None
    if length < end - 4 + 4 + 8 + 1 + 2 or length > 1024:
        return None
    if len(d) < end + 14:
        return NEED_MORE
    if d[end + 13] != 0:  # filler after auth-plugin-data-part-1
        return None
    text = version.decode()
    product = "MariaDB" if "MariaDB" in text else "MySQL"
    shown = text.removeprefix("5.5.5-") if product == "MariaDB" else text
    shown = shown.split("-")[0]
    return Hit({"mysql_protocol": 10}, SERVER, product, shown)


def _mysql(d: bytes) -> SideResult:
    if len(d) < 5:
        return None
    length, seq = int.from_bytes(d[:3], "little"), d[3]
    if seq == 0 and d[4] == 0x0A:
        return _mysql_greeting(d, length)
    if seq == 0 and d[4] == 0xFF and 9 <= length <= 1024:  # an error before the handshake
        if len(d) < 4 + length:
            return NEED_MORE
        code = int.from_bytes(d[5:7], "little")
        if 1000 <= code < 5000 and printable(d[7:4 + length]):
            return Hit({"mysql_error": code}, SERVER)
        return None
    if seq == 1 and 32 <= length <= 4096:
        if len(d) < 36:
            return NEED_MORE
        caps = int.from_bytes(d[4:8], "little")
        # 23 filler bytes; MariaDB puts its extended capabilities in the last 4 when the
        # client does not set CLIENT_MYSQL (bit 0)
        if not caps & 0x200 or d[13:32] != bytes(19) or (caps & 1 and d[32:36] != bytes(4)):
            return None
        if length == 32:
            return Hit({"mysql_request": "ssl"}, CLIENT) if caps & 0x800 else None
        user = d[36:d.find(b"\x00", 36, 36 + 128)] if b"\x00" in d[36:36 + 129] else None
        if user is None or not printable(user):
            return NEED_MORE if len(d) < 4 + length else None
        return Hit({"mysql_request": "login", "mysql_user": user.decode()}, CLIENT)
    return None


def mysql(msgs: Messages) -> Result:
    return by_stream(msgs, "mysql", _mysql)


# ---- TDS (Microsoft SQL Server) --------------------------------------------------------

_TDS_TYPES = {0x01: CLIENT, 0x03: CLIENT, 0x04: SERVER, 0x06: CLIENT, 0x07: CLIENT,
              0x0E: CLIENT, 0x10: CLIENT, 0x11: CLIENT, 0x12: CLIENT}
_TDS_VERSIONS = {0x70000000: "7.0", 0x71000000: "2000", 0x71000001: "2000 SP1",
                 0x72090002: "2005", 0x730A0003: "2008", 0x730B0003: "2008 R2",
                 0x74000004: "2012+", 0x08000000: "8.0"}


def _prelogin(payload: bytes) -> dict[str, Fact] | None:
    """Facts of a PRELOGIN option list whose options all land inside `payload`."""
    pos, spans = 0, list[tuple[int, int, int]]()
    while pos < len(payload) and payload[pos] != 0xFF:
        if pos + 5 > len(payload) or payload[pos] > 0x08 or len(spans) > 9:
            return None
        off = int.from_bytes(payload[pos + 1:pos + 3], "big")
        size = int.from_bytes(payload[pos + 3:pos + 5], "big")
        spans.append((payload[pos], off, size))
        pos += 5
    if pos >= len(payload) or not spans:
        return None
    facts: dict[str, Fact] = {"tds_packet": "prelogin"}
    for token, off, size in spans:
        if off < pos + 1 or off + size > len(payload):
            return None
        if token == 0 and size == 6:
            v = payload[off:off + 6]
            facts["tds_version"] = f"{v[0]}.{v[1]}.{int.from_bytes(v[2:4], 'big')}"
    return facts


def _tds(d: bytes) -> SideResult:
    if len(d) < 8:
        return None
    kind, status, length = d[0], d[1], int.from_bytes(d[2:4], "big")
    if kind not in _TDS_TYPES or status & 0xE0 or d[7] != 0 or not 8 < length <= 32768:
        return None
    if len(d) < min(length, 64):
        return NEED_MORE
    payload = d[8:length]
    facts: dict[str, Fact] | None = None
    if kind in (0x12, 0x04) and payload[:2] in (b"\x16\x03", b"\x14\x03", b"\x17\x03"):
        facts = {"tds_packet": "prelogin-tls"}
    elif kind in (0x12, 0x04):
        facts = _prelogin(payload) if len(d) >= length else None
    elif kind == 0x10 and len(payload) >= 8:
        total = int.from_bytes(payload[:4], "little")
        version = _TDS_VERSIONS.get(int.from_bytes(payload[4:8], "little"))
        if version is not None and total >= len(payload) and total <= 65536:
            facts = {"tds_packet": "login7", "tds_protocol": version}
    if facts is None:
        return None
    product = "Microsoft SQL Server" if kind == 0x04 and "tds_version" in facts else None
    version_ = str(facts["tds_version"]) if product else None
    return Hit(facts, _TDS_TYPES[kind], product, version_)


def mssql(msgs: Messages) -> Result:
    return by_stream(msgs, "ms-sql-s", _tds)


# ---- Oracle TNS ------------------------------------------------------------------------

_TNS_TYPES = {1: "connect", 2: "accept", 4: "refuse", 5: "redirect", 11: "resend"}


def _tns(d: bytes) -> SideResult:
    if len(d) < 8:
        return None
    length, kind = int.from_bytes(d[:2], "big"), d[4]
    if kind not in _TNS_TYPES or d[2:4] != b"\x00\x00" or not 8 <= length <= 8192:
        return None
    facts: dict[str, Fact] = {"tns_packet": _TNS_TYPES[kind]}
    if kind == 11:  # RESEND: a bare header; the server then expects the CONNECT again
        ok = length == 8 and d[6:8] == b"\x00\x00" and isinstance(_tns(d[8:]), Hit)
        return Hit(facts, SERVER) if ok else None
    if len(d) < min(length, 34):
        return NEED_MORE
    if kind == 1:
        version, compat = int.from_bytes(d[8:10], "big"), int.from_bytes(d[10:12], "big")
        size, off = int.from_bytes(d[24:26], "big"), int.from_bytes(d[26:28], "big")
        if not (300 <= version <= 400 and 300 <= compat <= version and length >= 34
                and d[22:24] in (b"\x00\x01", b"\x01\x00") and off >= 34 and size > 0):
            return None
        if off + size != length and off != length:  # data here, or in the next packet
            return None
        if off < length and len(d) > off and d[off:off + 1] != b"(":
            return None
        facts["tns_version"] = version
        return Hit(facts, CLIENT)
    if kind == 2:
        version = int.from_bytes(d[8:10], "big")
        if not 300 <= version <= 400 or d[16:18] not in (b"\x00\x01", b"\x01\x00"):
            return None
        facts["tns_version"] = version
        return Hit(facts, SERVER)
    at = 12 if kind == 4 else 10  # REFUSE: reasons, then data length; REDIRECT: length
    size = int.from_bytes(d[at - 2:at], "big")
    if at + size != length or d[at:at + 1] != b"(":
        return None
    return Hit(facts, SERVER)


def oracle(msgs: Messages) -> Result:
    return by_stream(msgs, "oracle", _tns)


DETECTORS = (
    Detector("postgresql", TCP, postgresql,
             "client: StartupMessage (version 3.x, parameter pairs), SSL/GSSENC/Cancel "
             "request; server: Authentication request or ErrorResponse",
             "PostgreSQL documentation, Frontend/Backend Protocol: Message Formats"),
    Detector("mysql", TCP, mysql,
             "server: Handshake v10 (sequence 0, version string, filler) or error packet; "
             "client: HandshakeResponse41/SSLRequest (sequence 1, 23 zero bytes)",
             "MySQL Client/Server Protocol (dev.mysql.com internals: Connection Phase)"),
    Detector("ms-sql-s", TCP, mssql,
             "either side: TDS header and a PRELOGIN option list landing inside the packet, "
             "a LOGIN7 with a known TDS version, or TLS inside PRELOGIN", "[MS-TDS] §2.2"),
    Detector("oracle", TCP, oracle,
             "client: TNS CONNECT (version, connect data offset/length add up); server: "
             "ACCEPT, REFUSE, REDIRECT or RESEND followed by a TNS packet",
             "Oracle Net8/TNS packet format (as documented for Wireshark's tns dissector)"),
)
