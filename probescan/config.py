"""One frozen Config, built by the CLI and passed explicitly (no module globals)."""

from __future__ import annotations

from dataclasses import dataclass


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
