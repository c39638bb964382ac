"""The scan detector's thresholds and windows, frozen and passed explicitly.

Defaults follow Zeek's scan policy (an address scan: one port on at least 25 hosts; a port
scan: at least 15 ports of one host; both within 5 minutes, counting only attempts that
failed or carried no payload), plus a longer window that still catches a low-and-slow scan.
docs/scans.md explains each field.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ScanConfig:
    hosts: int = 25  # distinct hosts on one port (failed attempts) make a horizontal scan
    ports: int = 15  # distinct ports on one host (failed attempts) make a vertical scan
    window: float = 300.0  # seconds both counts are taken over
    slow_window: float = 86400.0  # a longer window for low-and-slow scans (0: none)
    reply_timeout: float = 5.0  # seconds an unanswered probe waits for a reply
    open_timeout: float = 30.0  # seconds an established, silent connection waits for data
    idle: float = 300.0  # a flagged scan's record is written once its sources are this quiet
    report_every: float = 3600.0  # a flagged scan still running is written this often
    hold: float = 60.0  # watch -r: seconds a payload-less flow of a source with failed
    # attempts waits for the source to be flagged (then it is folded into the scan's record)
    live_hold: float = 5.0  # the same for a live watch, where records should come quickly
    group_prefix_v4: int = 24  # sources of one /24 (IPv4) ...
    group_prefix_v6: int = 48  # ... or one /48 (IPv6) are counted together
    member_min: int = 2  # a source joins a grouped scan with at least this many attempts
    vertical_max_hosts: int = 1  # a scan of at most this many hosts is vertical
    horizontal_max_ports: int = 3  # a scan of at most this many ports (and more hosts) is
    # horizontal; anything bigger both ways is a block scan
    max_attempts: int = 200_000  # probes awaiting their outcome at once (oldest decided first)
    max_sources: int = 100_000  # sources watched at once (the quietest unflagged dropped first)
    max_targets: int = 65_536  # distinct targets counted exactly per source; beyond, estimated
    samples: int = 10  # target addresses and ports sampled in a record
    top_ports: int = 10  # most probed ports listed in a record

    def problems(self) -> list[str]:
        """What is wrong with this config, one line each (empty: usable)."""
        out = []
        for name in ("hosts", "ports", "member_min", "max_attempts", "max_sources",
                     "max_targets"):
            if getattr(self, name) < 1:
                out.append(f"{name} must be at least 1")
        for name in ("window", "reply_timeout", "open_timeout", "idle", "report_every", "hold",
                     "live_hold"):
            if not getattr(self, name) > 0:
                out.append(f"{name} must be positive")
        if self.slow_window and self.slow_window < self.window:
            out.append("slow_window must be 0 or at least window")
        if not 0 <= self.group_prefix_v4 <= 32 or not 0 <= self.group_prefix_v6 <= 128:
            out.append("group prefixes must be 0..32 (IPv4) and 0..128 (IPv6)")
        return out

    @property
    def forget_after(self) -> float:
        """Seconds a quiet source's failed attempts still count."""
        return max(self.window, self.slow_window)
