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
* nothing -> `unknown`.
A port-protocol anomaly is flagged when the label's service is not what the server port is
known for (SSH on 443, HTTP on 22, anything but HTTP on 80, ...).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from probescan.detect import Detection
from probescan.engine.verdict import LABEL, LabelBasis
from probescan.model import FLOW_SHOWN_BYTES as RAW_EXCERPT
from probescan.model import ServiceRecord, escape_bytes
from probescan.watch.flows import Flow
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
            "conflicts": list(self.label.conflicts),
            "anomalies": list(self.anomalies),
            "announced_by": self.announced_by,
            "passive": {
                "fingerprint": m.fingerprint_id if m else None,
                "source": m.source if m else None,
                "as_reply_to": self.passive.probe,
                "protocol": self.passive.protocol,
                "client": self.passive.client,
                "server": self.passive.server,
                "detected": _detected(self.passive.detection),
                "client_raw": escape_bytes(bytes(f.c2s.data[:RAW_EXCERPT])),
                "server_raw": escape_bytes(bytes(f.s2c.data[:RAW_EXCERPT])),
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
    facts = {k: list(v) if isinstance(v, tuple) else v for k, v in d.facts.items()}
    return {"service": d.service, "facts": facts, "swapped": d.swapped}


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
            )
        method, confidence = LABEL["disagree"]
        return Label(
            m.service, m.product, m.version, m.info, m.cpe, confidence, method,
            (f"probe of the server says {probe.service}"
             + (f" ({probe.product})" if probe.product else ""),),
        )
    if m is not None:
        basis: LabelBasis = "passive-hard" if not m.soft else (
            "detector" if passive.detection is not None else "passive-soft")
        method, confidence = LABEL[basis]  # a soft match the structure proves is stronger
        return Label(m.service, m.product, m.version, m.info, m.cpe, confidence, method)
    d = passive.detection
    if d is not None:
        if p_ok and probe is not None and probe.service == d.service:
            method, confidence = LABEL["agree"]
            return Label(d.service, probe.product or d.product, probe.version or d.version,
                         probe.info, probe.cpe, confidence, method, tunnel=probe.tunnel)
        method, confidence = LABEL["detector"]
        conflicts = (f"probe of the server says {probe.service}",) if (
            p_ok and probe is not None) else ()
        info = tunnel_hint(d.service, {**passive.client, **d.facts}, passive.port_service)
        return Label(d.service, d.product, d.version, info, (), confidence, method, conflicts)
    if p_ok and probe is not None and probe.service is not None:
        conflicts = ()
        if passive.protocol and passive.protocol != probe.service and not (
            passive.protocol in ("tls", "https") and probe.tunnel == "tls"
        ):
            conflicts = (f"the wire shows {passive.protocol}",)
        return Label(probe.service, probe.product, probe.version, probe.info, probe.cpe,
                     probe.confidence, "probe", conflicts, probe.tunnel)
    method, confidence = LABEL["parser"]
    if passive.protocol == "https":
        return Label("http", info="inside TLS", confidence=confidence, method=method,
                     tunnel="tls")
    if passive.protocol:
        info = tunnel_hint(passive.protocol, passive.client, passive.port_service)
        return Label(passive.protocol, info=info, confidence=confidence, method=method)
    method, confidence = LABEL["nothing"]
    return Label("unknown", confidence=confidence, method=method)


def announced_label(label: Label, service: str, by_flow: int) -> Label:
    """A flow that another flow announced (an FTP data connection, a TFTP transfer: see
    watch/expect.py) is what that flow set up, whatever its bytes (a transferred file can
    look like any protocol); what those bytes matched stays in the passive evidence."""
    what = "data connection" if service == "ftp-data" else "transfer"
    method, confidence = LABEL["announced"]
    return Label(service, info=f"{what} of flow {by_flow}", confidence=confidence,
                 method=method, conflicts=label.conflicts)


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
