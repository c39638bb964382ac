"""Probe one UDP endpoint.

States: a reply -> open; ICMP port unreachable -> closed; silence from every probe ->
open|filtered. Probes go out on the scan's shared sockets (engine/datagrams.py: one per
probe, replies told apart by the address they come from), so a waiting probe holds no
descriptor. Every probe up to the intensity goes out at once (those that name the port and
the rarity-1 ones first), so a silent port costs one bounded wait - the longest probe's, at
most `probe_wait` - and any number of silent ports wait side by side; the earliest probe's
hard match decides (ours before nmap's), a port found closed stops them all, and once a
reply came the others get at most `REPLY_GRACE` more. Each send takes its host's turn and
the rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from probescan.catalog import FingerprintSet, Probe
from probescan.config import Config
from probescan.engine.conn import SocketRegistry
from probescan.engine.datagrams import DatagramHub
from probescan.engine.limits import Limits
from probescan.engine.verdict import udp_record
from probescan.match import match_response
from probescan.model import Endpoint, Match, ServiceRecord, Transcript

REPLY_GRACE = 0.5  # seconds the other probes may still take once one got a reply


class UdpProber:
    def __init__(self, config: Config, probes: list[Probe], rules: FingerprintSet,
                 limits: Limits, port_names: dict[tuple[str, int], str],
                 registry: SocketRegistry | None = None) -> None:
        self.registry = registry
        self.config = config
        self.probes = [p for p in probes if p.transport == "udp"]
        self.rules = rules
        self.limits = limits
        self.port_names = port_names
        self.hub = DatagramHub(registry)

    def close(self) -> None:
        self.hub.close()

    def plan(self, port: int) -> list[Probe]:
        """Every probe for this port, in the order they go out: those that name the port
        and the rarity-1 ones, then the rest up to the intensity (ours before nmap's)."""
        first = [p for p in self.probes if port in p.ports or p.rarity <= 1]
        rest = sorted(
            (p for p in self.probes if p not in first and p.rarity <= self.config.intensity),
            key=lambda p: (p.source.startswith("nmap:"), p.rarity),
        )
        return first + rest

    async def probe(self, ep: Endpoint) -> ServiceRecord:
        """Every probe at once; the verdict is the hard match of the earliest probe in the
        plan (ours before nmap's, as when probes went in turn), taken as soon as every
        earlier probe has answered or gone silent."""
        t0 = time.monotonic()
        transcripts: list[Transcript] = []
        best: tuple[int, Match, Transcript] | None = None  # (place in the plan, match, reply)
        refused = False
        tasks = {asyncio.create_task(self._one(ep, p)): i
                 for i, p in enumerate(self.plan(ep.port))}
        pending = set(tasks)
        grace_end: float | None = None  # set by the first reply
        try:
            while pending:
                left = None if grace_end is None else max(0.0, grace_end - time.monotonic())
                done, pending = await asyncio.wait(pending, timeout=left,
                                                   return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    break  # the grace after a reply is over
                for task in sorted(done, key=tasks.__getitem__):
                    t = task.result()
                    transcripts.append(t)
                    refused = refused or t.outcome == "refused"
                    if not t.received:
                        continue
                    if grace_end is None:
                        grace_end = time.monotonic() + REPLY_GRACE
                    m = match_response(self.rules, t.probe, t.received)
                    if m is not None and (best is None or (best[1].soft and not m.soft)
                                          or (not m.soft and tasks[task] < best[0])):
                        best = (tasks[task], m, t)
                if (best is not None and not best[1].soft
                        and all(tasks[p] > best[0] for p in pending)):
                    break
                if refused and not any(t.received for t in transcripts):
                    break  # the port said it is closed: the others would hear the same
        finally:
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        return udp_record(ep, transcripts, best[1:] if best else None, refused,
                          self.port_names, {"total": time.monotonic() - t0})

    async def _one(self, ep: Endpoint, p: Probe) -> Transcript:
        payload = p.render(ep.hostname or ep.ip)
        wait = min(p.wait_ms / 1000, self.config.probe_wait)
        async with self.limits.send(ep.ip):
            pass  # a turn to send: the host's cap and the rate
        data, outcome, secs = await self.hub.ask(p.name, ep.ip, ep.port, payload, wait,
                                                 p.reply_from_any_port)
        return Transcript(p.name, payload, data[: self.config.max_read], outcome, secs)
