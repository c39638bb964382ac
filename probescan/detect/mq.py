"""Message brokers: MQTT, AMQP, STOMP, NATS, ActiveMQ OpenWire, Kafka.

* MQTT 3.1/3.1.1/5.0: CONNECT (protocol name matching the level, reserved flag clear,
  remaining length covering the rest); otherwise a stream that is a whole chain of packets
  with valid fixed-header flags and sizes, including a PUBLISH with a printable topic or a
  CONNACK (sessions seen from their middle).
* AMQP: the protocol header `AMQP` + a known version; otherwise frames (type, channel, size)
  ending in `CE`, the first a method of a known class or a content header.
* STOMP 1.0-1.2: a frame command line, `name:value` headers, a blank line and the NUL that
  ends the frame.
* NATS: `INFO {...}` from the server or `CONNECT {...}` from the client, JSON objects with
  the protocol's fields.
* OpenWire: a WireFormatInfo command (length, type 1, magic `ActiveMQ`, version).
* Kafka: a request header (size = the request, API key and version in range, a printable or
  null client id), several requests in a row agreeing.
"""

from __future__ import annotations

import json
import re

from probescan.detect.base import NEED_MORE, TCP, Detector, Fact, Messages, Result
from probescan.detect.framing import CLIENT, SERVER, Hit, SideResult, by_stream, printable, varint

# ---- MQTT ------------------------------------------------------------------------------

_MQTT_FLAGS = {1: 0, 2: 0, 4: 0, 5: 0, 6: 2, 7: 0, 8: 2, 9: 0, 10: 2, 11: 0, 12: 0, 13: 0,
               14: 0, 15: 0}
_MQTT_NAMES = {b"\x00\x06MQIsdp": (3,), b"\x00\x04MQTT": (4, 5)}


def _mqtt_connect(d: bytes) -> SideResult:
    got = varint(d, 1, 4)
    if got is None:
        return NEED_MORE if len(d) < 5 else None
    length, pos = got
    name = d[pos:pos + 8] if d[pos + 1:pos + 2] == b"\x06" else d[pos:pos + 6]
    if len(d) < pos + 10:
        return NEED_MORE if any(n.startswith(d[pos:]) for n in _MQTT_NAMES) else None
    levels = _MQTT_NAMES.get(name)
    at = pos + len(name)
    if levels is None or d[at] not in levels or d[at + 1] & 0x01 or length < len(name) + 4:
        return None
    flags = d[at + 1]
    if not flags & 0x04 and flags & 0x38:  # no will: will QoS and retain must be 0
        return None
    facts: dict[str, Fact] = {"mqtt_version": {3: "3.1", 4: "3.1.1", 5: "5.0"}[d[at]]}
    return Hit(facts, CLIENT)


def _mqtt_packet(d: bytes, pos: int) -> tuple[int, int] | None:
    """(type, end) of a valid MQTT packet at `pos` (None if invalid or cut)."""
    kind, flags = d[pos] >> 4, d[pos] & 0x0F
    got = varint(d, pos + 1, 4)
    if got is None or kind == 0:
        return None
    length, start = got
    end = start + length
    if end > len(d):
        return None
    if kind == 3:
        topic = int.from_bytes(d[start:start + 2], "big")
        need = 2 + topic + (2 if flags & 0x06 else 0)
        name = d[start + 2:start + 2 + topic]
        if flags & 0x06 == 0x06 or topic == 0 or need > length or not printable(name) \
                or b"+" in name or b"#" in name:
            return None
        return kind, end
    if _MQTT_FLAGS.get(kind) != flags:
        return None
    if (kind in (12, 13) and length) or (kind in (4, 5, 6, 7, 11) and length < 2) or (
            kind in (2,) and length < 2) or (kind in (8, 9, 10) and length < 3):
        return None
    return kind, end


def _mqtt_chain(d: bytes) -> SideResult:
    kinds: list[int] = []
    pos = 0
    while pos < len(d) and len(kinds) < 16:
        got = _mqtt_packet(d, pos)
        if got is None:
            return None
        kinds.append(got[0])
        pos = got[1]
    if len(kinds) < 3 or not {2, 3} & set(kinds):
        return None
    return Hit({"mqtt_packets": len(kinds)}, SERVER if kinds[0] == 2 else None)


def _mqtt(d: bytes) -> SideResult:
    if d[0] == 0x10:
        return _mqtt_connect(d)
    return _mqtt_chain(d) if d[0] >> 4 in _MQTT_FLAGS or d[0] >> 4 == 3 else None


def mqtt(msgs: Messages) -> Result:
    return by_stream(msgs, "mqtt", _mqtt)


# ---- AMQP ------------------------------------------------------------------------------

_AMQP_VERSIONS = {b"\x00\x00\x09\x01": "0-9-1", b"\x01\x01\x00\x09": "0-9",
                  b"\x01\x01\x00\x0a": "0-10", b"\x00\x01\x00\x00": "1.0",
                  b"\x03\x01\x00\x00": "1.0-sasl", b"\x02\x01\x00\x00": "1.0-tls"}
_AMQP_METHODS = {
    10: {10, 11, 20, 21, 30, 31, 40, 41, 50, 51, 60, 61}, 20: {10, 11, 20, 21, 40, 41},
    30: {10, 11}, 40: {10, 11, 20, 21, 30, 31, 40, 51}, 50: {10, 11, 20, 21, 30, 31, 40, 41,
                                                              50, 51},
    60: {10, 11, 20, 21, 30, 31, 40, 50, 60, 70, 71, 72, 80, 90, 100, 110, 111, 120},
    85: {10, 11}, 90: {10, 11, 20, 21, 30, 31},
}  # fmt: skip


def _amqp(d: bytes) -> SideResult:
    if d[:4] == b"AMQP"[:len(d)]:
        if len(d) < 8:
            return NEED_MORE
        version = _AMQP_VERSIONS.get(d[4:8])
        return Hit({"amqp_version": version}) if version else None
    if d[0] not in (1, 2, 8) or len(d) < 8:
        return None
    size = int.from_bytes(d[3:7], "big")
    if size > 1 << 24:
        return None
    if len(d) < 8 + size:
        return NEED_MORE if d[0] == 1 and len(d) >= 11 and _amqp_method(d) else None
    if d[7 + size] != 0xCE:
        return None
    if d[0] == 8 and (size or d[1:3] != b"\x00\x00" or len(d) < 16 or not _amqp_frame(d[8:])):
        return None
    if d[0] == 1 and not (size >= 4 and _amqp_method(d)):
        return None
    if d[0] == 2 and not (size >= 14 and d[7:9] == b"\x00\x3c" and d[9:11] == b"\x00\x00"):
        return None
    facts: dict[str, Fact] = {"amqp_version": "0-9-1"}
    if d[:3] == b"\x01\x00\x00" and d[7:11] == b"\x00\x0a\x00\x0a":
        return Hit(facts, SERVER)  # Connection.Start
    return Hit(facts)


def _amqp_method(d: bytes) -> bool:
    cls, method = int.from_bytes(d[7:9], "big"), int.from_bytes(d[9:11], "big")
    return method in _AMQP_METHODS.get(cls, ())


def _amqp_frame(d: bytes) -> bool:
    """A complete frame ending in CE (the frame after a heartbeat)."""
    size = int.from_bytes(d[3:7], "big")
    return d[0] in (1, 2, 3, 8) and len(d) >= 8 + size and d[7 + size] == 0xCE


def amqp(msgs: Messages) -> Result:
    return by_stream(msgs, "amqp", _amqp)


# ---- STOMP -----------------------------------------------------------------------------

_STOMP = re.compile(rb"\n*(CONNECT|STOMP|CONNECTED|SEND|SUBSCRIBE|UNSUBSCRIBE|ACK|NACK|BEGIN|"
                    rb"COMMIT|ABORT|DISCONNECT|MESSAGE|RECEIPT|ERROR)\r?\n"
                    rb"((?:[^:\r\n\x00]{1,256}:[^\r\n\x00]{0,1024}\r?\n){0,32})\r?\n")
_STOMP_SERVER = (b"CONNECTED", b"MESSAGE", b"RECEIPT", b"ERROR")


def _stomp(d: bytes) -> SideResult:
    m = _STOMP.match(d)
    if m is None:
        return None
    command, headers = m.group(1), m.group(2)
    length = re.search(rb"(?:^|\n)content-length:(\d{1,9})\r?\n", headers)
    if length:
        end = m.end() + int(length.group(1))
        if len(d) <= end:
            return NEED_MORE if headers else None
        if d[end] != 0:
            return None
    elif b"\x00" not in d[m.end():m.end() + 65536]:
        return NEED_MORE if headers else None
    if not headers and command not in (b"CONNECT", b"DISCONNECT", b"COMMIT", b"ABORT"):
        return None
    facts: dict[str, Fact] = {"stomp_command": command.decode()}
    return Hit(facts, SERVER if command in _STOMP_SERVER else CLIENT)


def stomp(msgs: Messages) -> Result:
    return by_stream(msgs, "stomp", _stomp)


# ---- NATS ------------------------------------------------------------------------------


def _nats(d: bytes) -> SideResult:
    if not d.startswith((b"INFO {", b"CONNECT {", b"INFO\t{", b"CONNECT\t{")):
        return None
    end = d.find(b"\r\n")
    if end < 0:
        return NEED_MORE if len(d) < 8192 else None
    try:
        obj = json.loads(d[d.index(b"{"):end])
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    if d.startswith(b"INFO"):
        if "server_id" not in obj and not {"max_payload", "port"} <= obj.keys():
            return None
        facts: dict[str, Fact] = {"nats_message": "INFO"}
        version = obj.get("version")
        return Hit(facts, SERVER, "NATS Server" if version else None,
                   version if isinstance(version, str) else None)
    if not {"verbose", "pedantic", "lang", "protocol"} & obj.keys():
        return None
    return Hit({"nats_message": "CONNECT"}, CLIENT)


def nats(msgs: Messages) -> Result:
    return by_stream(msgs, "nats", _nats)


# ---- OpenWire --------------------------------------------------------------------------


def _openwire(d: bytes) -> SideResult:
    if len(d) < 17:
        return None
    if d[4] != 1 or d[5:13] != b"ActiveMQ" or not 9 <= int.from_bytes(d[:4], "big") <= 1 << 20:
        return None
    version = int.from_bytes(d[13:17], "big")
    return Hit({"openwire_version": version}) if 1 <= version <= 64 else None


def openwire(msgs: Messages) -> Result:
    return by_stream(msgs, "openwire", _openwire)


# ---- Kafka -----------------------------------------------------------------------------

_KAFKA_APIS = {0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 8: "OffsetCommit",
               9: "OffsetFetch", 10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat",
               13: "LeaveGroup", 14: "SyncGroup", 17: "SaslHandshake", 18: "ApiVersions",
               19: "CreateTopics", 36: "SaslAuthenticate"}


def _kafka_request(d: bytes, pos: int) -> tuple[int, str, int] | None:
    """(api key, client id, end) of the valid request header at `pos`."""
    size = int.from_bytes(d[pos:pos + 4], "big")
    key, version = int.from_bytes(d[pos + 4:pos + 6], "big"), int.from_bytes(d[pos + 6:pos + 8],
                                                                               "big")
    if not 10 <= size <= 100 << 20 or key > 74 or version > 17 or d[pos + 8] & 0x80:
        return None
    # clients name themselves (client.id: "producer-1", "rdkafka", "sarama", ...); an empty or
    # null id leaves too little structure to tell Kafka from other length-prefixed protocols
    n = int.from_bytes(d[pos + 12:pos + 14], "big")
    client = d[pos + 14:pos + 14 + n]
    if not 1 <= n <= 256 or len(client) != n or 10 + n > size or not printable(client):
        return None
    return key, client.decode(), pos + 4 + size


def _kafka(d: bytes) -> SideResult:
    if len(d) < 14:
        return None
    first = _kafka_request(d, 0)
    if first is None:
        return None
    end = first[2]
    if end > len(d):
        return NEED_MORE if end - len(d) < 1 << 16 else None
    if end < len(d) and (len(d) - end < 14 or _kafka_request(d, end) is None):
        return None if len(d) - end >= 14 else NEED_MORE
    facts: dict[str, Fact] = {"kafka_api": _KAFKA_APIS.get(first[0], str(first[0])),
                              "kafka_client_id": first[1]}
    return Hit(facts, CLIENT)


def kafka(msgs: Messages) -> Result:
    return by_stream(msgs, "kafka", _kafka)


DETECTORS = (
    Detector("mqtt", TCP, mqtt,
             "client: CONNECT (MQTT/MQIsdp name matching the level, flags, length); either "
             "side: a whole chain of valid packets with a PUBLISH topic or CONNACK",
             "MQTT 3.1.1 (OASIS) §2-3, MQTT 5.0 (OASIS), MQTT 3.1 (IBM)"),
    Detector("amqp", TCP, amqp,
             "client: `AMQP` + known version; either side: frames ending in `CE` with a "
             "known class/method or content header", "AMQP 0-9-1 specification §4.2; AMQP 1.0"),
    Detector("stomp", TCP, stomp,
             "either side: frame command, `name:value` headers, blank line, NUL terminator",
             "STOMP Protocol Specification 1.2"),
    Detector("nats", TCP, nats,
             "server: `INFO {json}` with server fields; client: `CONNECT {json}`",
             "NATS client protocol (docs.nats.io)"),
    Detector("openwire", TCP, openwire,
             "either side: WireFormatInfo (length, type 1, `ActiveMQ`, version)",
             "Apache ActiveMQ OpenWire protocol"),
    Detector("kafka", TCP, kafka,
             "client: request header (size, API key/version in range, a client id), the next "
             "request agreeing", "Apache Kafka protocol guide (kafka.apache.org/protocol)"),
)
