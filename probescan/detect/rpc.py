"""Remote procedure calls and remote objects: ONC RPC (NFS, rpcbind...), DCE/MS-RPC,
CORBA GIOP/MIOP, Java RMI (JRMP), JSON-RPC and SOAP spoken directly over TCP.

ONC RPC (RFC 5531): a call (rpcvers 2, program, credential and verifier checked) names the
program: the portmapper is `rpcbind`, NFS and its side programs (mountd, nlockmgr, status,
nfs_acl, rquotad) are `nfs`, any other `sunrpc`; a reply alone does not name a program and is
not claimed. DCE RPC: connection-oriented PDUs over TCP, connectionless ones over UDP.
"""

from __future__ import annotations

import json
import re

from probescan.detect.base import (
    BOTH,
    NEED_MORE,
    TCP,
    Detection,
    Detector,
    Fact,
    Messages,
    Result,
)
from probescan.detect.sides import both_sides, decided, first_bytes, swapped, waiting
from probescan.protocols import dcerpc, oncrpc

# --- ONC RPC --------------------------------------------------------------------------

NFS_FAMILY = frozenset({100003, 100005, 100011, 100021, 100024, 100227})


def oncrpc_detect(msgs: Messages) -> Result:
    tcp = msgs.transport == "tcp"
    c, s = both_sides(msgs, lambda d: oncrpc.parse_message(d, tcp))
    call = next((m for m in (c, s) if isinstance(m, oncrpc.RpcMessage) and m.call), None)
    if call is None or call.program is None:
        return waiting(c, s)
    service = ("rpcbind" if call.program == 100000
               else "nfs" if call.program in NFS_FAMILY else "sunrpc")
    facts: dict[str, Fact] = {"rpc_program": call.program_name or "",
                              "rpc_version": call.version or 0,
                              "rpc_procedure": call.procedure or 0}
    reply = next((m for m in (c, s) if isinstance(m, oncrpc.RpcMessage) and not m.call), None)
    if reply is not None and reply.status:
        facts["rpc_status"] = reply.status
    return Detection(service, facts, swapped=swapped(c, s, oncrpc.RpcMessage, lambda m: m.call))


# --- DCE RPC --------------------------------------------------------------------------


def _dce_stream(data: bytes) -> dcerpc.DcePdu:
    first = dcerpc.parse_co(data)
    if len(data) > first.length and data[first.length] != 5:
        raise ValueError("dcerpc: what follows is not a PDU")
    return first


def dcerpc_detect(msgs: Messages) -> Result:
    parse = _dce_stream if msgs.transport == "tcp" else dcerpc.parse_cl
    c, s = both_sides(msgs, parse)
    found = [m for m in (c, s) if isinstance(m, dcerpc.DcePdu)]
    if not found:
        return waiting(c, s)
    facts: dict[str, Fact] = {"dcerpc_pdus": tuple(m.type_name for m in found)}
    interface = next((m.interface_name for m in found if m.interface_name), None)
    if interface:
        facts["dcerpc_interface"] = interface
    return Detection("msrpc", facts, swapped=swapped(c, s, dcerpc.DcePdu, lambda m: m.request))


# --- CORBA GIOP / MIOP ----------------------------------------------------------------

GIOP_TYPES = ("Request", "Reply", "CancelRequest", "LocateRequest", "LocateReply",
              "CloseConnection", "MessageError", "Fragment")


def _giop(data: bytes) -> Result:
    """GIOP header: magic, version 1.0-1.3, flags (byte order, more fragments), message
    type, message size in the sender's byte order. MIOP: magic, version 1.0, flags."""
    if len(data) < 12:
        return NEED_MORE if len(data) >= 4 and data[:4] in (b"GIOP", b"MIOP") else None
    if data.startswith(b"MIOP"):
        if data[4] != 0x10 or data[5] & 0xFC:
            return None
        return Detection("corba", {"corba_transport": "MIOP"})
    major, minor, flags, kind = data[4], data[5], data[6], data[7]
    if not data.startswith(b"GIOP") or major != 1 or minor > 3 or flags & 0xFC:
        return None
    if kind >= len(GIOP_TYPES) - (minor == 0) or (minor == 0 and flags > 1):
        return None
    size = int.from_bytes(data[8:12], "little" if flags & 1 else "big")
    if size > 1 << 24:
        return None
    return Detection("corba", {"giop_version": f"{major}.{minor}",
                               "giop_message": GIOP_TYPES[kind]},
                     swapped=kind in (1, 4))


def corba_detect(msgs: Messages) -> Result:
    c = _giop(first_bytes(msgs.client, msgs.transport))
    s = _giop(first_bytes(msgs.server, msgs.transport))
    if isinstance(c, Detection):
        return c
    if isinstance(s, Detection):
        return Detection("corba", s.facts, swapped=not s.swapped and "giop_message" in s.facts)
    return waiting(c, s)


# --- Java RMI (JRMP) ------------------------------------------------------------------

JRMI_PROTOCOLS = {0x4B: "StreamProtocol", 0x4C: "SingleOpProtocol", 0x4D: "MultiplexProtocol"}


def _jrmi_ack(data: bytes) -> bool:
    """ProtocolAck 0x4E, then the client's host as seen by the server (modified UTF-8,
    two-octet length) and its port (four octets)."""
    if len(data) < 3 or data[0] != 0x4E:
        return False
    n = int.from_bytes(data[1:3], "big")
    host = data[3:3 + n]
    return (0 < n <= 255 and len(data) >= 7 + n and data[3 + n:5 + n] == b"\0\0"
            and all(0x21 <= b < 0x7F for b in host))


def jrmi_detect(msgs: Messages) -> Result:
    c, s = msgs.client_stream, msgs.server_stream
    if len(c) >= 7 and c[:6] in (b"JRMI\x00\x01", b"JRMI\x00\x02") and c[6] in JRMI_PROTOCOLS:
        return Detection("jrmi", {"jrmi_version": c[5], "jrmi_protocol": JRMI_PROTOCOLS[c[6]]})
    if len(c) < 7 and c and b"JRMI\x00\x02"[:len(c)] == c[:6] and len(c) >= 4:
        return NEED_MORE
    if not c and _jrmi_ack(s):
        return Detection("jrmi", {"jrmi_protocol": "StreamProtocol"})
    return None


# --- JSON-RPC -------------------------------------------------------------------------

JSON_HEADER = re.compile(rb"\AContent-Length: *(\d{1,7})\r\n(?:[\w-]+: *[^\r\n]*\r\n)*\r\n")
MAX_JSON = 1 << 16


def _jsonrpc_object(obj: object) -> str | None:
    """The method (or "response") of a JSON-RPC 2.0 or 1.0 request or response."""
    if not isinstance(obj, dict):
        return None
    method = obj.get("method")
    if obj.get("jsonrpc") == "2.0":
        if isinstance(method, str) and set(obj) <= {"jsonrpc", "method", "params", "id"}:
            return method
        if "id" in obj and set(obj) in ({"jsonrpc", "result", "id"}, {"jsonrpc", "error", "id"}):
            return "response"
        return None
    if set(obj) == {"method", "params", "id"} and isinstance(method, str) and isinstance(
            obj["params"], list):
        return method
    if set(obj) == {"result", "error", "id"}:
        return "response"
    return None


def _jsonrpc(data: bytes) -> Result:
    header = JSON_HEADER.match(data)  # framed as the Language Server Protocol does
    body = data[header.end():] if header else data
    text = body[:MAX_JSON].lstrip()
    if text[:1] not in (b"{", b"["):
        return None
    try:
        obj, _ = json.JSONDecoder().raw_decode(text.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        if len(data) < MAX_JSON and b'"jsonrpc"' in text[:200]:
            return NEED_MORE
        return None
    items = obj if isinstance(obj, list) and obj else [obj]
    methods = [_jsonrpc_object(o) for o in items]
    if any(m is None for m in methods):
        return None
    return Detection("json-rpc", {"jsonrpc_method": str(methods[0])})


STRATUM = re.compile(rb'"method" *: *"(?:mining\.|eth_submitLogin"|eth_getWork"|eth_submitWork"'
                     rb'|eth_submitHashrate"|login")')


def jsonrpc_detect(msgs: Messages) -> Result:
    if STRATUM.search(msgs.client_stream[:1024]) or STRATUM.search(msgs.server_stream[:1024]):
        return None  # Stratum: JSON-RPC carrying a mining pool's protocol, named by its own
    c, s = _jsonrpc(msgs.client_stream), _jsonrpc(msgs.server_stream)
    if isinstance(c, Detection):
        return c
    if isinstance(s, Detection):
        return Detection("json-rpc", s.facts, swapped=s.facts["jsonrpc_method"] != "response")
    return waiting(c, s)


# --- SOAP -----------------------------------------------------------------------------

SOAP_ENVELOPE = re.compile(
    rb"\A(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]{0,200}\?>\s*)?(?:<!--.{0,200}?-->\s*)?"
    rb"<(?:([A-Za-z_][\w.-]{0,30}):)?Envelope\b[^>]{0,2000}?"
    rb"xmlns(?::([A-Za-z_][\w.-]{0,30}))?=[\"']"
    rb"(http://schemas\.xmlsoap\.org/soap/envelope/|http://www\.w3\.org/2003/05/soap-envelope)"
    rb"[\"']", re.S)


def _soap(data: bytes) -> Result:
    m = SOAP_ENVELOPE.match(data[:4096])
    if m is None:
        if data[:5] == b"<?xml" and b"Envelope" not in data and len(data) < 256:
            return NEED_MORE
        return None
    if m.group(1) != m.group(2):  # the Envelope's prefix must be the one bound
        return None
    version = "1.1" if m.group(3).startswith(b"http://schemas") else "1.2"
    return Detection("soap", {"soap_version": version})


def soap_detect(msgs: Messages) -> Result:
    return decided(_soap(msgs.client_stream), _soap(msgs.server_stream))


DETECTORS = (
    Detector("sunrpc", BOTH, oncrpc_detect,
             "either side: an ONC RPC call (rpcvers 2, a plausible program, credential and "
             "verifier of known flavors, an AUTH_SYS body that adds up; over TCP after a "
             "record mark); named rpcbind, nfs or sunrpc by its program",
             "RFC 5531 (ONC RPC v2), RFC 1833 (rpcbind), RFC 1813/7530 (NFS)"),
    Detector("msrpc", BOTH, dcerpc_detect,
             "either side: a DCE RPC v5 PDU over TCP (header, data representation, fragment "
             "and auth lengths, a bind's presentation contexts) or a v4 datagram over UDP",
             "The Open Group C706 (DCE 1.1 RPC) ch. 12, MS-RPCE §2.2"),
    Detector("corba", BOTH, corba_detect,
             "either side: the GIOP header (magic, version 1.0-1.3, flags, message type, "
             "size) over TCP, or a MIOP packet header over UDP",
             "OMG CORBA 3.x Part 2 §9.4 (GIOP), OMG MIOP 1.0"),
    Detector("jrmi", TCP, jrmi_detect,
             "client: `JRMI`, version 1 or 2 and a protocol 0x4B-0x4D; or, alone, the "
             "server's ProtocolAck with the client's host and port",
             "Java RMI Specification ch. 10 (RMI wire protocol)"),
    Detector("json-rpc", TCP, jsonrpc_detect,
             "either side: a JSON object (or batch) of JSON-RPC 2.0 (`jsonrpc` \"2.0\" and "
             "a method, result or error) or 1.0 shape, bare or after a Content-Length header",
             "JSON-RPC 2.0 Specification, JSON-RPC 1.0, LSP base protocol framing"),
    Detector("soap", TCP, soap_detect,
             "either side: an XML document whose root is an Envelope in the SOAP 1.1 or 1.2 "
             "envelope namespace, sent without HTTP",
             "W3C SOAP 1.1 §4 and SOAP 1.2 Part 1 §5"),
)
