"""Non-SQL stores: MongoDB, Redis (RESP), Memcached, Cassandra (CQL), Elasticsearch
transport.

* MongoDB wire protocol: message header (length, request id, responseTo, a known opcode)
  and the body's first fields (OP_MSG flag bits and section kind, OP_QUERY collection name,
  OP_REPLY flags) with a BSON document whose length fits the message.
* RESP (Redis serialization protocol): a client command as an array of bulk strings whose
  lengths all hold; a reply aggregate or bulk string that parses exactly.
* Memcached: a storage command whose data block has the announced length, VALUE / STAT
  replies that parse, `version` answered by `VERSION`; the binary protocol's 24-byte header
  (magic, data type 0, body length covering key and extras); the UDP frame header.
* CQL native protocol v3-v5: frame header (version with direction bit, flags, stream,
  opcode valid for that direction, length = the rest) and a STARTUP/SUPPORTED string map.
* Elasticsearch transport: `ES`, a length covering the rest, status bits and a version id
  of the form major*1000000 + minor*10000 + revision*100 + build; or the 6-byte ping.
"""

from __future__ import annotations

import re

from probescan.detect.base import BOTH, NEED_MORE, TCP, Detector, Fact, Messages, Result
from probescan.detect.framing import (
    CLIENT,
    SERVER,
    Hit,
    SideResult,
    by_datagram,
    by_stream,
    printable,
)

# ---- MongoDB ---------------------------------------------------------------------------

_MONGO_OPS = {1: "OP_REPLY", 2001: "OP_UPDATE", 2002: "OP_INSERT", 2004: "OP_QUERY",
              2005: "OP_GET_MORE", 2006: "OP_DELETE", 2007: "OP_KILL_CURSORS",
              2012: "OP_COMPRESSED", 2013: "OP_MSG"}


def _bson_fits(d: bytes, pos: int, end: int) -> bool:
    size = int.from_bytes(d[pos:pos + 4], "little")
    return pos + 4 <= len(d) and 5 <= size <= end - pos


def _mongodb(d: bytes) -> SideResult:
    if len(d) < 16:
        return None
    length = int.from_bytes(d[:4], "little")
    op = int.from_bytes(d[12:16], "little")
    response_to = int.from_bytes(d[8:12], "little")
    if op not in _MONGO_OPS or not 21 <= length <= 48_000_000:
        return None
    if len(d) < min(length, 40):
        return NEED_MORE
    if op == 2013:  # flag bits: checksumPresent, moreToCome, exhaustAllowed only
        if int.from_bytes(d[16:20], "little") & ~0x10003 or d[20] not in (0, 1):
            return None
        if d[20] == 0 and not _bson_fits(d, 21, length):
            return None
    elif op == 2004:
        name_end = d.find(b"\x00", 20, 20 + 256)
        name = d[20:name_end]
        if name_end < 0 or b"." not in name or not printable(name) or \
                int.from_bytes(d[16:20], "little") & 0x01:
            return None
        if not _bson_fits(d, name_end + 9, length):
            return None
    elif op == 1:
        if int.from_bytes(d[16:20], "little") > 0x0F or response_to == 0:
            return None
        if length > 36 and not _bson_fits(d, 36, length):
            return None
    elif op == 2012:
        if int.from_bytes(d[16:20], "little") not in _MONGO_OPS or d[24] > 3:
            return None
    elif len(d) >= length and len(d) > length + 16:  # legacy ops: next header must follow
        if int.from_bytes(d[length + 12:length + 16], "little") not in _MONGO_OPS:
            return None
    elif len(d) < length:
        return NEED_MORE
    role = SERVER if op == 1 or (op == 2013 and response_to) else CLIENT
    return Hit({"mongodb_op": _MONGO_OPS[op]}, role)


def mongodb(msgs: Messages) -> Result:
    return by_stream(msgs, "mongodb", _mongodb)


# ---- RESP (Redis) ----------------------------------------------------------------------

_RESP_LINE = re.compile(rb"([*$%~>|:+\-_,#(!=])([^\r\n]{0,64})\r\n")
_RESP_COMMAND = re.compile(rb"[A-Za-z][A-Za-z_.|-]{1,31}")


def _resp_value(d: bytes, pos: int, depth: int = 0) -> tuple[int, int] | None:
    """(end, elements) of the RESP value at `pos`; None if malformed or cut."""
    m = _RESP_LINE.match(d, pos)
    if m is None or depth > 4:
        return None
    kind, arg, end = m.group(1), m.group(2), m.end()
    if kind in b"$!=":
        if arg == b"-1":
            return end, 0
        if not arg.isdigit() or int(arg) > 1 << 29:
            return None
        stop = end + int(arg)
        return (stop + 2, 1) if d[stop:stop + 2] == b"\r\n" else None
    if kind in b"*%~>|":
        if arg == b"-1":
            return end, 0
        if not arg.isdigit():
            return None
        count = int(arg) * (2 if kind in b"%|" else 1)
        for _ in range(count):
            got = _resp_value(d, end, depth + 1)
            if got is None:
                return None
            end = got[0]
        return end, count
    if kind in b":(" and not re.fullmatch(rb"[+-]?\d+", arg):
        return None
    return end, 1


def _resp_command(d: bytes) -> bool:
    """An array of bulk strings, the first a command name, complete or cut after two."""
    m = re.match(rb"\*([1-9]\d{0,5})\r\n", d)
    if m is None:
        return False
    pos, count = m.end(), int(m.group(1))
    for i in range(count):
        b = re.match(rb"\$(\d{1,9})\r\n", d[pos:pos + 14])
        if b is None:
            return i >= 2 and pos >= len(d) - 13 and d[pos:pos + 1] in (b"$", b"")
        start = pos + b.end()
        stop = start + int(b.group(1))
        if stop + 2 > len(d):
            return i >= 2 or (i == 1 and len(d) > 64)
        if d[stop:stop + 2] != b"\r\n" or (i == 0 and not _RESP_COMMAND.fullmatch(d[start:stop])):
            return False
        pos = stop + 2
    return True


def _redis(d: bytes) -> SideResult:
    if d[:1] == b"*" and _resp_command(d):
        return Hit({"redis_message": "command"}, CLIENT)
    if d[:1] in (b"*", b"%", b"~", b">", b"$"):
        got = _resp_value(d, 0)
        if got is not None and got[1] >= 1 and (d[:1] != b"$" or got[0] == len(d)):
            return Hit({"redis_message": "reply"}, SERVER)
    return None


def redis(msgs: Messages) -> Result:
    r = by_stream(msgs, "redis", _redis)
    if r is None and msgs.client_stream.upper() in (b"PING\r\n", b"PING\n") and \
            msgs.server_stream in (b"+PONG\r\n",):
        return by_stream(msgs, "redis", lambda d: Hit({"redis_message": "inline"}, None))
    return r


# ---- Memcached -------------------------------------------------------------------------

_MC_STORE = re.compile(rb"(set|add|replace|append|prepend|cas) ([!-~]{1,250}) (\d{1,10}) "
                       rb"(\d{1,10}) (\d{1,10})( \d{1,20})?( noreply)?\r\n")
_MC_VALUE = re.compile(rb"VALUE ([!-~]{1,250}) (\d{1,10}) (\d{1,10})( \d{1,20})?\r\n")
_MC_STAT = re.compile(rb"(STAT [!-~]{1,64} [ -~]{0,256}\r\n){2,}")


def _mc_text(d: bytes) -> SideResult:
    m = _MC_STORE.match(d)
    if m:
        stop = m.end() + int(m.group(5))
        if len(d) < stop + 2:
            return NEED_MORE if len(d) < 4096 else None
        if d[stop:stop + 2] == b"\r\n" and (m.group(1) == b"cas") == bool(m.group(6)):
            return Hit({"memcached_command": m.group(1).decode()}, CLIENT)
        return None
    m = _MC_VALUE.match(d)
    if m:
        stop = m.end() + int(m.group(3))
        if len(d) < stop + 2:
            return NEED_MORE if len(d) < 4096 else None
        tail = d[stop + 2:stop + 7]
        if d[stop:stop + 2] == b"\r\n" and (b"END\r\n".startswith(tail)
                                             or b"VALUE".startswith(tail)):
            return Hit({"memcached_reply": "value"}, SERVER)
        return None
    if d.startswith(b"STAT pid ") and _MC_STAT.match(d):
        return Hit({"memcached_reply": "stats"}, SERVER)
    return None


def _mc_binary(d: bytes) -> SideResult:
    if len(d) < 24:
        return None
    keylen, extlen = int.from_bytes(d[2:4], "big"), d[4]
    body = int.from_bytes(d[8:12], "big")
    if d[1] > 0x48 or d[5] != 0 or keylen + extlen > body or body > 1 << 20:
        return None
    if d[0] == 0x81 and int.from_bytes(d[6:8], "big") not in (*range(0, 10), *range(0x20, 0x25),
                                                                *range(0x81, 0x87)):
        return None
    if len(d) != 24 + body and not (len(d) > 24 + body and d[24 + body] == d[0]):
        return NEED_MORE if len(d) < 24 + body else None
    return Hit({"memcached_binary_opcode": d[1]}, CLIENT if d[0] == 0x80 else SERVER)


def _memcached(d: bytes) -> SideResult:
    if d[0] in (0x80, 0x81):
        return _mc_binary(d)
    return _mc_text(d)


def memcached(msgs: Messages) -> Result:
    if msgs.transport == "udp":
        def framed(d: bytes) -> SideResult:
            if len(d) < 10 or d[6:8] != b"\x00\x00" or d[4:6] == b"\x00\x00" or \
                    int.from_bytes(d[2:4], "big") >= int.from_bytes(d[4:6], "big"):
                return None
            return _memcached(d[8:])
        r = by_datagram(msgs, "memcached", framed)
    else:
        r = by_stream(msgs, "memcached", _memcached)
    if r is None and msgs.transport == "tcp" and msgs.client_stream == b"version\r\n" and \
            re.fullmatch(rb"VERSION \d+\.\d+[!-~]*\r\n", msgs.server_stream):
        return by_stream(msgs, "memcached", lambda d: Hit({"memcached_command": "version"}))
    return r


# ---- Cassandra CQL ---------------------------------------------------------------------

_CQL_REQUESTS = {0x01: "STARTUP", 0x05: "OPTIONS", 0x07: "QUERY", 0x09: "PREPARE",
                 0x0A: "EXECUTE", 0x0B: "REGISTER", 0x0D: "BATCH", 0x0F: "AUTH_RESPONSE"}
_CQL_RESPONSES = {0x00: "ERROR", 0x02: "READY", 0x03: "AUTHENTICATE", 0x06: "SUPPORTED",
                  0x08: "RESULT", 0x0C: "EVENT", 0x0E: "AUTH_CHALLENGE", 0x10: "AUTH_SUCCESS"}


def _cql_string_map(body: bytes) -> bool:
    if len(body) < 2:
        return False
    count, pos = int.from_bytes(body[:2], "big"), 2
    for _ in range(count * 2):
        n = int.from_bytes(body[pos:pos + 2], "big")
        if pos + 2 + n > len(body) or not printable(body[pos + 2:pos + 2 + n]):
            return False
        pos += 2 + n
    return count > 0 and pos == len(body)


def _cql_supported(body: bytes) -> bool:
    if len(body) < 2:
        return False
    count, pos = int.from_bytes(body[:2], "big"), 2
    for _ in range(count):
        n = int.from_bytes(body[pos:pos + 2], "big")
        pos += 2 + n
        items = int.from_bytes(body[pos:pos + 2], "big")
        pos += 2
        for _ in range(items):
            pos += 2 + int.from_bytes(body[pos:pos + 2], "big")
        if pos > len(body):
            return False
    return count > 0 and pos == len(body)


def _cql_string(body: bytes, pos: int) -> bytes | None:
    n = int.from_bytes(body[pos:pos + 2], "big")
    text = body[pos + 2:pos + 2 + n]
    return text if len(text) == n and pos + 2 + n == len(body) and printable(text) else None


def _cql_body(op: int, body: bytes) -> bool:
    """The handshake messages' bodies: STARTUP and SUPPORTED maps, empty OPTIONS and READY,
    AUTHENTICATE's authenticator class, an ERROR's code and message."""
    if op in (0x02, 0x05):
        return not body
    if op == 0x01:
        return _cql_string_map(body)
    if op == 0x06:
        return _cql_supported(body)
    if op == 0x03:
        name = _cql_string(body, 0)
        return name is not None and b"." in name
    if op == 0x00:
        code = int.from_bytes(body[:4], "big")
        return code in (0, 0x0A, 0x0100, 0x1000, 0x1001, 0x1002, 0x1003) and \
            _cql_string(body, 4) is not None
    return False


def _cql(d: bytes) -> SideResult:
    if len(d) < 9:
        return None
    version, flags = d[0] & 0x7F, d[1]
    response = bool(d[0] & 0x80)
    if version not in (3, 4, 5) or flags & ~0x1F:
        return None
    op, length = d[4], int.from_bytes(d[5:9], "big")
    names = _CQL_RESPONSES if response else _CQL_REQUESTS
    if op not in names or length > 1 << 28:
        return None
    if len(d) < 9 + length:
        return NEED_MORE if op in (0x01, 0x06) and len(d) < 1024 else None
    body = d[9:9 + length]
    if not _cql_body(op, body):
        return None
    return Hit({"cql_version": version, "cql_opcode": names[op]}, SERVER if response else CLIENT)


def cassandra(msgs: Messages) -> Result:
    return by_stream(msgs, "cassandra", _cql)


# ---- Elasticsearch transport -----------------------------------------------------------


def _es(d: bytes) -> SideResult:
    if d[:2] != b"ES"[:len(d)]:
        return None
    if len(d) < 6:
        return NEED_MORE
    if d[2:6] == b"\xff\xff\xff\xff":
        rest = d[6:]
        pings = not rest or (rest == b"ES\xff\xff\xff\xff"[:len(rest)])
        return Hit({"es_message": "ping"}) if pings else None
    length = int.from_bytes(d[2:6], "big")
    if len(d) < 19:
        return NEED_MORE if 13 <= length <= 1 << 27 else None
    status, vid = d[14], int.from_bytes(d[15:19], "big")
    major, minor, rev = vid // 1_000_000, vid // 10_000 % 100, vid // 100 % 100
    if not 13 <= length <= 1 << 27 or status & 0xF0 or not 5 <= major <= 12:
        return None
    if len(d) > 6 + length and d[6 + length:8 + length] != b"ES"[:len(d) - 6 - length]:
        return None  # the next message must follow
    facts: dict[str, Fact] = {"es_version": f"{major}.{minor}.{rev}",
                              "es_message": "response" if status & 1 else "request"}
    return Hit(facts, SERVER if status & 1 else CLIENT)


def elasticsearch(msgs: Messages) -> Result:
    return by_stream(msgs, "elasticsearch", _es)


DETECTORS = (
    Detector("mongodb", TCP, mongodb,
             "either side: message header (length, opcode) and body (OP_MSG flags and section,"
             " OP_QUERY collection, OP_REPLY) with a BSON length that fits",
             "MongoDB Wire Protocol specification"),
    Detector("redis", TCP, redis,
             "client: array of bulk strings, lengths exact, a command first; server: an "
             "aggregate or bulk string parsing exactly", "Redis serialization protocol (RESP2/3)"),
    Detector("memcached", BOTH, memcached,
             "storage command with its data block, VALUE/STAT replies, version/VERSION; "
             "binary header (magic, lengths); UDP frame header",
             "memcached protocol.txt and the binary protocol specification"),
    Detector("cassandra", TCP, cassandra,
             "either side: CQL frame header v3-v5 (opcode valid for the direction, length) "
             "and STARTUP/OPTIONS/READY/SUPPORTED bodies",
             "Apache Cassandra native_protocol_v4/v5"),
    Detector("elasticsearch", TCP, elasticsearch,
             "either side: `ES`, length, status bits and a plausible version id, or pings",
             "Elasticsearch transport protocol (TcpHeader)"),
)
