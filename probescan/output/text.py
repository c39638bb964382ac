"""Text the terminal and the text outputs share: untrusted strings made safe to show, and
the numeric order of addresses and records. Pure."""

from __future__ import annotations

import ipaddress

from probescan.model import ServiceRecord

_PROTO_ORDER = {"tcp": 0, "udp": 1}


def safe(value: str | None) -> str:
    """Banners are untrusted: drop control characters before they reach a terminal."""
    if not value:
        return ""
    return "".join(c if c.isprintable() else "?" for c in value)


def ip_key(ip: str) -> tuple[int, int, str]:
    """Numeric address order: 127.0.1.2 before 127.0.1.10, IPv4 before IPv6."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return (9, 0, ip)
    return (addr.version, int(addr), ip)


def proto_key(transport: str) -> int:
    return _PROTO_ORDER.get(transport, 9)


def record_key(r: ServiceRecord) -> tuple[tuple[int, int, str], int, int]:
    """Records in address, then transport, then port order."""
    return (ip_key(r.endpoint.ip), proto_key(r.endpoint.transport), r.endpoint.port)
