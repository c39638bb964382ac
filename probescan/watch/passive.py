"""Passive identification of a flow from the bytes already on the wire (pure).

The server's first bytes are matched with the same fingerprints as `scan` uses: first as a
banner (the `null` probe's rules, when the server spoke first or the client sent nothing yet),
then as the reply to whichever probe the client's first bytes resemble (a client that sent
`GET ` is treated like our `http-get` probe), then under every other probe. The client's first
bytes are parsed for what they tell on their own: an HTTP request line with Host and
User-Agent, a TLS ClientHello (SNI, ALPN, JA3, JA4), an SSH identification (and HASSH), a DNS
query. The server side adds the HTTP Server header, TLS ServerHello (JA3S) and certificate,
and the SSH server identification.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from probescan.catalog import FingerprintSet, ProbeSet
from probescan.catalog.fingerprints import CLIENT_PROBE
from probescan.classify.layers import PAYLOAD_LAYERS
from probescan.detect import Detection, Messages
from probescan.detect.registry import detect
from probescan.match import match_response
from probescan.model import Match, Transport
from probescan.protocols import dns, http, ssh, tls
from probescan.protocols.errors import NeedMore, ParseError
from probescan.protocols.tls_fingerprints import ja3, ja3s, ja4
from probescan.protocols.x509 import parse_certificate
from probescan.watch.flows import Shape

Facts = dict[str, Any]
SSH_IDENT_WITHIN = ssh.MAX_PREAMBLE_BYTES + ssh.MAX_IDENT_LINE  # where a server's ident can start
TLS_VERSIONS = {0x0300: "SSLv3", 0x0301: "TLSv1", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2",
                0x0304: "TLSv1.3"}


@dataclass(frozen=True, slots=True)
class PassiveResult:
    match: Match | None  # from the fingerprints, over the server's bytes
    probe: str | None  # under which probe's rules the match was found
    protocol: str | None  # what the parsers recognised, when no fingerprint matched
    client: Facts = field(default_factory=dict)
    server: Facts = field(default_factory=dict)
    detection: Detection | None = None  # what a payload detector proved (probescan.detect)
    waiting: bool = False  # a detector would decide with more packets
    port_service: str | None = None  # the server port's usual service (a hint, not evidence)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its field values (watch/workers.py sends results back): rebuilt by the
        constructor, faster than dataclasses' generic __setstate__."""
        return (PassiveResult, tuple([getattr(self, name) for name in _RESULT_FIELDS]))


_RESULT_FIELDS = tuple(f.name for f in fields(PassiveResult))


def _try(fn: Callable[[bytes], Any], data: bytes) -> Any | None:
    try:
        return fn(data)
    except (NeedMore, ParseError):
        return None
    except Exception:  # a parser bug must never take the watcher down
        return None


def client_facts(data: bytes, transport: str) -> tuple[str | None, Facts]:
    """(protocol, facts) from the client's first bytes."""
    if not data:
        return None, {}
    first = data[0]
    if transport == "tcp" and first == 0x16:
        ch = _try(tls.parse_client_hello, data)
        if ch is not None:
            facts: Facts = {"tls_sni": ch.sni, "tls_alpn": list(ch.alpn)}
            facts["ja3"] = ja3(ch)[1]
            facts["ja4"] = ja4(ch)
            return "tls", facts
    if transport == "tcp" and 0x41 <= first <= 0x5A:  # an upper-case method or "SSH-"
        req = _try(http.parse_request_head, data)
        if req is not None:
            return "http", {
                "http_method": req.method,
                "http_target": req.target,  # cut with a marker in the record (bounds.py)
                "http_host": req.host,
                "http_user_agent": req.user_agent,
            }
        ident = _try(ssh.parse_ident, data) if data.startswith(b"SSH-") else None
        if ident is not None:
            facts = {"ssh_ident": ident.line}
            kex = _try(lambda d: ssh.parse_kexinit(d[ident.length:]), data)
            if kex is not None:
                facts["hassh"] = ssh.hassh(kex)[1]
            return "ssh", facts
    q = _try(lambda d: dns.parse_message(d, tcp=transport == "tcp"), data) if (
        transport == "udp" or first == 0) else None  # DNS over TCP: a 2-byte length first
    if q is not None and not q.qr and q.questions:
        return "dns", {"dns_query": q.questions[0].name, "dns_type": q.questions[0].type}
    return None, {}


def server_facts(data: bytes, transport: str) -> tuple[str | None, Facts]:
    """(protocol, facts) from the server's first bytes."""
    if not data:
        return None, {}
    first = data[0]
    if transport == "tcp" and first == 0x16:
        sh = _try(tls.parse_server_hello, data)
        if sh is not None:
            facts: Facts = {"tls_version": TLS_VERSIONS.get(sh.version, hex(sh.version)),
                            "ja3s": ja3s(sh)[1]}
            if sh.alpn:
                facts["tls_alpn_selected"] = sh.alpn
            certs = _try(tls.parse_certificates, data) or []
            if certs:
                cert = _try(parse_certificate, certs[0])
                if cert is not None:
                    facts.update(cert_subject=cert.subject, cert_issuer=cert.issuer,
                                 cert_sans=list(cert.sans), cert_not_after=cert.not_after,
                                 cert_sha256=cert.sha256, cert_self_signed=cert.self_signed)
            return "tls", facts
    if transport == "tcp" and 0x20 <= first < 0x7F:  # text: an HTTP head or SSH ident
        resp = _try(http.parse_response_head, data)
        if resp is not None:
            return "http", {"http_status": resp.status, "http_server": resp.server}
        ident = _try(lambda d: ssh.parse_ident(d, server=True), data) if (
            b"SSH-" in data[:SSH_IDENT_WITHIN]) else None
        if ident is not None:
            facts = {"ssh_ident": ident.line}
            kex = _try(lambda d: ssh.parse_kexinit(d[ident.length:]), data)
            if kex is not None:
                facts["hassh_server"] = ssh.hassh_server(kex)[1]
            return "ssh", facts
    r = _try(lambda d: dns.parse_message(d, tcp=transport == "tcp"), data) if (
        transport == "udp" or first == 0) else None
    if r is not None and r.qr:
        return "dns", {"dns_rcode": r.rcode}
    return None, {}


def probe_order(client_data: bytes, probes: ProbeSet, transport: str,
                hint: str | None = None, port_service: str | None = None) -> list[str]:
    """Probe names whose rules to try on the server's reply, most plausible first.

    Only plausible ones: the banner rules (`null`) when the server may have spoken first,
    and the probes whose payload starts like what the client sent. Generic rules (written for
    any probe) come with each of them. Trying every probe's rules on every flow would cost
    hundreds of regex searches per flow for little gain."""
    names: list[str] = []
    if transport == "tcp":
        names.append("null")
    head = client_data[:4]
    if head:
        names.extend(probes.names_starting_like(transport, head))
    if hint is not None:  # the client's request named the service: its probes' rules apply
        names.extend(probes.names_for_service(transport, hint))
    if port_service is not None:  # last: the port's usual service (the reply must still match
        names.extend(probes.names_for_service(transport, port_service))  # that probe's rules)
    if not names:
        names.append("null")
    return list(dict.fromkeys(names))


HTTP_ALPN = frozenset({"http/1.1", "h2", "http/1.0", "h3"})
TLS_NAMES = frozenset({"tls", "ssl"})


def split(data: bytes, ends: tuple[int, ...]) -> tuple[bytes, ...]:
    """`data` cut at `ends` (where each kept packet ended); bytes beyond the last end come as
    one last message."""
    out, start = [], 0
    for end in ends:
        out.append(data[start:end])
        start = end
    if start < len(data):
        out.append(data[start:])
    return tuple(out)


def flow_messages(client_data: bytes, server_data: bytes, transport: Transport,
                  shape: Shape) -> Messages:
    """The detectors' view of a flow, from its kept bytes and its shape (flows.Flow.shape)."""
    c_ends, s_ends, first, c_port, s_port, s_ip = shape
    return Messages(transport, split(client_data, c_ends), split(server_data, s_ends),
                    c_port, s_port, s_ip, first)


def identify(
    client_data: bytes,
    server_data: bytes,
    transport: Transport,
    probes: ProbeSet,
    rules: FingerprintSet,
    port_service: str | None = None,
    messages: Messages | None = None,
    layers: frozenset[str] = PAYLOAD_LAYERS,
) -> PassiveResult:
    """What the flow's first bytes show. `port_service` (the server port's usual service)
    only adds its probes' rules to those tried on the server's reply, last: it matters for a
    reply seen without its request (a capture that missed it, an asymmetric route).

    When no fingerprint matched hard, the payload detectors (probescan.detect) read the
    flow's first messages (`messages`, or the two byte strings as one message each); a
    protocol they prove replaces what the parsers alone recognised (mDNS over DNS).

    `layers` (classify/layers.py) turns off the fingerprints (without "rules") or the
    parsers and detectors (without "parsers")."""
    parsers, use_rules = "parsers" in layers, "rules" in layers  # classify/layers.py
    c_proto, c_facts = client_facts(client_data, transport) if parsers else (None, {})
    s_proto, s_facts = server_facts(server_data, transport) if parsers else (None, {})
    best: Match | None = None
    best_probe: str | None = None
    client_match = match_response(rules, CLIENT_PROBE, client_data) if (
        client_data and use_rules) else None
    hint = client_match.service if client_match else None
    if server_data and use_rules:
        for name in probe_order(client_data, probes, transport, hint, port_service):
            m = match_response(rules, name, server_data)
            if m is None:
                continue
            if best is None or (best.soft and not m.soft):
                best, best_probe = m, name
            if not m.soft:
                break
    if client_match is not None and (
        best is None or best.soft or client_match.service in PREFERRED_CLIENT_SERVICES
    ):
        best, best_probe = client_match, CLIENT_PROBE
    protocol = s_proto or c_proto
    if protocol == "tls" and (best is None or best.service in TLS_NAMES) and HTTP_ALPN.intersection(
        c_facts.get("tls_alpn") or ()
    ):
        protocol = "https"  # HTTP inside TLS: the client offered an HTTP ALPN protocol id
        best = best_probe = None
    detection: Detection | None = None
    waiting = False
    multiplexed = best is not None and best.service in MULTIPLEXED
    if parsers and (best is None or best.soft or multiplexed) and (
            protocol not in _PARSED_FULLY) and (client_data or server_data):
        if messages is None:
            messages = Messages(transport, (client_data,) if client_data else (),
                                (server_data,) if server_data else ())
        found = detect(messages)
        if isinstance(found, Detection) and not (multiplexed and found.service in MULTIPLEXED):
            detection, protocol = found, found.service
            if best is not None and best.service != found.service:
                best = best_probe = None  # the structure proves another protocol
        else:
            waiting = found is not None
    return PassiveResult(best, best_probe, protocol, c_facts, s_facts, detection, waiting,
                         port_service)


# What the parsers above read completely: the detectors have nothing to add.
_PARSED_FULLY = frozenset({"tls", "https", "http", "ssh"})
# Protocols that share their 5-tuple with what they set up (RFC 7983: STUN, then DTLS and
# SRTP/RTP on one flow). A fingerprint naming one of them names only the first messages:
# the detectors still read the flow, and a protocol they prove from later messages is the
# flow's.
MULTIPLEXED = frozenset({"stun"})


# A client's request can be more telling than the server's reply: an absolute-URI request
# is sent to a proxy, whose reply is the origin's (with the origin's Server header).
PREFERRED_CLIENT_SERVICES = frozenset({"http-proxy"})
