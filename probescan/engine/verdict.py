"""The verdict: how what was seen becomes a record. Rules as data, then the few constructors
that apply them (TCP and UDP scan records here; the watcher's labels in watch/label.py read
the same tables).

Confidence is on nmap's 0..10 "conf" scale. A scan record (docs/output.md):

    what named the service                          method          confidence
    a hard (non-soft) fingerprint match             probe / banner  10
    a soft match (the service, not the product)     probe / banner   5
    a TLS handshake, nothing inside matched         probe            8
    every probe met EOF or a reset (tcpwrapped)     probe            8
    nothing answered usefully: the port table       table            3
    nothing                                         none             0

A reply to the NULL probe (nothing sent, a banner awaited) is a `banner`. A flow label
(docs/watch.md), from passive evidence and the probe of the flow's server:

    passive match and probe agree on the service    passive+probe   10
    they disagree (the passive one stands)          passive          6
    a passive match only: hard / soft               passive          9 / 5
    only a protocol parser recognised the flow      passive          6
    announced by another flow (FTP data, TFTP)      passive          9
    the probe only                                  probe            the probe's own
    only the flow's behaviour (sizes, timing)       statistical      1..5 by distance
    nothing                                         none             0
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Final, Literal, NamedTuple, Protocol

from probescan.catalog.aliases import NULL_PROBE
from probescan.model import (
    EVIDENCE_KEPT_BYTES,
    HOST_TIMEOUT,
    Endpoint,
    Evidence,
    Match,
    Method,
    PortState,
    ServiceRecord,
    TlsInfo,
    Transcript,
)

# ---- probes the rules know by name ------------------------------------------------------
TLS_SERVICES = frozenset({"ssl", "tls"})  # a match naming these found a tunnel, not a service

MAX_UNMATCHED = 8  # raw responses an unidentified service's record keeps


# ---- the tables -------------------------------------------------------------------------
class ScanRule(NamedTuple):
    method: Method
    confidence: int


class LabelRule(NamedTuple):
    method: str
    confidence: int


ScanBasis = Literal["hard", "soft", "bare-tls", "tcpwrapped", "port-table", "nothing"]
LabelBasis = Literal["agree", "disagree", "passive-hard", "passive-soft", "parser", "detector",
                     "announced", "statistical", "signature", "nothing"]

SCAN: Final[Mapping[ScanBasis, ScanRule]] = {
    "hard": ScanRule("probe", 10),
    "soft": ScanRule("probe", 5),
    "bare-tls": ScanRule("probe", 8),
    "tcpwrapped": ScanRule("probe", 8),
    "port-table": ScanRule("table", 3),
    "nothing": ScanRule("none", 0),
}

LABEL: Final[Mapping[LabelBasis, LabelRule]] = {
    "agree": LabelRule("passive+probe", 10),
    "disagree": LabelRule("passive", 6),
    "passive-hard": LabelRule("passive", 9),
    "passive-soft": LabelRule("passive", 5),
    "parser": LabelRule("passive", 6),
    "detector": LabelRule("passive", 8),
    "announced": LabelRule("passive", 9),
    "statistical": LabelRule("statistical", 5),  # at most: less the farther the profile
    "signature": LabelRule("signature", 5),  # at most: each signature's own (profiles/)
    "nothing": LabelRule("none", 0),
}


# ---- constructors -----------------------------------------------------------------------
@dataclass(slots=True)
class Found:
    """The best match of one layer (plain or inside TLS) and the reply it came from."""

    match: Match
    probe: str
    data: bytes
    tunnel: Literal["tls"] | None


class Layer(Protocol):
    """What a verdict reads of one layer's probing (engine.schedule.EndpointRun)."""

    @property
    def best(self) -> Found | None: ...

    @property
    def transcripts(self) -> list[Transcript]: ...


def matched(ep: Endpoint, m: Match, probe: str, data: bytes, timings: dict[str, float], *,
            banner: bool = False, tunnel: str | None = None, tls: TlsInfo | None = None,
            evidence_tunnel: str | None = None) -> ServiceRecord:
    """A record named by a fingerprint match of `data`, the reply to `probe`."""
    rule = SCAN["soft" if m.soft else "hard"]
    return ServiceRecord(
        ep, "open", service=m.service, product=m.product, version=m.version,
        info=m.info, hostname=m.hostname, os=m.os, device=m.device, cpe=m.cpe,
        tunnel=tunnel, tls=tls, method="banner" if banner else rule.method,
        confidence=rule.confidence,
        evidence=(Evidence(probe, m.fingerprint_id, m.source, data[:EVIDENCE_KEPT_BYTES],
                           evidence_tunnel, len(data)),),
        timings=timings,
    )


def port_guess(port_names: Mapping[tuple[str, int], str], ep: Endpoint) -> str | None:
    """The service the port table names for the endpoint's port, if any."""
    return port_names.get((ep.transport, ep.port))


def guessed(ep: Endpoint, state: PortState, guess: str | None, timings: dict[str, float],
            error: str | None = None) -> ServiceRecord:
    """A record named only by the port table (or by nothing when `guess` is None)."""
    rule = SCAN["port-table" if guess else "nothing"]
    return ServiceRecord(ep, state, service=guess, method=rule.method,
                         confidence=rule.confidence, timings=timings, error=error)


def unmatched(transcripts: Iterable[Transcript]) -> tuple[Evidence, ...]:
    """The raw replies of an unidentified service, bounded in number and bytes."""
    return tuple(
        Evidence(t.probe, None, None, t.received[:EVIDENCE_KEPT_BYTES], t.tunnel,
                 len(t.received))
        for t in transcripts if t.received
    )[:MAX_UNMATCHED]


def tcp_record(ep: Endpoint, plain: Layer, inner: Layer | None, tls: TlsInfo | None,
               port_names: Mapping[tuple[str, int], str],
               timings: dict[str, float]) -> ServiceRecord:
    """The record of an open TCP endpoint from its plain layer and, when a TLS handshake
    succeeded, the layer inside TLS (which wins; a plain match naming TLS itself does not)."""
    found = (inner if inner is not None else plain).best
    if inner is not None and found is None:
        found = plain.best if plain.best and plain.best.match.service not in TLS_SERVICES \
            else None
    tunnel = "tls" if inner is not None else None
    if found is not None:
        return matched(ep, found.match, found.probe, found.data, timings,
                       banner=found.probe == NULL_PROBE, tunnel=tunnel, tls=tls,
                       evidence_tunnel=found.tunnel)
    if tls is not None:
        rule = SCAN["bare-tls"]
        return ServiceRecord(
            ep, "open", service="tls", tunnel=tunnel, tls=tls, method=rule.method,
            confidence=rule.confidence,
            unmatched=unmatched(inner.transcripts if inner else []), timings=timings,
        )
    transcripts = plain.transcripts
    raw = unmatched(transcripts)
    if not raw:
        if transcripts and all(t.outcome in ("eof", "reset") for t in transcripts
                               if t.probe != "tls"):
            return tcpwrapped(ep, timings)
        guess = port_guess(port_names, ep)
        if guess:
            return guessed(ep, "open", guess, timings)
    rule = SCAN["nothing"]
    return ServiceRecord(ep, "open", service="unknown", method=rule.method,
                         confidence=rule.confidence, unmatched=raw, timings=timings)


BUDGET_SPENT = "endpoint time budget exhausted"


def budget_spent(ep: Endpoint, plain: Layer, inner: Layer | None, tls: TlsInfo | None,
                 banner: bytes, port_names: Mapping[tuple[str, int], str],
                 timings: dict[str, float]) -> ServiceRecord:
    """The record of an open TCP endpoint whose time budget ran out (reason `host-timeout`):
    what was found so far (a match, TLS facts) as tcp_record says it; with nothing found,
    `unknown` with the replies so far, the banner still being read among them."""
    if plain.best is not None or tls is not None or (inner is not None and inner.best):
        record = tcp_record(ep, plain, inner, tls, port_names, timings)
    else:
        raw = unmatched(plain.transcripts)
        if banner and not any(e.probe == NULL_PROBE for e in raw):
            raw = (Evidence(NULL_PROBE, None, None, banner[:EVIDENCE_KEPT_BYTES],
                            size=len(banner)), *raw)
        rule = SCAN["nothing"]
        record = ServiceRecord(ep, "open", service="unknown", method=rule.method,
                               confidence=rule.confidence, unmatched=raw[:MAX_UNMATCHED],
                               timings=timings)
    return replace(record, error=BUDGET_SPENT, reason=HOST_TIMEOUT)


def tcpwrapped(ep: Endpoint, timings: dict[str, float]) -> ServiceRecord:
    """Every connection was closed or reset without a byte."""
    rule = SCAN["tcpwrapped"]
    return ServiceRecord(ep, "open", service="tcpwrapped", method=rule.method,
                         confidence=rule.confidence, timings=timings)


def udp_record(ep: Endpoint, transcripts: list[Transcript],
               best: tuple[Match, Transcript] | None, refused: bool,
               port_names: Mapping[tuple[str, int], str],
               timings: dict[str, float]) -> ServiceRecord:
    """The record of a UDP endpoint: a reply opens it (matched or not), ICMP port unreachable
    closes it, silence leaves it open|filtered with the port table's guess."""
    if best is not None:
        m, t = best
        return matched(ep, m, t.probe, t.received, timings)
    if any(t.received for t in transcripts):
        rule = SCAN["nothing"]
        return ServiceRecord(ep, "open", service="unknown", method=rule.method,
                             confidence=rule.confidence, timings=timings,
                             unmatched=unmatched(transcripts))
    if refused:
        return ServiceRecord(ep, "closed", timings=timings)
    return guessed(ep, "open|filtered", port_guess(port_names, ep), timings)
