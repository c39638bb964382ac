"""Frozen configs, built by the CLI and passed explicitly (no module globals): `Config` for
the scan engine, `WatchConfig` for the watcher and its active probes."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Config:
    connect_timeout: float = 1.5  # seconds for a TCP connect
    retries: int = 1  # extra connect attempts for a silent (filtered) port
    banner_wait: float = 2.5  # seconds the NULL probe waits for a banner
    probe_wait: float = 2.5  # default seconds a request probe waits for a reply
    idle_gap: float = 0.4  # stop reading this long after the last chunk once data came
    endpoint_budget: float = 12.0  # seconds for all probes of one endpoint
    max_read: int = 16 * 1024  # bytes kept per probe response
    concurrency: int = 512  # connections in flight, all hosts
    per_host: int = 64  # connections in flight to one host
    rate: float = 0.0  # new connections per second (0: unlimited)
    parallel_probes: int = 8  # probes of one endpoint sent at once
    intensity: int = 7  # probes up to this rarity are tried (0..9)
    tls: bool = True  # try TLS and probe inside it
    version_scan: bool = True  # False: discovery only
    all_ports: bool = False  # True: probe even the excluded ports (printers' 9100-9107)
    sweep: Literal["connect", "syn"] = "connect"  # how TCP ports are found (engine/sweep.py)


@dataclass(frozen=True, slots=True)
class WatchConfig:
    scope: tuple[Network, ...] = ()  # only addresses inside these networks are ever probed
    probe: bool = True  # False: passive only (--no-probe)
    probe_ttl: float = 3600.0  # seconds: an endpoint is probed at most once in this time
    probe_rate: float = 50.0  # endpoint probes started per second
    queue_size: int = 1000  # pending probes kept; beyond that new ones are dropped and counted
    max_flows: int = 100_000  # flows held at once
    workers: int | None = None  # identify processes; None: 1 with two or more CPUs, else 0
    # the classification layers used (probescan/classify/layers.py: --classifiers)
    classifiers: frozenset[str] = frozenset({"rules", "parsers", "statistics"})
    prober: Config = Config(endpoint_budget=6.0)  # the probes of one endpoint

    @property
    def probing(self) -> bool:
        """Are endpoints probed at all? (not with --no-probe, nor without a scope)"""
        return self.probe and bool(self.scope)
