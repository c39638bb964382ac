"""Combine passive evidence and active probe results into one flow label (pure).

The rule (docs/watch.md; each case's method and confidence: the table LABEL of
probescan.engine.verdict):
* passive fingerprint match and probe of the server agree on the service -> the label takes
  the more specific product/version (the probe's when both have one) ("agree");
* they disagree -> the label is the passive one (it is what this flow carried), and the
  disagreement is listed under `conflicts`; nothing is hidden ("disagree");
* only a passive fingerprint match -> "passive-hard" or "passive-soft";
* only a probe of the server -> its label and confidence, method `probe`;
* a protocol proven by a payload detector (probescan.detect) -> that protocol ("detector"),
  or "agree" when the probe of the server names it too; a probe naming another service is
  listed under `conflicts`;
* only a protocol recognised by the parsers (a TLS ClientHello, an HTTP request, ...) ->
  that protocol ("parser");
* nothing -> `unknown`; then the statistical layer (probescan.classify) may name the flow
  from its behaviour: a behaviour signature for a flow whose payload was not captured
  ("signature", the signature's confidence, at most 5), else the profiles' forest
  ("statistical", confidence 1..5 by the profile's distance).
Each label names the layer that decided it (`decided_by`: classify/layers.py).
A port-protocol anomaly is flagged when the label's service is not what the server port is
known for (SSH on 443, HTTP on 22, anything but HTTP on 80, ...).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from probescan.bounds import cut_facts
from probescan.classify.features import Behaviour, behaviour_of, size_histograms
from probescan.classify.flowclass import flow_class
from probescan.classify.layers import DECIDED_BY, DecidedBy
from probescan.classify.signatures import Signature
from probescan.classify.statistical import Verdict
from probescan.detect import Detection
from probescan.engine.verdict import LABEL, LabelBasis
from probescan.model import FLOW_SHOWN_BYTES as RAW_EXCERPT
from probescan.model import ServiceRecord, excerpt
from probescan.watch.flows import Direction, Flow
from probescan.watch.passive import PassiveResult

# Services that may legitimately stand where the port table names another one.
_SAME = {
    "https": {"http", "tls", "https"},
    "http": {"http", "http-proxy"},
    "http-alt": {"http", "http-proxy", "tls"},
    "http-proxy": {"http", "http-proxy"},
    "imaps": {"imap", "tls"},
    "pop3s": {"pop3", "tls"},
    "smtps": {"smtp", "tls"},
    "submissions": {"smtp", "tls"},
    "submission": {"smtp"},
    "ldaps": {"ldap", "tls"},
    "domain": {"dns"},
    "xmpp-client": {"xmpp"},
    "ms-wbt-server": {"rdp"},
    "microsoft-ds": {"smb"},
    "netbios-ssn": {"smb"},
    "mysql": {"mysql"},
    # the port table's names for a protocol's other ports (nmap's): the same protocol there
    "dhcpc": {"dhcps"},  # a DHCP server's replies go to the client's port 68
    "radacct": {"radius"},  # RADIUS accounting (RFC 2866)
    "snmptrap": {"snmp"},  # traps and informs
    "ipsec-nat-t": {"isakmp"},  # IKE after the non-ESP marker (RFC 3948)
    "socks": {"socks4", "socks5"},
    "tor-socks": {"socks4", "socks5"},
}


@dataclass(frozen=True, slots=True)
class Label:
    service: str
    product: str | None = None
    version: str | None = None
    info: str | None = None
    cpe: tuple[str, ...] = ()
    confidence: int = 0
    method: str = "none"
    conflicts: tuple[str, ...] = ()
    tunnel: str | None = None
    decided_by: DecidedBy | None = None  # the layer (classify/layers.py); None: nothing


@dataclass(slots=True)
class FlowRecord:
    flow: Flow
    passive: PassiveResult
    label: Label
    anomalies: list[str] = field(default_factory=list)
    server_probe: ServiceRecord | None = None
    client_probe: ServiceRecord | None = None
    probed: list[str] = field(default_factory=list)  # "server", "client" when queued
    labeled_at: float = field(default_factory=time.time)  # wall clock when the label was made
    announced_by: int | None = None  # the flow that announced this one (FTP control, TFTP)
    behaviour: Behaviour | None = None  # sizes and timing (None: read from `flow` on output)
    verdict: Verdict | None = None  # the statistical layer's, when it ran
    signature: Signature | None = None  # the behaviour signature that named the flow

    def to_dict(self) -> dict[str, Any]:
        """The flow record: the shape probescan.schema.FLOW states, keys in its order
        (tests/test_schema.py holds it to it; docs/watch.md)."""
        f = self.flow
        m = self.passive.match
        return {
            "kind": "flow",
            "id": f.id,
            "transport": f.transport,
            "client": {"ip": f.client[0], "port": f.client[1]},
            "server": {"ip": f.server[0], "port": f.server[1]},
            "roles": f.roles,
            "midstream": f.midstream,
            "vlan": f.vlan,
            "first_seen": f.first_seen,
            "last_seen": f.last_seen,
            "labeled_at": self.labeled_at,
            "packets": {"c2s": f.c2s.packets, "s2c": f.s2c.packets},
            "bytes": {"c2s": f.c2s.bytes, "s2c": f.s2c.bytes},
            "service": self.label.service,
            "product": self.label.product,
            "version": self.label.version,
            "info": self.label.info,
            "tunnel": self.label.tunnel,
            "cpe": list(self.label.cpe),
            "confidence": self.label.confidence,
            "method": self.label.method,
            "decided_by": self.label.decided_by,
            "conflicts": list(self.label.conflicts),
            "anomalies": list(self.anomalies),
            "announced_by": self.announced_by,
            "behaviour": behaviour_record(self.behaviour or behaviour_of(f), self.verdict,
                                          self.signature),
            "passive": {
                "fingerprint": m.fingerprint_id if m else None,
                "source": m.source if m else None,
                "as_reply_to": self.passive.probe,
                "protocol": self.passive.protocol,
                "client": cut_facts(self.passive.client),
                "server": cut_facts(self.passive.server),
                "detected": _detected(self.passive.detection),
                "client_raw": _first_bytes(f.c2s),
                "server_raw": _first_bytes(f.s2c),
            },
            "probes": {
                "server": self.server_probe.to_dict() if self.server_probe else None,
                "client": self.client_probe.to_dict() if self.client_probe else None,
                "queued": list(self.probed),
            },
        }


TUNNELS = frozenset({"tls", "quic", "dtls"})


def tunnel_hint(protocol: str, facts: dict[str, Any] | Any, port_service: str | None
                ) -> str | None:
    """For a flow whose only evidence is a TLS, QUIC or DTLS handshake: the server name and
    application protocols the client asked for, and the port's usual service as a hint of
    what runs inside (imaps on 993); None for other protocols."""
    if protocol not in TUNNELS:
        return None
    parts = []
    if facts.get("tls_sni"):
        parts.append(f"SNI {facts['tls_sni']}")
    alpn = facts.get("tls_alpn")
    if alpn:
        parts.append("ALPN " + ",".join(alpn if isinstance(alpn, (list, tuple)) else [alpn]))
    if port_service and port_service not in TUNNELS and port_service != "ssl":
        parts.append(f"port's usual service {port_service}")
    return "; ".join(parts) or None


def _detected(d: Detection | None) -> dict[str, Any] | None:
    """What a payload detector proved (probescan.detect), as the record shows it."""
    if d is None:
        return None
    return {"service": d.service, "facts": cut_facts(d.facts), "swapped": d.swapped}


def _first_bytes(d: Direction) -> str:
    """A direction's first RAW_EXCERPT bytes, escaped, and `…[+N bytes]` for the payload
    bytes that followed (retransmissions counted)."""
    if not d.data:  # no payload, or a headers-only capture: nothing to show or to cut
        return ""
    return excerpt(bytes(d.data[:RAW_EXCERPT]), RAW_EXCERPT, max(d.bytes, len(d.data)))


def combine(passive: PassiveResult, probe: ServiceRecord | None) -> Label:
    m = passive.match
    p_ok = probe is not None and probe.state == "open" and probe.service not in (
        None, "unknown", "tcpwrapped") and probe.method != "table"
    if m is not None and p_ok and probe is not None:
        if m.service == probe.service:
            method, confidence = LABEL["agree"]
            return Label(
                m.service,
                probe.product or m.product,
                probe.version or m.version,
                probe.info or m.info,
                probe.cpe or m.cpe,
                confidence,
                method,
                tunnel=probe.tunnel,
                decided_by=DECIDED_BY["agree"],
            )
        method, confidence = LABEL["disagree"]
        return Label(
            m.service, m.product, m.version, m.info, m.cpe, confidence, method,
            (f"probe of the server says {probe.service}"
             + (f" ({probe.product})" if probe.product else ""),),
            decided_by=DECIDED_BY["disagree"],
        )
    if m is not None:
        basis: LabelBasis = "passive-hard" if not m.soft else (
            "detector" if passive.detection is not None else "passive-soft")
        method, confidence = LABEL[basis]  # a soft match the structure proves is stronger
        return Label(m.service, m.product, m.version, m.info, m.cpe, confidence, method,
                     decided_by="rules")
    d = passive.detection
    if d is not None:
        if p_ok and probe is not None and probe.service == d.service:
            method, confidence = LABEL["agree"]
            return Label(d.service, probe.product or d.product, probe.version or d.version,
                         probe.info, probe.cpe, confidence, method, tunnel=probe.tunnel,
                         decided_by="parsers")
        method, confidence = LABEL["detector"]
        conflicts = (f"probe of the server says {probe.service}",) if (
            p_ok and probe is not None) else ()
        info = tunnel_hint(d.service, {**passive.client, **d.facts}, passive.port_service)
        return Label(d.service, d.product, d.version, info, (), confidence, method, conflicts,
                     decided_by=DECIDED_BY["detector"])
    if p_ok and probe is not None and probe.service is not None:
        conflicts = ()
        if passive.protocol and passive.protocol != probe.service and not (
            passive.protocol in ("tls", "https") and probe.tunnel == "tls"
        ):
            conflicts = (f"the wire shows {passive.protocol}",)
        return Label(probe.service, probe.product, probe.version, probe.info, probe.cpe,
                     probe.confidence, "probe", conflicts, probe.tunnel, decided_by="probe")
    method, confidence = LABEL["parser"]
    if passive.protocol == "https":
        return Label("http", info="inside TLS", confidence=confidence, method=method,
                     tunnel="tls", decided_by=DECIDED_BY["parser"])
    if passive.protocol:
        info = tunnel_hint(passive.protocol, passive.client, passive.port_service)
        return Label(passive.protocol, info=info, confidence=confidence, method=method,
                     decided_by=DECIDED_BY["parser"])
    method, confidence = LABEL["nothing"]
    return Label("unknown", confidence=confidence, method=method)


def announced_label(label: Label, service: str, by_flow: int) -> Label:
    """A flow that another flow announced (an FTP data connection, a TFTP transfer: see
    watch/expect.py) is what that flow set up, whatever its bytes (a transferred file can
    look like any protocol); what those bytes matched stays in the passive evidence."""
    what = "data connection" if service == "ftp-data" else "transfer"
    method, confidence = LABEL["announced"]
    return Label(service, info=f"{what} of flow {by_flow}", confidence=confidence,
                 method=method, conflicts=label.conflicts, decided_by=DECIDED_BY["announced"])


LEARNT_AS_TLS = frozenset({"tls", "ssl", "https"})


def learnt_as(label: Label) -> str:
    """The name the statistics know a flow so labelled by (what profiles learn it as, what
    its endpoint's pool counts it as): a protocol inside TLS is `tls`, its sizes are TLS's."""
    return "tls" if label.tunnel == "tls" or label.service in LEARNT_AS_TLS else label.service


def statistical_label(verdict: Verdict) -> Label:
    """A flow the payload left unknown, named by the profiles' forest
    (classify/statistical.py): its confidence grows with the share of the trees that agree;
    `info` says that share and the runner-up's."""
    method, _ = LABEL["statistical"]
    runner = (f"; next {verdict.runner_up} {verdict.runner_up_score:.0%}"
              if verdict.runner_up is not None and verdict.runner_up_score is not None else "")
    pooled = (f", with {verdict.pooled} earlier flow{'s' if verdict.pooled > 1 else ''} of "
              f"this endpoint" if verdict.pooled else "")
    info = (f"by its sizes and timing{pooled}: {verdict.score:.0%} of the profiles' trees "
            f"(needs {verdict.min_score:.0%}){runner}")
    return Label(verdict.profile.service, info=info, confidence=verdict.confidence,
                 method=method, decided_by=DECIDED_BY["statistical"])


def signature_label(sig: Signature) -> Label:
    """A flow whose payload was not captured, named by a behaviour signature
    (classify/signatures.py): the signature's confidence; `info` names it and its source."""
    method, _ = LABEL["signature"]
    return Label(sig.service, info=f"by its behaviour: signature {sig.name}",
                 confidence=sig.confidence, method=method, decided_by=DECIDED_BY["signature"])


def behaviour_record(b: Behaviour, verdict: Verdict | None,
                     signature: Signature | None = None) -> dict[str, Any]:
    """The record's `behaviour` (probescan.schema.BEHAVIOUR): the flow's class, its first
    payload sizes and their histograms, the statistical layer's verdict, and the behaviour
    signature that named the flow."""
    c_hist, s_hist = size_histograms(b.sizes)
    first: dict[str, float] = {}
    if b.entropy is not None:
        first = dict(zip(("c2s_entropy", "c2s_ones", "s2c_entropy", "s2c_ones"), b.entropy,
                         strict=True))
    stat = None
    if verdict is not None:
        p = verdict.profile
        stat = {
            "profile": p.service,
            "named": verdict.named,
            "why": verdict.why or None,
            "score": round(verdict.score, 4),
            "min_score": verdict.min_score,
            "runner_up": verdict.runner_up,
            "runner_up_score": (None if verdict.runner_up_score is None
                                else round(verdict.runner_up_score, 4)),
            "other_score": round(verdict.other_score, 4),
            "outside": list(verdict.outside),
            "beyond": round(verdict.beyond, 4),
            "pooled": verdict.pooled,
            "profile_flows": p.flows,
            "profile_captures": p.captures,
            "example": list(p.examples[0]) if p.examples else [],
            "c2s": list(p.c2s),
            "s2c": list(p.s2c),
        }
    sig = None
    if signature is not None:
        sig = {"name": signature.name, "service": signature.service, "spec": signature.spec,
               "confidence": signature.confidence}
    return {"class": flow_class(b), "sizes": list(b.sizes), "c2s": c_hist, "s2c": s_hist,
            "first_bytes": first, "statistical": stat, "signature": sig}


def anomalies(label: Label, server_port: int, transport: str,
              port_names: dict[tuple[str, int], str]) -> list[str]:
    if label.service == "unknown":
        return []
    usual = port_names.get((transport, server_port))
    if usual is None:
        return []
    allowed = _SAME.get(usual, {usual})
    if label.service in allowed:
        return []
    return [f"{label.service} on {server_port}/{transport} (usually {usual})"]
