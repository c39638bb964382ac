"""The lines -v and -d print on stderr as records come (the terminal sink prints them). Pure.

    -v    Discovered open port 22/tcp on 192.0.2.7 (db1): ssh OpenSSH 9.2p1
    -vv   the same for closed, filtered and open|filtered ports
    -d    192.0.2.7:22/tcp open (syn-ack): ssh by banner, confidence 10; decided by null ->
          ssh.openssh [probescan:ssh.toml]; connect 0.0003 s, total 0.0021 s
    -dd   and each unmatched reply: unmatched null: 'SSH-2.0-...'
"""

from __future__ import annotations

from probescan.model import ServiceRecord
from probescan.output.text import safe

UNMATCHED_SHOWN = 120  # characters of each escaped unmatched reply under -dd


def label(r: ServiceRecord) -> str:
    """`ssh OpenSSH 9.2p1`, `ssl/http nginx`, or nothing."""
    service = safe(r.service)
    if service and r.tunnel:
        service = f"{r.tunnel}/{service}"
    return " ".join(x for x in (service, safe(r.product), safe(r.version)) if x)


def discovered(r: ServiceRecord) -> str:
    """nmap's -v line for a port as it is found."""
    ep = r.endpoint
    host = f"{ep.ip} ({safe(ep.hostname)})" if ep.hostname else ep.ip
    what = label(r)
    return (f"Discovered {r.state} port {ep.port}/{ep.transport} on {host}"
            + (f": {what}" if what else ""))


def debug_lines(r: ServiceRecord, level: int) -> list[str]:
    """-d: what decided the record; -dd: the replies nothing matched too."""
    parts = [f"{r.endpoint} {r.state} ({r.why})"]
    if r.state == "open":
        parts[0] += f": {label(r) or 'unnamed'} by {r.method}, confidence {r.confidence}"
    for e in r.evidence:
        parts.append(f"decided by {safe(e.probe)} -> {safe(e.fingerprint_id)} "
                     f"[{safe(e.source)}]" + (f" inside {e.tunnel}" if e.tunnel else ""))
    if r.timings:
        parts.append(", ".join(f"{k} {v:.4f} s" for k, v in r.timings.items()))
    if r.error:
        parts.append(f"error: {safe(r.error)}")
    lines = ["; ".join(parts)]
    if level >= 2:
        for e in r.unmatched:
            raw = e.to_dict()["raw"]
            cut = raw[:UNMATCHED_SHOWN] + ("..." if len(raw) > UNMATCHED_SHOWN else "")
            lines.append(f"  unmatched {safe(e.probe)}: '{cut}'")
    return lines
