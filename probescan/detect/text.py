"""Text protocols whose first line is not a banner a fingerprint reads: XMPP streams.

XMPP (RFC 6120 §4): a stream opens with an optional XML declaration and a
`<stream:stream` element in the `jabber:client` / `jabber:server` namespace; a flow seen
mid-stream shows stanzas (`<iq`, `<message`, `<presence`) on both sides, or on one side with
the XMPP namespace or a stream header named.
"""

from __future__ import annotations

import re

from probescan.detect.base import NEED_MORE, TCP, Detection, Detector, Messages, Result

_DECL = re.compile(rb"<\?xml[ \t\r\n][^>]{0,200}\?>\s*")
_STREAM = re.compile(rb"<stream:stream[ \t\r\n>]")
_NS = re.compile(rb"""xmlns(?::stream)?=['"](?:jabber:(?:client|server)|http://etherx\.jabber\.org/streams)['"]""")
_STANZA = re.compile(rb"<(?:iq|message|presence)[ \t\r\n/>]")
_WINDOW = 1024


def _start(data: bytes) -> bytes:
    m = _DECL.match(data)
    return data[m.end():] if m else data


def _side(data: bytes) -> str | None:
    """"stream" (a stream header proven), "stanza" (a stanza starts the side), or None."""
    head = _start(data[:_WINDOW].lstrip())
    if _STREAM.match(head) and _NS.search(head):
        return "stream"
    if _STANZA.match(head):
        return "stream" if _NS.search(head) else "stanza"
    return None


def xmpp(msgs: Messages) -> Result:
    c, s = msgs.client_stream, msgs.server_stream
    sides = [_side(c) if c else None, _side(s) if s else None]
    if "stream" in sides:
        return Detection("xmpp", {"xmpp_seen": "stream"})
    if sides == ["stanza", "stanza"]:
        return Detection("xmpp", {"xmpp_seen": "stanzas"})
    if "stanza" in sides and not (c and s):
        return NEED_MORE  # one side's stanza: the other side decides
    first = (c or s)[:16].lstrip()
    if first and (b"<stream:stream".startswith(first) or b"<?xml ".startswith(first)):
        return NEED_MORE
    return None


DETECTORS = (
    Detector("xmpp", TCP, xmpp,
             "either side: `<stream:stream` in XMPP's namespace (after an XML declaration), "
             "or stanzas (`<iq`, `<message`, `<presence`) on both sides",
             "RFC 6120 §4 (XML streams), §8 (stanzas)"),
)
