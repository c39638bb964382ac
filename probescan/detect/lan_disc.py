"""Service discovery on the local network: SSDP, SLP, WS-Discovery, Dropbox LAN sync, TiVo.

* SSDP (UPnP Device Architecture 2.0 §1): HTTP over UDP; a search is `M-SEARCH * HTTP/1.1`
  (a method SSDP alone defines), an announcement `NOTIFY * HTTP/1.1` with NT and NTS
  "ssdp:alive|byebye|update", a search answer `HTTP/1.1 200 OK` with ST and USN.
* SLP (RFC 2165 v1, RFC 2608 v2): a header with version, function 1-11, a length equal to
  the message's, reserved flag bits zero and a language tag.
* WS-Discovery (OASIS WS-Discovery 1.1, and the 2005/04 draft): a SOAP 1.2 envelope over
  UDP in the discovery namespace, with a Hello, Bye, Probe, Resolve or match body.
* Dropbox LAN sync discovery: a JSON object broadcast with host_int, version, port and
  namespaces.
* TiVoConnect discovery beacon: `key=value` lines opening with `tivoconnect=`.
"""

from __future__ import annotations

import json

from probescan.detect.base import (
    BOTH,
    NEED_MORE,
    UDP,
    Detection,
    Detector,
    Fact,
    Messages,
    Result,
)

MAX_HEAD = 4096


# --- SSDP --------------------------------------------------------------------------------

_SSDP_STARTS = (b"M-SEARCH * HTTP/1.", b"NOTIFY * HTTP/1.", b"HTTP/1.1 200 OK\r\n",
                b"HTTP/1.0 200 OK\r\n")


def _http_headers(data: bytes) -> tuple[bytes, dict[str, str]] | None:
    """(start line, headers lower-cased) of an HTTP-over-UDP message, or None."""
    head = data[:MAX_HEAD]
    end = head.find(b"\r\n\r\n")
    if end < 0:
        end = head.find(b"\n\n")
        if end < 0:
            if len(data) > MAX_HEAD:
                return None
            end = len(head)  # some devices omit the blank line of a bodiless datagram
    lines = head[:end].replace(b"\r\n", b"\n").rstrip(b"\n").split(b"\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or any(c <= 0x20 or c >= 0x7F for c in name):
            return None
        headers[name.decode("ascii").lower()] = value.strip().decode("utf-8", "replace")
    return lines[0], headers


def ssdp_udp(msgs: Messages) -> Result:
    for data, from_client in msgs.interleaved(2):
        if not data.startswith(_SSDP_STARTS):
            continue
        parsed = _http_headers(data)
        if parsed is None:
            continue
        line, h = parsed
        if line.startswith(b"M-SEARCH"):
            ok = True  # the method exists only in SSDP (UDA 2.0 §1.3.2)
        elif line.startswith(b"NOTIFY"):
            ok = h.get("nts", "").startswith("ssdp:") and "nt" in h
        else:
            ok = "st" in h and "usn" in h
        if not ok:
            continue
        facts: dict[str, Fact] = {"ssdp_start": line.decode("ascii", "replace")}
        for key in ("st", "nt", "nts", "server", "user-agent", "location"):
            if h.get(key):
                facts["ssdp_" + key.replace("-", "_")] = h[key][:200]
        swapped = from_client and line.startswith(b"HTTP/")
        return Detection("ssdp", facts, swapped=swapped)
    return None


# --- SLP ---------------------------------------------------------------------------------

SLP_FUNCTIONS = {1: "SrvRqst", 2: "SrvRply", 3: "SrvReg", 4: "SrvDeReg", 5: "SrvAck",
                 6: "AttrRqst", 7: "AttrRply", 8: "DAAdvert", 9: "SrvTypeRqst",
                 10: "SrvTypeRply", 11: "SAAdvert"}
_SLP_REPLIES = frozenset({2, 5, 7, 10})
_V1_ENCODINGS = frozenset({3, 4, 1000, 1013, 1014, 1015, 106})  # MIBenum of RFC 2165 §7


def _lang_tag(tag: bytes) -> bool:
    return 0 < len(tag) <= 35 and all(c == 0x2D or 0x41 <= c | 0x20 <= 0x7A or
                                      0x30 <= c <= 0x39 for c in tag) and tag[0] != 0x2D


def _slp(data: bytes, stream: bool) -> Result:
    """One SLP message at the start of `data` (a datagram, or a TCP stream's start)."""
    if len(data) < 2 or data[0] not in (1, 2) or data[1] not in SLP_FUNCTIONS:
        return None
    if data[0] == 1:
        if data[1] == 11 or len(data) < 12:
            return None
        length = int.from_bytes(data[2:4], "big")
        flags_ok = data[4] & 0x07 == 0 and data[5] == 0  # reserved bits, dialect 0
        lang = data[6:8]
        ok = flags_ok and int.from_bytes(data[8:10], "big") in _V1_ENCODINGS
        header = 12
    else:
        if len(data) < 16:
            return None
        length = int.from_bytes(data[2:5], "big")
        flags = int.from_bytes(data[5:7], "big")
        lang_len = int.from_bytes(data[12:14], "big")
        lang = data[14 : 14 + lang_len]
        ok = flags & 0x1FFF == 0 and len(lang) == lang_len
        header = 14 + lang_len
    overflow = bool(data[4] & 0x80) if data[0] == 1 else bool(data[5] & 0x80)
    if not ok or not _lang_tag(lang) or length < header:
        return None
    if stream and len(data) < length:
        return NEED_MORE
    if len(data) != length and not (overflow and len(data) < length) and not stream:
        return None
    facts: dict[str, Fact] = {"slp_version": data[0], "slp_function": SLP_FUNCTIONS[data[1]]}
    return Detection("svrloc", facts)


def svrloc(msgs: Messages) -> Result:
    stream = msgs.transport == "tcp"
    sides = [(msgs.client_stream, True), (msgs.server_stream, False)] if stream else (
        msgs.interleaved(2))
    best: Result = None
    for data, from_client in sides:
        r = _slp(data, stream)
        if isinstance(r, Detection):
            swapped = from_client and data[1] in _SLP_REPLIES
            return Detection(r.service, r.facts, swapped=swapped)
        best = best or r
    return best


# --- WS-Discovery ------------------------------------------------------------------------

_WSD_NAMESPACES = (b"http://schemas.xmlsoap.org/ws/2005/04/discovery",
                   b"http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01")
_SOAP_ENVELOPES = (b"http://www.w3.org/2003/05/soap-envelope",
                   b"http://schemas.xmlsoap.org/soap/envelope/")
_WSD_ACTIONS = (b"Hello", b"Bye", b"ProbeMatches", b"Probe", b"ResolveMatches", b"Resolve")


def wsd_udp(msgs: Messages) -> Result:
    for data, _ in msgs.interleaved(2):
        text = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
        if not text.startswith(b"<"):
            continue
        head = text[:MAX_HEAD]
        if b"Envelope" not in head[:600] or not any(e in head for e in _SOAP_ENVELOPES):
            continue
        ns = next((n for n in _WSD_NAMESPACES if n in head), None)
        if ns is None:
            continue
        action = next((a for a in _WSD_ACTIONS if ns + b"/" + a in head), None)
        if action is None:
            continue
        return Detection("wsd", {"wsd_action": action.decode()})
    return None


# --- Dropbox LAN sync discovery ----------------------------------------------------------

def dropbox_udp(msgs: Messages) -> Result:
    for data, _ in msgs.interleaved(2):
        if not data.startswith(b"{") or b'"host_int"' not in data:
            continue
        try:
            obj = json.loads(data)
        except ValueError:
            continue
        if not isinstance(obj, dict):
            continue
        version, port = obj.get("version"), obj.get("port")
        if (isinstance(obj.get("host_int"), int) and isinstance(version, list)
                and all(isinstance(v, int) for v in version) and isinstance(port, int)
                and isinstance(obj.get("namespaces"), list)):
            return Detection("dropbox", {"dropbox_version": ".".join(map(str, version))})
    return None


# --- TiVoConnect -------------------------------------------------------------------------

def tivoconnect(msgs: Messages) -> Result:
    for data, _ in msgs.interleaved(2):
        if data[:12].lower() != b"tivoconnect=":
            continue
        lines = data.rstrip(b"\n").split(b"\n")
        pairs = dict(line.partition(b"=")[::2] for line in lines)
        if not all(b"=" in line and line[:1].isalpha() for line in lines):
            continue
        keys = {k.lower() for k in pairs}
        if not keys & {b"method", b"identity", b"machine", b"platform", b"services"}:
            continue
        facts: dict[str, Fact] = {}
        for key, value in pairs.items():
            if key.lower() in (b"machine", b"platform", b"swversion"):
                facts["tivo_" + key.decode("ascii").lower()] = value.decode("utf-8", "replace")
        return Detection("tivoconnect", facts)
    return None


DETECTORS = (
    Detector("ssdp", UDP, ssdp_udp,
             "either side: `M-SEARCH * HTTP/1.x` and its header lines, `NOTIFY *` with NT "
             "and NTS ssdp:*, or a 200 answer with ST and USN, over UDP",
             "UPnP Device Architecture 2.0 §1 (SSDP)"),
    Detector("svrloc", BOTH, svrloc,
             "either side: SLP header (version 1 or 2, function, length equal to the "
             "message, reserved flags zero, language tag)", "RFC 2165, RFC 2608"),
    Detector("wsd", UDP, wsd_udp,
             "either side: a SOAP envelope in the WS-Discovery namespace with a Hello, Bye, "
             "Probe, Resolve or match action", "OASIS WS-Discovery 1.1 (and the 2005/04 draft)"),
    Detector("dropbox", UDP, dropbox_udp,
             "either side: the JSON discovery broadcast with host_int, version, port and "
             "namespaces", "Dropbox LAN sync discovery (db-lsp-disc)"),
    Detector("tivoconnect", BOTH, tivoconnect,
             "either side: the `tivoconnect=1` beacon of key=value lines",
             "TiVo Connect Automatic Machine Discovery"),
)
