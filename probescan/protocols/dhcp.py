"""BOOTP and DHCP messages (RFC 951, RFC 2131 §2, options of RFC 2132).

A message is a fixed 236-byte header (op, hardware type and length, hops, transaction id,
seconds, flags, four addresses, client hardware address, server name, boot file name), then,
for DHCP and for BOOTP with RFC 1497 vendor extensions, the magic cookie 99.130.83.99 and a
list of options (code, length, value; 0 is one pad byte, 255 ends the list). Plain BOOTP
(no cookie) carries a 64-byte vendor area instead.

Over UDP the message is the datagram: running out of bytes inside the header or an option is
NeedMore (a valid prefix); a field no BOOTP message has is ParseError.
"""

from __future__ import annotations

from dataclasses import dataclass

from probescan.protocols.errors import NeedMore, ParseError

HEADER_LEN = 236
COOKIE = b"\x63\x82\x53\x63"
BOOTP_LEN = 300  # header and the 64-byte vendor area of RFC 951
MAX_HOPS = 16  # relay agents discard a message past this many (RFC 1542 §4.1.1)
MAX_HTYPE = 40  # ARP hardware types assigned so far (IANA) stay below this
OPT_PAD, OPT_END = 0, 255
OPT_HOSTNAME, OPT_MSG_TYPE, OPT_PARAMS, OPT_VENDOR_CLASS = 12, 53, 55, 60

MESSAGE_TYPES = {
    1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK", 6: "NAK", 7: "RELEASE",
    8: "INFORM", 9: "FORCERENEW", 10: "LEASEQUERY", 11: "LEASEUNASSIGNED",
    12: "LEASEUNKNOWN", 13: "LEASEACTIVE", 14: "BULKLEASEQUERY", 15: "LEASEQUERYDONE",
    16: "ACTIVELEASEQUERY", 17: "LEASEQUERYSTATUS", 18: "TLS",
}  # fmt: skip
_FROM_SERVER = frozenset({2, 5, 6, 9, 11, 12, 13, 15, 17})  # sent with op BOOTREPLY
_EITHER = 18  # DHCPTLS (RFC 7724) goes both ways


@dataclass(frozen=True, slots=True)
class DhcpMessage:
    op: int  # 1 BOOTREQUEST, 2 BOOTREPLY
    htype: int
    hlen: int
    xid: int
    chaddr: bytes  # the first hlen bytes
    sname: str
    file: str
    options: tuple[tuple[int, bytes], ...]  # in order, pads and end left out
    cookie: bool  # False: plain BOOTP with a vendor area
    message_type: int | None  # option 53
    hostname: str | None  # option 12
    vendor_class: str | None  # option 60
    params: tuple[int, ...]  # option 55, the parameters the client asks for

    @property
    def type_name(self) -> str:
        if self.message_type is None:
            return "BOOTREQUEST" if self.op == 1 else "BOOTREPLY"
        return MESSAGE_TYPES.get(self.message_type, str(self.message_type))


def _c_string(field: bytes, what: str) -> str:
    """A NUL-terminated text field (or all zero); anything after the NUL is ignored."""
    text = field.split(b"\0", 1)[0]
    if any(b < 0x20 or b > 0x7E for b in text):
        raise ParseError(f"BOOTP {what} field is not text")
    return text.decode("ascii")


def _check_fixed(data: bytes) -> None:
    """Refuse a (partial) header no BOOTP message has, cheapest fields first."""
    if data[0] not in (1, 2):
        raise ParseError("not BOOTP: op is neither request nor reply")
    if len(data) >= 2 and not 0 < data[1] < MAX_HTYPE:
        raise ParseError("not BOOTP: unknown hardware type")
    if len(data) >= 3 and data[2] > 16:
        raise ParseError("not BOOTP: hardware address longer than chaddr")
    if len(data) >= 4 and data[3] > MAX_HOPS:
        raise ParseError("not BOOTP: too many relay hops")
    if len(data) >= 12 and (data[10] & 0x7F or data[11]):
        raise ParseError("not BOOTP: reserved flag bits set")


def _options(data: bytes) -> tuple[tuple[int, bytes], ...]:
    out: list[tuple[int, bytes]] = []
    pos = 0
    while True:
        if pos >= len(data):
            raise NeedMore("DHCP options end without the End option")
        code = data[pos]
        if code == OPT_END:
            return tuple(out)
        if code == OPT_PAD:
            pos += 1
            continue
        if pos + 2 > len(data) or pos + 2 + data[pos + 1] > len(data):
            raise NeedMore("DHCP option runs past the message")
        size = data[pos + 1]
        out.append((code, data[pos + 2 : pos + 2 + size]))
        pos += 2 + size


def _text(value: bytes | None) -> str | None:
    if value is None:
        return None
    return value.rstrip(b"\0").decode("utf-8", "replace")


def parse_message(data: bytes) -> DhcpMessage:
    """A BOOTP or DHCP message (the whole UDP datagram)."""
    if not data:
        raise NeedMore("empty")
    _check_fixed(data[:12])
    if len(data) < HEADER_LEN:
        raise NeedMore("BOOTP header incomplete")
    hlen = data[2]
    chaddr_field = data[28:44]
    if data[0] == 1 and any(chaddr_field[hlen:]) and data[1] == 1:
        raise ParseError("not BOOTP: Ethernet chaddr padding not zero")
    sname = _c_string(data[44:108], "sname")
    file = _c_string(data[108:236], "file")
    if len(data) < HEADER_LEN + 4:
        raise NeedMore("BOOTP vendor area incomplete")
    cookie = data[236:240] == COOKIE
    options: tuple[tuple[int, bytes], ...] = ()
    if cookie:
        options = _options(data[240:])
    elif len(data) < BOOTP_LEN:
        raise NeedMore("BOOTP vendor area incomplete")
    found = dict(reversed(options))  # the first occurrence of each code
    msg_type: int | None = None
    if OPT_MSG_TYPE in found:
        value = found[OPT_MSG_TYPE]
        if len(value) != 1 or value[0] not in MESSAGE_TYPES:
            raise ParseError("DHCP message type option out of range")
        msg_type = value[0]
        if msg_type != _EITHER and (msg_type in _FROM_SERVER) != (data[0] == 2):
            raise ParseError("DHCP message type does not fit op")
    return DhcpMessage(
        op=data[0],
        htype=data[1],
        hlen=hlen,
        xid=int.from_bytes(data[4:8], "big"),
        chaddr=chaddr_field[:hlen],
        sname=sname,
        file=file,
        options=options,
        cookie=cookie,
        message_type=msg_type,
        hostname=_text(found.get(OPT_HOSTNAME)),
        vendor_class=_text(found.get(OPT_VENDOR_CLASS)),
        params=tuple(found.get(OPT_PARAMS, b"")),
    )
