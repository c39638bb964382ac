"""Probe definitions (probes/*.toml): what to send, where it is likely to work, how rare it is."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from probescan.catalog.paths import data_dir
from probescan.catalog.problems import Problem, display, integer, load_tables

MAX_WAIT_MS = 600_000  # ten minutes: longer than any --host-timeout makes sense for
_KEYS = {
    "name", "transport", "payload", "payload_hex", "ports", "tls_ports", "rarity",
    "wait_ms", "services", "description", "tls", "reply_from_any_port",
}


@dataclass(frozen=True, slots=True)
class Probe:
    name: str
    transport: str
    payload: bytes
    ports: frozenset[int]
    tls_ports: frozenset[int]
    rarity: int
    wait_ms: int
    services: tuple[str, ...]
    description: str
    source: str
    tls: bool = False  # a TLS handshake rather than bytes to send
    reply_from_any_port: bool = False  # UDP: the answer may come from another port (TFTP)

    def render(self, host: str) -> bytes:
        """The payload with `{host}` replaced by the target's name or address."""
        if b"{host}" not in self.payload:
            return self.payload
        try:
            name = host.encode("idna")
        except UnicodeError:
            name = host.encode("ascii", "replace")
        return self.payload.replace(b"{host}", name)


@dataclass(frozen=True)
class ProbeSet:
    probes: tuple[Probe, ...]
    problems: tuple[Problem, ...] = ()

    @cached_property
    def _lookups(self) -> dict[tuple[str, str, bytes | str], tuple[str, ...]]:
        return {}

    def names_starting_like(self, transport: str, head: bytes) -> tuple[str, ...]:
        """Probes whose payload starts with `head` (what a client sent first): their rules
        suit the reply (memoised; the watcher asks once per flow)."""
        key = ("head", transport, head)
        got = self._lookups.get(key)
        if got is None:
            got = self._lookups[key] = tuple(
                p.name for p in self.for_transport(transport)
                if p.payload and p.payload[: len(head)] == head
            )
        return got

    def names_for_service(self, transport: str, service: str) -> tuple[str, ...]:
        key = ("service", transport, service)
        got = self._lookups.get(key)
        if got is None:
            got = self._lookups[key] = tuple(
                p.name for p in self.for_transport(transport) if service in p.services
            )
        return got

    def by_name(self, name: str) -> Probe | None:
        for p in self.probes:
            if p.name == name:
                return p
        return None

    def for_transport(self, transport: str) -> list[Probe]:
        return [p for p in self.probes if p.transport == transport]


def _probe_from_table(t: dict[str, Any], source: str) -> Probe:
    unknown = set(t) - _KEYS
    if unknown:
        raise ValueError(f"unknown key(s): {', '.join(sorted(unknown))}")
    name = t.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("probe needs a non-empty 'name'")
    transport = t.get("transport", "tcp")
    if transport not in ("tcp", "udp"):
        raise ValueError(f"transport must be tcp or udp, not {transport!r}")
    if "payload" in t and "payload_hex" in t:
        raise ValueError("give 'payload' or 'payload_hex', not both")
    if "payload_hex" in t:
        payload = bytes.fromhex("".join(str(t["payload_hex"]).split()))
    else:
        text = t.get("payload", "")
        if not isinstance(text, str):
            raise ValueError("'payload' must be a string")
        try:
            payload = text.encode("latin-1")
        except UnicodeEncodeError as e:
            raise ValueError("'payload' must only hold characters up to \\u00ff") from e
    rarity = integer(t, "rarity", 5, 1, 9)
    wait_ms = integer(t, "wait_ms", 3000, 0, MAX_WAIT_MS)
    ports = _ports(t.get("ports", []))
    tls_ports = _ports(t.get("tls_ports", []))
    return Probe(
        name=name,
        transport=transport,
        payload=payload,
        ports=ports,
        tls_ports=tls_ports,
        rarity=rarity,
        wait_ms=wait_ms,
        services=tuple(t.get("services", ())),
        description=str(t.get("description", "")),
        source=source,
        tls=bool(t.get("tls", False)),
        reply_from_any_port=bool(t.get("reply_from_any_port", False)),
    )


def _port(text: object, item: object) -> int:
    if isinstance(text, bool) or not isinstance(text, int | str):
        raise ValueError(f"port {item!r} is not a number or a range")
    try:
        port = int(text)
    except ValueError:
        raise ValueError(f"port {item!r} is not a number or a range") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"port {item!r} out of range 0..65535")
    return port


def _ports(value: Any) -> frozenset[int]:
    """Ports and "lo-hi" ranges; every bound is checked before a range is built."""
    if not isinstance(value, list):
        raise ValueError("ports must be a list")
    out: set[int] = set()
    for item in value:
        if isinstance(item, str) and "-" in item:
            lo_text, hi_text = item.split("-", 1)
            lo, hi = _port(lo_text.strip(), item), _port(hi_text.strip(), item)
            if lo > hi:
                raise ValueError(f"port range {item!r} runs backwards")
            out.update(range(lo, hi + 1))
        else:
            out.add(_port(item, item))
    return frozenset(out)


def load_probe_file(path: Path, origin: str = "probescan") -> tuple[list[Probe], list[Problem]]:
    source = f"{origin}:{path.name}"
    return load_tables(path, "probe", lambda table, _line: _probe_from_table(table, source))


def load_probes(paths: Iterable[Path] | None = None, origin: str = "probescan") -> ProbeSet:
    """Load every probes/*.toml file (or `paths`); a broken file or entry is reported and
    skipped. `origin` starts each probe's source (`user:my.toml`)."""
    files = sorted(paths) if paths is not None else sorted(data_dir("probes").glob("*.toml"))
    probes: list[Probe] = []
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for f in files:
        got, bad = load_probe_file(f, origin)
        problems.extend(bad)
        for p in got:
            key = (p.transport, p.name)
            if key in seen:
                problems.append(Problem(display(f), 1, f"duplicate probe name {p.name!r}"))
                continue
            seen.add(key)
            probes.append(p)
    return ProbeSet(tuple(probes), tuple(problems))
