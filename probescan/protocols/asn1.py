"""A small strict reader of ASN.1 BER/DER encodings (ITU-T X.690), definite lengths only.

Enough for the protocols whose messages are ASN.1 (Kerberos, LDAP, SNMP, Z39.50): read one
tag-length-value at a position, list a constructed value's children, decode INTEGER,
OCTET STRING / character strings, BOOLEAN and OBJECT IDENTIFIER. Lengths must be definite
(the indefinite form, 0x80, is refused: none of those protocols allows it) and take at most
four octets. A value that runs past the end of the input is NeedMore when it is the outermost
one (`outer=True`, a prefix of a longer message), ParseError inside an enclosing value (its
children must fit in it).
"""

from __future__ import annotations

from dataclasses import dataclass

from probescan.protocols.errors import NeedMore, ParseError

UNIVERSAL, APPLICATION, CONTEXT, PRIVATE = 0, 1, 2, 3
BOOLEAN, INTEGER, BIT_STRING, OCTET_STRING, NULL, OID, ENUMERATED = 1, 2, 3, 4, 5, 6, 10
UTF8_STRING, SEQUENCE, SET = 12, 16, 17
PRINTABLE_STRING, IA5_STRING, GENERALIZED_TIME, VISIBLE_STRING, GENERAL_STRING = 19, 22, 24, 26, 27
STRING_TAGS = frozenset({OCTET_STRING, UTF8_STRING, PRINTABLE_STRING, IA5_STRING,
                         VISIBLE_STRING, GENERAL_STRING, GENERALIZED_TIME})
MAX_TAG = 0x1FFFFF  # high tag numbers in at most three octets
MAX_INT_OCTETS = 9  # a 64-bit unsigned value with its sign octet


@dataclass(frozen=True, slots=True)
class Tlv:
    """One encoded value: its identifier, and where its contents lie in the input."""

    cls: int  # UNIVERSAL, APPLICATION, CONTEXT or PRIVATE
    constructed: bool
    tag: int
    start: int  # first octet of the contents
    end: int  # octet after the contents
    offset: int  # first octet of the identifier

    @property
    def length(self) -> int:
        return self.end - self.start

    def is_(self, cls: int, tag: int, constructed: bool | None = None) -> bool:
        return (self.cls == cls and self.tag == tag
                and (constructed is None or self.constructed == constructed))


def read_header(data: bytes, pos: int = 0, end: int | None = None, *,
                outer: bool = False) -> Tlv:
    """The identifier and length at `pos`; the contents must end by `end` (default: no
    bound) but need not all be in the input yet (a prefix: `Tlv.end` may pass its end).
    A header cut by the input's end: NeedMore when `outer`, else ParseError."""
    limit = len(data) if end is None else min(end, len(data))
    cut = end is None or end > len(data)  # the input, not the container, ends at `limit`
    short: type[Exception] = NeedMore if outer and cut else ParseError
    if pos >= limit:
        raise short("asn1: no identifier")
    first = data[pos]
    cls, constructed, tag = first >> 6, bool(first & 0x20), first & 0x1F
    p = pos + 1
    if tag == 0x1F:  # high tag number form, base 128
        tag = 0
        for i in range(4):
            if p >= limit:
                raise short("asn1: tag cut")
            b = data[p]
            p += 1
            if i == 0 and b == 0x80:
                raise ParseError("asn1: tag with a leading zero")
            tag = tag << 7 | b & 0x7F
            if not b & 0x80:
                break
        else:
            raise ParseError("asn1: tag too long")
        if tag < 0x1F or tag > MAX_TAG:
            raise ParseError("asn1: tag in the wrong form")
    if p >= limit:
        raise short("asn1: length missing")
    n = data[p]
    p += 1
    if n & 0x80:
        count = n & 0x7F
        if count == 0:
            raise ParseError("asn1: indefinite length")
        if count > 4:
            raise ParseError("asn1: length too long")
        if p + count > limit:
            raise short("asn1: length cut")
        n = int.from_bytes(data[p:p + count], "big")
        p += count
    if end is not None and p + n > end:
        raise ParseError("asn1: contents run past their container")
    return Tlv(cls, constructed, tag, p, p + n, pos)


def read_tlv(data: bytes, pos: int = 0, end: int | None = None, *, outer: bool = False) -> Tlv:
    """The value whose identifier starts at `pos`, which must end by `end` (default: the
    input's end) and be whole in the input. Running out of input before `end`: NeedMore
    when `outer`, else ParseError; running past `end`: ParseError."""
    t = read_header(data, pos, end, outer=outer)
    if t.end > len(data):
        if outer:
            raise NeedMore("asn1: contents cut")
        raise ParseError("asn1: contents run past the input")
    return t


def walk(data: bytes, start: int, end: int, limit: int = 4096) -> tuple[list[Tlv], bool]:
    """The values in contents [start, end) as far as the input goes (a prefix of a longer
    message): their headers, the last one's contents possibly cut, and whether all of
    [start, end) was there."""
    found: list[Tlv] = []
    p = start
    while p < end:
        if p >= len(data):
            return found, False
        if len(found) >= limit:
            raise ParseError("asn1: too many elements")
        try:
            t = read_header(data, p, end, outer=True)
        except NeedMore:
            return found, False
        found.append(t)
        if t.end > len(data):
            return found, False
        p = t.end
    return found, True


def check_tree(data: bytes, tlv: Tlv, depth: int = 12) -> None:
    """Every constructed value under `tlv` (to `depth` levels) made exactly of whole values."""
    if not tlv.constructed:
        return
    if depth <= 0:
        raise ParseError("asn1: nested too deep")
    for child in children(data, tlv):
        check_tree(data, child, depth - 1)


def children(data: bytes, tlv: Tlv, limit: int = 4096) -> list[Tlv]:
    """The values that make up a constructed value's contents, exactly (at most `limit`)."""
    if not tlv.constructed:
        raise ParseError("asn1: not constructed")
    found: list[Tlv] = []
    p = tlv.start
    while p < tlv.end:
        if len(found) >= limit:
            raise ParseError("asn1: too many elements")
        child = read_tlv(data, p, tlv.end)
        found.append(child)
        p = child.end
    return found


def expect(data: bytes, pos: int, end: int, cls: int, tag: int,
           constructed: bool | None = None) -> Tlv:
    """The value at `pos` (inside `end`), which must carry this class and tag."""
    t = read_tlv(data, pos, end)
    if not t.is_(cls, tag, constructed):
        raise ParseError(f"asn1: expected class {cls} tag {tag}, got {t.cls}/{t.tag}")
    return t


def unwrap(data: bytes, tlv: Tlv, cls: int = UNIVERSAL, tag: int | None = None) -> Tlv:
    """The single value inside an explicitly tagged one ([n] EXPLICIT T)."""
    inner = children(data, tlv, limit=1)
    if len(inner) != 1:
        raise ParseError("asn1: explicit tag without its value")
    if tag is not None and not inner[0].is_(cls, tag):
        raise ParseError(f"asn1: expected class {cls} tag {tag} inside")
    return inner[0]


def integer(data: bytes, tlv: Tlv) -> int:
    """A two's-complement INTEGER (or ENUMERATED) of at most 9 octets."""
    if tlv.constructed or not 1 <= tlv.length <= MAX_INT_OCTETS:
        raise ParseError("asn1: bad integer")
    return int.from_bytes(data[tlv.start:tlv.end], "big", signed=True)


def octets(data: bytes, tlv: Tlv) -> bytes:
    """The contents of a primitive value."""
    if tlv.constructed:
        raise ParseError("asn1: constructed string")
    return data[tlv.start:tlv.end]


def text(data: bytes, tlv: Tlv, limit: int = 1024) -> str:
    """A primitive string value as text (UTF-8, undecodable octets replaced), cut at `limit`."""
    return octets(data, tlv)[:limit].decode("utf-8", "replace")


def boolean(data: bytes, tlv: Tlv) -> bool:
    if tlv.constructed or tlv.length != 1:
        raise ParseError("asn1: bad boolean")
    return data[tlv.start] != 0


def oid(data: bytes, tlv: Tlv) -> str:
    """An OBJECT IDENTIFIER in dotted form."""
    raw = octets(data, tlv)
    if not raw or raw[-1] & 0x80 or len(raw) > 128:
        raise ParseError("asn1: bad object identifier")
    arcs: list[int] = []
    value = 0
    fresh = True
    for b in raw:
        if fresh and b == 0x80:
            raise ParseError("asn1: object identifier arc with a leading zero")
        value = value << 7 | b & 0x7F
        fresh = not b & 0x80
        if fresh:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(a) for a in head + arcs[1:])
