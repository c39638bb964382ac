"""DCE 1.1 RPC PDUs (The Open Group C706 ch. 12; Microsoft MS-RPCE §2.2).

Connection-oriented (version 5.0/5.1, over TCP): a 16-octet header (version, minor version,
PDU type, flags, data representation, fragment length, auth length, call id); a bind or
alter_context lists presentation contexts (interface UUID and version, transfer syntaxes)
that must fit the fragment, a bind_ack answers with a secondary address and results.
Connectionless (version 4, over UDP): an 80-octet header with the object, interface and
activity UUIDs and a body length that the datagram must hold.
The data representation says the byte order of the integer fields: 0x10 little-endian,
0x00 big-endian (character sets ASCII or EBCDIC, four floating-point formats).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from probescan.protocols.errors import NeedMore, ParseError

CO_TYPES = {
    0: "request", 2: "response", 3: "fault", 11: "bind", 12: "bind_ack", 13: "bind_nak",
    14: "alter_context", 15: "alter_context_resp", 16: "auth3", 17: "shutdown",
    18: "co_cancel", 19: "orphaned",
}  # fmt: skip
CL_TYPES = {
    0: "request", 1: "ping", 2: "response", 3: "fault", 4: "working", 5: "nocall",
    6: "reject", 7: "ack", 8: "cl_cancel", 9: "fack", 10: "cancel_ack",
}  # fmt: skip
CO_REQUESTS = frozenset({0, 11, 14, 16, 18, 19})
CL_REQUESTS = frozenset({0, 1, 7, 8})
INTERFACES = {
    "e1af8308-5d1f-11c9-91a4-08002b14a0fa": "epmapper",
    "12345778-1234-abcd-ef00-0123456789ab": "lsarpc",
    "12345778-1234-abcd-ef00-0123456789ac": "samr",
    "12345678-1234-abcd-ef00-01234567cffb": "netlogon",
    "4b324fc8-1670-01d3-1278-5a47bf6ee188": "srvsvc",
    "6bffd098-a112-3610-9833-46c3f87e345a": "wkssvc",
    "e3514235-4b06-11d1-ab04-00c04fc2dcd2": "drsuapi",
    "367abb81-9844-35f1-ad32-98f038001003": "svcctl",
    "338cd001-2244-31f1-aaaa-900038001003": "winreg",
    "86d35949-83c9-4044-b424-db363231fd0c": "ITaskSchedulerService",
    "000001a0-0000-0000-c000-000000000046": "IRemoteSCMActivator",
    "99fcfec4-5260-101b-bbcb-00aa0021347a": "IObjectExporter",
    "4d9f4ab8-7d1c-11cf-861e-0020af6e7c57": "IActivation",
    "dea00001-6c97-11d1-8271-00a02442df7d": "PNIO-Device",
    "dea00002-6c97-11d1-8271-00a02442df7d": "PNIO-Controller",
    "dea00003-6c97-11d1-8271-00a02442df7d": "PNIO-Supervisor",
    "dea00004-6c97-11d1-8271-00a02442df7d": "PNIO-ParameterServer",
}  # fmt: skip
MAX_CONTEXTS = 64
Order = Literal["little", "big"]


@dataclass(frozen=True, slots=True)
class DcePdu:
    version: int  # 5 (connection-oriented) or 4 (connectionless)
    ptype: int
    interface: str | None  # UUID of the bind's first context, or the CL header's
    length: int  # octets of this PDU

    @property
    def type_name(self) -> str:
        return (CO_TYPES if self.version == 5 else CL_TYPES)[self.ptype]

    @property
    def request(self) -> bool:
        return self.ptype in (CO_REQUESTS if self.version == 5 else CL_REQUESTS)

    @property
    def interface_name(self) -> str | None:
        if self.interface is None:
            return None
        return INTERFACES.get(self.interface, self.interface)


def _order(drep: bytes) -> Order:
    """The integer byte order from the data representation (or as much of it as there
    is), which must be valid."""
    if drep[0] & 0xEE or drep[1:2] > b"\x03" or drep[2:] not in (b"", b"\0", b"\0\0"):
        raise ParseError("dcerpc: bad data representation")
    return "little" if drep[0] & 0x10 else "big"


def _uuid(raw: bytes, order: Order) -> str:
    return str(uuid.UUID(bytes_le=raw) if order == "little" else uuid.UUID(bytes=raw))


def _contexts(data: bytes, pos: int, end: int, order: Order) -> str | None:
    """The p_cont_list of a bind: count, then each context's id, transfer count, abstract
    syntax and transfer syntaxes (20 octets each); the first interface's UUID."""
    if pos + 4 > end:
        raise ParseError("dcerpc: bind cut")
    count = data[pos]
    if not 1 <= count <= MAX_CONTEXTS:
        raise ParseError("dcerpc: bad context count")
    pos += 4
    first = None
    for _ in range(count):
        if pos + 24 > end:  # id, transfer count, then the abstract syntax (UUID, version)
            raise ParseError("dcerpc: bind cut")
        transfers = data[pos + 2]
        if not transfers:
            raise ParseError("dcerpc: context without transfer syntax")
        if first is None:
            first = _uuid(data[pos + 4:pos + 20], order)
        pos += 4 + 20 * (1 + transfers)
    if pos > end:
        raise ParseError("dcerpc: contexts overrun the PDU")
    return first


def parse_co(data: bytes, pos: int = 0) -> DcePdu:
    """The connection-oriented PDU at `pos`; it must be whole."""
    head = data[pos:pos + 16]
    if head[:1] != b"\x05" or (len(head) > 1 and head[1] > 1):
        raise ParseError("dcerpc: not version 5")
    if len(head) > 2 and head[2] not in CO_TYPES:
        raise ParseError("dcerpc: unknown PDU type")
    if len(head) > 4:
        _order(head[4:8])
    if len(head) < 16:
        raise NeedMore("dcerpc: header cut")
    order = _order(head[4:8])
    ptype = head[2]
    frag = int.from_bytes(head[8:10], order)
    auth = int.from_bytes(head[10:12], order)
    if frag < 16 or (auth and 16 + 8 + auth > frag):
        raise ParseError("dcerpc: bad fragment or auth length")
    if len(data) < pos + frag:
        raise NeedMore("dcerpc: PDU cut")
    end = pos + frag - (8 + auth if auth else 0)
    body = pos + 16
    interface = None
    if ptype in (11, 14):  # max_xmit, max_recv, assoc_group, contexts
        interface = _contexts(data, body + 8, end, order)
    elif ptype in (12, 15):  # max_xmit, max_recv, assoc_group, sec_addr, pad, results
        if body + 10 > end:
            raise ParseError("dcerpc: bind_ack cut")
        addr = int.from_bytes(data[body + 8:body + 10], order)
        p = body + 10 + addr
        p += -(p - pos) % 4
        if p + 4 > end or not 1 <= data[p] <= MAX_CONTEXTS or p + 4 + 24 * data[p] > end:
            raise ParseError("dcerpc: bad bind_ack results")
    elif ptype in (0, 2) and body + 8 > end:
        raise ParseError("dcerpc: request or response header cut")
    return DcePdu(5, ptype, interface, frag)


def parse_cl(data: bytes) -> DcePdu:
    """A connectionless PDU: the whole datagram."""
    if data[:1] != b"\x04" or (len(data) > 1 and data[1] not in CL_TYPES):
        raise ParseError("dcerpc: not version 4")
    if len(data) > 4:
        _order(data[4:7])
    if len(data) < 80:
        raise NeedMore("dcerpc: header cut")
    order = _order(data[4:7])
    body = int.from_bytes(data[74:76], order)
    if data[78] == 0 and len(data) != 80 + body:
        raise ParseError("dcerpc: body length disagrees with the datagram")
    if len(data) < 80 + body:
        raise NeedMore("dcerpc: body cut")
    return DcePdu(4, data[1], _uuid(data[24:40], order), len(data))
