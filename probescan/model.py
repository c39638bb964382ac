"""Records that flow one way through probescan: Endpoint -> Transcript -> Match -> ServiceRecord.

All are frozen dataclasses; nothing here does I/O.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from probescan.bounds import cut_items, cut_optional, excerpt_marker

Transport = Literal["tcp", "udp"]
PortState = Literal["open", "closed", "filtered", "open|filtered"]
Method = Literal["probe", "banner", "table", "passive", "statistical", "none"]

# Bounds on the raw bytes records carry (the rules that use them: probescan.engine.verdict).
# Defined here, at the bottom of the package, so records and everything above them share one
# definition each.
EVIDENCE_KEPT_BYTES = 2048  # of one response, kept in a record's evidence (or unmatched)
EVIDENCE_SHOWN_BYTES = 512  # of one kept response, written out (JSON, reports)
FLOW_SHOWN_BYTES = 256  # of each direction's first bytes, written in a flow record
# Strings a server fills (versions, certificate names) are cut where records are made, with a
# visible marker (probescan/bounds.py); so are the raw excerpts written out.


def _cut_fields(record: Any, names: tuple[str, ...]) -> None:
    """Cut a frozen record's server-filled string fields (probescan.bounds) in place."""
    for name in names:
        value = getattr(record, name)
        cut = cut_optional(value)
        if cut is not value:
            object.__setattr__(record, name, cut)
    cpe = getattr(record, "cpe", None)
    if cpe:
        cut_cpe = cut_items(cpe)
        if cut_cpe != cpe:
            object.__setattr__(record, "cpe", cut_cpe)


_MATCH_TEXT = ("product", "version", "info", "hostname", "os", "device")


@dataclass(frozen=True, slots=True)
class Endpoint:
    ip: str
    port: int
    transport: Transport = "tcp"
    hostname: str | None = None

    def __str__(self) -> str:
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{host}:{self.port}/{self.transport}"


@dataclass(frozen=True, slots=True)
class TlsInfo:
    version: str | None = None
    cipher: str | None = None
    alpn: str | None = None
    subject: str | None = None
    issuer: str | None = None
    sans: tuple[str, ...] = ()
    not_before: str | None = None
    not_after: str | None = None
    serial: str | None = None
    sha256: str | None = None
    self_signed: bool | None = None
    jarm: str | None = None  # the server's JARM (protocols/jarm.py): 62 characters

    def __post_init__(self) -> None:
        _cut_fields(self, ("version", "cipher", "alpn", "subject", "issuer", "not_before",
                           "not_after", "serial", "sha256"))
        sans = cut_items(self.sans)
        if sans != self.sans:
            object.__setattr__(self, "sans", sans)

    def to_dict(self) -> dict[str, Any]:
        """The shape probescan.schema.TLS states (tests/test_schema.py holds it to it)."""
        return {
            "version": self.version,
            "cipher": self.cipher,
            "alpn": self.alpn,
            "subject": self.subject,
            "issuer": self.issuer,
            "sans": list(self.sans),
            "not_before": self.not_before,
            "not_after": self.not_after,
            "serial": self.serial,
            "sha256": self.sha256,
            "self_signed": self.self_signed,
            "jarm": self.jarm,
        }


@dataclass(frozen=True, slots=True)
class Transcript:
    """What one probe sent and what came back."""

    probe: str
    sent: bytes
    received: bytes
    outcome: Literal["data", "eof", "reset", "timeout", "refused", "error"]
    elapsed: float
    tunnel: Literal["tls"] | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Match:
    fingerprint_id: str
    source: str  # "probescan:<file>" or "nmap:<file>"
    service: str
    soft: bool = False
    product: str | None = None
    version: str | None = None
    info: str | None = None
    hostname: str | None = None
    os: str | None = None
    device: str | None = None
    cpe: tuple[str, ...] = ()
    generic: bool = False  # a catch-all rule (priority >= 90): a later, fuller read may beat it
    # The match reached the end of a reply that did not end a line: more bytes may still show
    # another protocol (a slow server's "S" is not yet PostgreSQL's SSL answer).
    open_end: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        _cut_fields(self, _MATCH_TEXT)

    @property
    def strength(self) -> int:
        """2 specific hard match, 1 generic or open-ended hard match, 0 soft match."""
        return 0 if self.soft else (1 if self.generic or self.open_end else 2)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its field values (the watcher's identify worker sends matches back):
        rebuilt by the constructor, twice as fast as dataclasses' generic __setstate__."""
        return (Match, tuple([getattr(self, name) for name in _MATCH_FIELDS]))


_MATCH_FIELDS = tuple(f.name for f in fields(Match))


@dataclass(frozen=True, slots=True)
class Evidence:
    probe: str
    fingerprint_id: str | None
    source: str | None
    raw: bytes  # the response's first EVIDENCE_KEPT_BYTES
    tunnel: str | None = None
    size: int = -1  # bytes the response had as read (-1: len(raw))

    def to_dict(self) -> dict[str, Any]:
        """The shape probescan.schema.EVIDENCE states (tests/test_schema.py); `raw` is the
        response's first EVIDENCE_SHOWN_BYTES, escaped, and `…[+N bytes]` when it had more."""
        return {
            "probe": self.probe,
            "fingerprint": self.fingerprint_id,
            "source": self.source,
            "tunnel": self.tunnel,
            "raw": excerpt(self.raw, EVIDENCE_SHOWN_BYTES,
                           max(self.size, len(self.raw))),
        }


# Why a port has its state, in nmap's words (its --reason), by transport and state; a record
# may say otherwise (`ServiceRecord.reason`), e.g. "host-timeout": open, but the endpoint's
# time budget ran out before the service was named.
STATE_REASONS: dict[tuple[str, str], str] = {
    ("tcp", "open"): "syn-ack",
    ("tcp", "closed"): "conn-refused",
    ("tcp", "filtered"): "no-response",
    ("tcp", "open|filtered"): "no-response",
    ("udp", "open"): "udp-response",
    ("udp", "closed"): "port-unreach",
    ("udp", "filtered"): "no-response",
    ("udp", "open|filtered"): "no-response",
}
HOST_TIMEOUT = "host-timeout"


@dataclass(frozen=True, slots=True)
class ServiceRecord:
    endpoint: Endpoint
    state: PortState
    service: str | None = None
    product: str | None = None
    version: str | None = None
    info: str | None = None
    hostname: str | None = None
    os: str | None = None
    device: str | None = None
    cpe: tuple[str, ...] = ()
    tunnel: str | None = None
    tls: TlsInfo | None = None
    method: Method = "none"
    confidence: int = 0  # 0..10, nmap's "conf" scale
    evidence: tuple[Evidence, ...] = ()
    unmatched: tuple[Evidence, ...] = ()  # raw responses of an unidentified service
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    reason: str | None = None  # None: the usual one of its state (STATE_REASONS)

    def __post_init__(self) -> None:
        _cut_fields(self, _MATCH_TEXT)

    @property
    def why(self) -> str:
        """Why the port has its state: the record's own reason, else its state's usual one."""
        return self.reason or STATE_REASONS.get((self.endpoint.transport, self.state), "unknown")

    def to_dict(self) -> dict[str, Any]:
        """The endpoint record: the shape probescan.schema.ENDPOINT states, keys in its
        order (tests/test_schema.py holds it to it; docs/output.md)."""
        return {
            "ip": self.endpoint.ip,
            "hostname": self.endpoint.hostname,
            "port": self.endpoint.port,
            "transport": self.endpoint.transport,
            "state": self.state,
            "reason": self.why,
            "service": self.service,
            "product": self.product,
            "version": self.version,
            "info": self.info,
            "host": self.hostname,
            "os": self.os,
            "device": self.device,
            "cpe": list(self.cpe),
            "tunnel": self.tunnel,
            "tls": self.tls.to_dict() if self.tls else None,
            "method": self.method,
            "confidence": self.confidence,
            "evidence": [e.to_dict() for e in self.evidence],
            "unmatched": [e.to_dict() for e in self.unmatched],
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "error": self.error,
        }


def excerpt(data: bytes, shown: int, total: int | None = None) -> str:
    """The first `shown` bytes of `data` escaped, then `…[+N bytes]` when `total` (default:
    `len(data)`) is larger."""
    size = len(data) if total is None else total
    return escape_bytes(data[:shown]) + excerpt_marker(min(shown, len(data)), size)


def escape_bytes(data: bytes) -> str:
    """Printable ASCII stays, everything else becomes \\xNN (\\r, \\n, \\t and \\\\ as such).

    This is Python's own bytes escaping (C speed: records carry raw excerpts of every flow),
    minus its escaping of the single quote."""
    return codecs.escape_encode(data)[0].replace(b"\\'", b"'").decode("ascii")
