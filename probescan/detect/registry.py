"""Every detector, in the order they are tried, and the one call that runs them.

Order matters only where two protocols share a structure: the stricter or more specific
detector comes first (QUIC before OpenVPN's short packets, Discord's voice setup before the
RTP it carries, LINE's numbered call packets before the RTP beside them, DTLS before the
STUN that opens a WebRTC flow, DNSCrypt and Avast's DNS before plain DNS). Each family
module exposes `DETECTORS`; add a new family to FAMILIES.
"""

from __future__ import annotations

import importlib

from probescan.detect.base import NEED_MORE, DetectFn, Detection, Detector, Messages, Result

FAMILIES = (
    "tls",
    "quic",
    "messengers",
    "games",
    "games_udp",
    "games_tcp",
    "media_dtls",
    "media_stun",
    "voice",
    "media",
    "vpn",
    "vpn_ike",
    "p2p",
    "p2p_other",
    "text",
    "auth",
    "enterprise",
    "rpc",
    "remote",
    "signalling",
    "messaging",
    "db_sql",
    "db_nosql",
    "mq",
    "misc_tcp",
    "chain",
    "ot_power",
    "ot_plc",
    "ot_bus",
    "ot_field",
    "media_apps",
    "games_vendor",
    "apps",
    "lan",
    "lan_disc",
    "lan_dev",
    "infra",
    "infra_ctl",
    "infra_tun",
    "infra_mon",
    "misc_net",
    "games_more",
    "apps_net",
)


def _load() -> tuple[Detector, ...]:
    found: list[Detector] = []
    for family in FAMILIES:
        module = importlib.import_module(f"probescan.detect.{family}")
        found.extend(module.DETECTORS)
    return tuple(found)


DETECTORS: tuple[Detector, ...] = _load()
# the detect functions of DETECTORS that run on each transport, in the same order
_BY_TRANSPORT: dict[str, tuple[DetectFn, ...]] = {
    t: tuple(d.detect for d in DETECTORS if t in d.transports) for t in ("tcp", "udp")}


def detect(msgs: Messages, detectors: tuple[Detector, ...] = DETECTORS) -> Result:
    """The first detector's Detection; else NEED_MORE when one still waits; else None.

    A detector that raises is treated as declining: a bug in one must never stop the
    watcher (the tests run every detector over hostile input to keep this path cold)."""
    fns: tuple[DetectFn, ...] | None = None
    if detectors is DETECTORS:
        fns = _BY_TRANSPORT.get(msgs.transport)
    if fns is None:
        fns = tuple(d.detect for d in detectors if msgs.transport in d.transports)
    waiting = False
    for fn in fns:
        try:
            r = fn(msgs)
        except Exception:
            continue
        if isinstance(r, Detection):
            return r
        if r is NEED_MORE:
            waiting = True
    return NEED_MORE if waiting else None
