"""Control protocols of small networks: CoAP, NAT-PMP / PCP, HSRP, BFD.

* CoAP (RFC 7252 §3): version 1, type, token length 0-8, a defined code, message id, token,
  options in delta/length form (numbers known, lengths in range), then 0xFF and a payload;
  a request and its answer share the message id (piggybacked) or the token. Failing that,
  draft-ietf-core-coap-08's layout (option count in the header, token as option 11), which
  must name a resource when alone.
* NAT-PMP (RFC 6886): version 0; requests of 2 or 12 bytes, answers (opcode + 128) with a
  result code 0-5 and the seconds since the epoch; a request alone is too short to tell,
  unless it is a mapping request retransmitted unchanged while no answer comes.
  PCP (RFC 6887): version 2, a 24-byte header, opcode ANNOUNCE/MAP/PEER whose body sizes
  add up, options in 4-byte units.
* HSRP (RFC 2281): version 0, opcode hello/coup/resign, a defined state, hold time not
  under hello time, reserved zero, 20 bytes; HSRPv2's group state TLV (type 1, length 40).
* BFD (RFC 5880 §4.1): version 1, diagnostic 0-8, multipoint bit clear, a detect
  multiplier, a length equal to the datagram, a non-zero own discriminator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from probescan.detect.base import UDP, Detection, Detector, Fact, Messages, Result

# --- CoAP --------------------------------------------------------------------------------

COAP_REQUESTS = {1: "GET", 2: "POST", 3: "PUT", 4: "DELETE", 5: "FETCH", 6: "PATCH",
                 7: "iPATCH"}
_COAP_RESPONSES = frozenset({
    0x41, 0x42, 0x43, 0x44, 0x45, 0x5F,  # 2.01-2.05, 2.31 Continue
    0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x88, 0x8C, 0x8D, 0x8F, 0x96, 0x9D,  # 4.xx
    0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5,  # 5.00-5.05
})
# option number -> (min, max) value length (RFC 7252 §5.10, RFC 7641, 7959, 7967, 8613,
# 9175, 8768, 9177)
_COAP_OPTIONS = {
    1: (0, 8), 3: (1, 255), 4: (1, 8), 5: (0, 0), 6: (0, 3), 7: (0, 2), 8: (0, 255),
    9: (1, 255), 11: (0, 255), 12: (0, 2), 14: (0, 4), 15: (0, 255), 16: (0, 1),
    17: (0, 2), 20: (0, 255), 21: (0, 40), 23: (0, 3), 27: (0, 3), 28: (0, 4),
    35: (1, 1034), 39: (1, 255), 60: (0, 4), 252: (0, 3), 258: (0, 1), 292: (0, 8),
}  # fmt: skip


class _CoapMessage(NamedTuple):
    code: int
    mid: int
    token: bytes
    options: frozenset[int]  # option numbers present
    payload: bool  # a payload marker and bytes after it


def _coap(d: bytes) -> _CoapMessage | None:
    """A well-formed CoAP message's header, options and whether it carries a payload."""
    if len(d) < 4 or d[0] >> 6 != 1:
        return None
    tkl, code = d[0] & 0x0F, d[1]
    if tkl > 8 or (code not in COAP_REQUESTS and code not in _COAP_RESPONSES and code != 0):
        return None
    kind = (d[0] >> 4) & 3  # CON, NON, ACK, RST (§4.2-4.3)
    if (kind == 3 and code) or (kind == 2 and code in COAP_REQUESTS) or (kind == 1 and not code):
        return None  # a reset is empty, an ACK never a request, an empty message no NON
    if code == 0:  # an empty message is the 4-byte header alone
        return _CoapMessage(0, int.from_bytes(d[2:4], "big"), b"", frozenset(), False) if (
            len(d) == 4) else None
    pos, number, numbers = 4 + tkl, 0, set[int]()
    if pos > len(d):
        return None
    while pos < len(d):
        if d[pos] == 0xFF:
            return _CoapMessage(code, int.from_bytes(d[2:4], "big"), d[4 : 4 + tkl],
                                frozenset(numbers), True) if pos + 1 < len(d) else None
        delta, length = d[pos] >> 4, d[pos] & 0x0F
        pos += 1
        for nibble in (delta, length):
            if nibble == 15:
                return None
        ext = [0, 0]
        for i, nibble in enumerate((delta, length)):
            if nibble == 13:
                if pos >= len(d):
                    return None
                ext[i] = d[pos] + 13
                pos += 1
            elif nibble == 14:
                if pos + 2 > len(d):
                    return None
                ext[i] = int.from_bytes(d[pos : pos + 2], "big") + 269
                pos += 2
            else:
                ext[i] = nibble
        number += ext[0]
        bounds = _COAP_OPTIONS.get(number)
        if bounds is None or not bounds[0] <= ext[1] <= bounds[1] or pos + ext[1] > len(d):
            return None
        pos += ext[1]
        numbers.add(number)
    return _CoapMessage(code, int.from_bytes(d[2:4], "big"), d[4 : 4 + tkl], frozenset(numbers),
                        False)


_COAP_URI = frozenset({3, 11, 15})  # Uri-Host, Uri-Path, Uri-Query (RFC 7252 §5.10)
_COAP_CONTENT_FORMAT = 12


def _coap_code(code: int) -> str:
    return COAP_REQUESTS.get(code) or f"{code >> 5}.{code & 0x1F:02d}"


# draft-ietf-core-coap-08 (with observe-03 and block-03), the version deployed before the
# RFC: the header's low nibble counts the options (no token field, no payload marker), the
# token is option 11, the path option 9. Option number -> (min, max) value length.
_DRAFT08_OPTIONS = {
    1: (1, 2), 2: (0, 4), 3: (1, 270), 4: (1, 8), 5: (1, 270), 6: (1, 270), 7: (0, 2),
    8: (1, 270), 9: (1, 270), 10: (0, 2), 11: (1, 8), 12: (1, 2), 13: (0, 8), 14: (0, 4),
    15: (1, 270), 17: (1, 3), 19: (1, 3), 21: (0, 0),
}  # fmt: skip
_DRAFT08_TEXT = frozenset({3, 5, 6, 8, 9, 15})  # URI and location parts: strings
_DRAFT08_URI = frozenset({5, 9, 15})  # Uri-Host, Uri-Path, Uri-Query
_DRAFT08_TOKEN = 11


def _coap_draft08(d: bytes) -> _CoapMessage | None:
    """A draft-08 CoAP message: its option count of options, each of a known number and
    length (URI parts printable text); what follows the options is the payload."""
    if len(d) < 4 or d[0] >> 6 != 1:
        return None
    count, code, kind = d[0] & 0x0F, d[1], (d[0] >> 4) & 3
    if code not in _COAP_RESPONSES and not 1 <= code <= 4 and code != 0:
        return None
    if (kind == 3 and code) or (kind == 2 and code in COAP_REQUESTS) or (kind == 1 and not code):
        return None
    if code == 0:
        return _CoapMessage(0, int.from_bytes(d[2:4], "big"), b"", frozenset(), False) if (
            len(d) == 4 and count == 0) else None
    pos, number, numbers, token = 4, 0, set[int](), b""
    for _ in range(count):
        if pos >= len(d):
            return None
        number, length = number + (d[pos] >> 4), d[pos] & 0x0F
        pos += 1
        if length == 15:  # an extended length: 15 + the next byte
            if pos >= len(d):
                return None
            length, pos = 15 + d[pos], pos + 1
        bounds = _DRAFT08_OPTIONS.get(number)
        if bounds is None or not bounds[0] <= length <= bounds[1] or pos + length > len(d):
            return None
        value = d[pos : pos + length]
        if number in _DRAFT08_TEXT and not all(0x20 < b < 0x7F for b in value):
            return None
        if number == _DRAFT08_TOKEN:
            token = value
        pos += length
        numbers.add(number)
    return _CoapMessage(code, int.from_bytes(d[2:4], "big"), token, frozenset(numbers),
                        pos < len(d))


def _coap_draft08_alone(m: _CoapMessage) -> bool:
    """A lone draft-08 message tells itself apart only as a request naming its resource: a
    URI option (printable, checked above) and one more option (a lone answer's options are
    too easily matched by chance)."""
    return m.code in COAP_REQUESTS and bool(m.options & _DRAFT08_URI) and len(m.options) >= 2


def _rfc_alone(m: _CoapMessage) -> bool:
    """Alone, a message must carry enough to be told from noise (a text line can parse as a
    header and one option): a request naming its resource (Uri-Host, Uri-Path or Uri-Query),
    a payload with its Content-Format, or two options or more."""
    return bool((m.code in COAP_REQUESTS and m.options & _COAP_URI) or len(m.options) >= 2
                or (m.payload and _COAP_CONTENT_FORMAT in m.options))


def _any_pair(a: _CoapMessage, b: _CoapMessage) -> bool:
    return True


def _draft08_pair(a: _CoapMessage, b: _CoapMessage) -> bool:
    """A draft-08 pair: its request names a resource."""
    return any(x.code in COAP_REQUESTS and bool(x.options & _DRAFT08_URI) for x in (a, b))


class _Layout(NamedTuple):
    parse: Callable[[bytes], _CoapMessage | None]
    alone: Callable[[_CoapMessage], bool]  # may a lone message be named?
    pair: Callable[[_CoapMessage, _CoapMessage], bool]  # may a matching pair be named?


# RFC 7252's layout first; draft-08's only where it fails
_LAYOUTS = (_Layout(_coap, _rfc_alone, _any_pair),
            _Layout(_coap_draft08, _coap_draft08_alone, _draft08_pair))


def coap_udp(msgs: Messages) -> Result:
    for layout in _LAYOUTS:
        found = _coap_found(msgs, layout)
        if found is not None:
            return found
    return None


def _coap_found(msgs: Messages, layout: _Layout) -> Result:
    mine = [(layout.parse(d), from_client) for d, from_client in
            ((msgs.client[0] if msgs.client else b"", True),
             (msgs.server[0] if msgs.server else b"", False))]
    found = [(m, c) for m, c in mine if m is not None]
    if not found:
        return None
    if len(found) == 2:
        (a, _), (b, _) = found
        if layout.pair(a, b) and (a[1] == b[1] or (a[2] and a[2] == b[2])):  # id or token
            code = a[0] if a[0] in COAP_REQUESTS else b[0]
            return Detection("coap", {"coap_code": _coap_code(code)},
                             swapped=a[0] not in COAP_REQUESTS and b[0] in COAP_REQUESTS)
    m, from_client = found[0]
    if not layout.alone(m):
        return None
    swapped = from_client and m[0] not in COAP_REQUESTS and not msgs.server
    return Detection("coap", {"coap_code": _coap_code(m[0])}, swapped=swapped)


# --- NAT-PMP and PCP ---------------------------------------------------------------------

def _natpmp(d: bytes) -> str | None:
    if len(d) < 2 or d[0] != 0:
        return None
    op = d[1]
    if op == 0:
        return "request" if len(d) == 2 else None
    if op in (1, 2):
        return "request" if len(d) == 12 and d[2:4] == b"\0\0" else None
    if op in (128, 129, 130) and len(d) == (12 if op == 128 else 16):
        return "response" if int.from_bytes(d[2:4], "big") <= 5 else None
    return None


def _pcp(d: bytes) -> str | None:
    if len(d) < 24 or d[0] != 2 or len(d) % 4 or len(d) > 1100:
        return None
    response, op = bool(d[1] & 0x80), d[1] & 0x7F
    body = {0: 0, 1: 36, 2: 56}.get(op)
    if body is None or len(d) < 24 + body or (op == 0 and any(d[4:8])):
        return None  # ANNOUNCE asks and answers with a zero lifetime (RFC 6887 §14.1)
    if response:
        if d[2] or d[3] > 13 or any(d[12:24]):
            return None
    elif d[2:4] != b"\0\0":
        return None
    pos = 24 + body
    while pos < len(d):  # options: code, reserved, length, data padded to 4
        if pos + 4 > len(d) or d[pos] == 0:
            return None
        pos += 4 + (int.from_bytes(d[pos + 2 : pos + 4], "big") + 3) // 4 * 4
    return ("response" if response else "request") if pos == len(d) else None


def _natpmp_retried(side: tuple[bytes, ...]) -> bool:
    """A mapping request (12 bytes, an internal port) sent again unchanged, as a client
    retransmits it while no answer comes (RFC 6886 §3.1, §3.3)."""
    first = side[0]
    return (len(first) == 12 and first[1] in (1, 2) and first[4:6] != b"\0\0"
            and len(side) >= 2 and side[1] == first)


def natpmp_udp(msgs: Messages) -> Result:
    firsts = [side[0] if side else b"" for side in msgs.sides]
    kinds = []
    for d in firsts:
        kind, version = _natpmp(d), 0
        if kind is None:
            kind, version = _pcp(d), 2
        kinds.append((kind, version))
    (ck, cv), (sk, sv) = kinds
    if ck is None and sk is None:
        return None
    if ck is not None and sk is not None and (ck == sk or cv != sv):
        return None
    lone = ck if sk is None else sk if ck is None else None
    if lone == "request" and (cv if ck is not None else sv) == 0 and not _natpmp_retried(
            msgs.client if ck is not None else msgs.server):
        return None  # a NAT-PMP request alone (2 or 12 bytes) is too little; its answer proves it
    version = cv if ck is not None else sv
    return Detection("nat-pmp", {"natpmp_version": version},
                     swapped=ck == "response" or sk == "request")


# --- HSRP --------------------------------------------------------------------------------

HSRP_STATES = {0: "Initial", 1: "Learn", 2: "Listen", 4: "Speak", 8: "Standby", 16: "Active"}


def _hsrp(d: bytes) -> Fact | None:
    if len(d) == 20 and d[0] == 0:
        if d[1] > 2 or d[2] not in HSRP_STATES or d[7] or d[3] == 0 or d[4] < d[3]:
            return None
        auth = d[8:16].rstrip(b"\0")
        if b"\0" in auth or not all(0x20 <= b < 0x7F for b in auth):
            return None
        return HSRP_STATES[d[2]]
    return _hsrp_v2(d)


_HSRP2_TLVS = {1: (40,), 2: (4,), 3: (8,), 4: (28,)}  # group, interface, text auth, MD5


def _hsrp_v2(d: bytes) -> Fact | None:
    """HSRPv2 (Cisco): TLVs that fill the datagram, with a group state TLV (version 2,
    opcode, state, IP version 4 or 6, hello time not over hold time)."""
    pos, group = 0, False
    while pos < len(d):
        if pos + 2 > len(d) or d[pos + 1] not in _HSRP2_TLVS.get(d[pos], ()):
            return None
        t = d[pos : pos + 2 + d[pos + 1]]
        if len(t) < 2 + d[pos + 1]:
            return None
        if d[pos] == 1:
            hello, hold = int.from_bytes(t[18:22], "big"), int.from_bytes(t[22:26], "big")
            if t[2] != 2 or t[3] > 2 or t[4] > 6 or t[5] not in (4, 6) or not 0 < hello <= hold:
                return None
            group = True
        pos += len(t)
    return "v2" if group else None


def hsrp_udp(msgs: Messages) -> Result:
    for side in msgs.sides:
        for d in side[:3]:
            state = _hsrp(d)
            if state is not None:
                return Detection("hsrp", {"hsrp_state": state})
    return None


# --- BFD ---------------------------------------------------------------------------------

BFD_STATES = ("AdminDown", "Down", "Init", "Up")
_BFD_AUTH_LENS = {1: range(4, 20), 2: (24,), 3: (24,), 4: (28,), 5: (28,)}


def _bfd(d: bytes) -> str | None:
    if len(d) < 24 or d[0] >> 5 != 1 or d[0] & 0x1F > 8 or d[1] & 0x01 or d[2] == 0:
        return None
    if d[3] != len(d) or not any(d[4:8]):
        return None
    if d[1] & 0x04:  # authentication section: type, length
        lens = _BFD_AUTH_LENS.get(d[24] if len(d) > 24 else 0)
        if lens is None or len(d) - 24 != d[25] or d[25] not in lens:
            return None
    elif len(d) != 24:
        return None
    state = d[1] >> 6
    if state == 3 and not any(d[8:12]):  # Up: the peer's discriminator is known
        return None
    return BFD_STATES[state]


def bfd_udp(msgs: Messages) -> Result:
    for side in msgs.sides:
        if side:
            state = _bfd(side[0])
            if state is not None:
                return Detection("bfd", {"bfd_state": state})
    return None


DETECTORS = (
    Detector("coap", UDP, coap_udp,
             "either side: version 1, defined code, token length, options of known numbers "
             "and lengths; a lone message must carry options, a pair shares id or token; "
             "or draft-08's option-count layout, a request naming its resource",
             "RFC 7252, RFC 7641, RFC 7959, RFC 8132; draft-ietf-core-coap-08"),
    Detector("nat-pmp", UDP, natpmp_udp,
             "either side: NAT-PMP version 0 requests (2 or 12 bytes) and answers (result "
             "0-5), a mapping request retransmitted unchanged, or PCP version 2 headers "
             "whose opcode bodies and options add up",
             "RFC 6886 (NAT-PMP), RFC 6887 (PCP)"),
    Detector("hsrp", UDP, hsrp_udp,
             "either side: the 20-byte HSRPv1 hello/coup/resign (state, timers, reserved, "
             "text authentication) or HSRPv2's TLVs with a group state TLV",
             "RFC 2281; Cisco HSRP version 2"),
    Detector("bfd", UDP, bfd_udp,
             "either side: BFD control packet, version 1, length equal to the datagram, "
             "detect multiplier and own discriminator set", "RFC 5880, RFC 5881"),
)
