"""Probe one UDP endpoint with asyncio-dgram.

States: a reply -> open; ICMP port unreachable (ECONNREFUSED on the connected socket) ->
closed; silence from every probe -> open|filtered. Each probe uses its own connected socket,
so replies can never be confused between probes. Every probe up to the intensity goes out at
once (those that name the port and the rarity-1 ones first), so a silent port costs one
bounded wait - the longest probe's, at most `probe_wait` - and no more; the first hard match
cancels the others, a port found closed stops them all, and once a reply came the others
get at most `REPLY_GRACE` more. A probe holds a descriptor of the global cap for its wait
but its host's cap only to send, so the silent ports of one host wait side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Literal

import asyncio_dgram

from probescan.catalog import FingerprintSet, Probe
from probescan.config import Config
from probescan.engine.conn import SocketRegistry
from probescan.engine.limits import Limits
from probescan.engine.verdict import udp_record
from probescan.match import match_response
from probescan.model import Endpoint, Match, ServiceRecord, Transcript

POLL = 0.05  # how often a silent socket is checked for a queued ICMP error
REPLY_GRACE = 0.5  # seconds the other probes may still take once one got a reply
MAX_DATAGRAM = 65535

UdpOutcome = Literal["data", "refused", "timeout", "error"]


async def send_probe(
    ip: str, port: int, payload: bytes, wait: float, limits: Limits,
    registry: SocketRegistry | None = None, any_port: bool = False,
) -> tuple[bytes, UdpOutcome, float]:
    """Send one datagram; return (reply, outcome, seconds).

    Normally the socket is connected to the target, so the kernel delivers only its replies
    and reports ICMP port unreachable. With `any_port` (TFTP answers from a new port) the
    socket stays unconnected and any reply from the target's address counts."""
    start = time.monotonic()
    async with limits.socket():
        try:
            if any_port:
                stream: Any = await asyncio_dgram.bind(("::" if ":" in ip else "0.0.0.0", 0))
            else:
                stream = await asyncio_dgram.connect((ip, port))
        except OSError:
            return b"", "error", time.monotonic() - start
        try:
            if registry is not None:
                registry.add("udp", stream.sockname[1], ip, port)
            async with limits.send(ip):
                await (stream.send(payload, (ip, port)) if any_port else stream.send(payload))
            deadline = start + wait
            while (left := deadline - time.monotonic()) > 0:
                try:
                    async with asyncio.timeout(min(POLL, left)):
                        data, addr = await stream.recv()
                    if any_port and addr[0] != ip:
                        continue
                    return bytes(data[:MAX_DATAGRAM]), "data", time.monotonic() - start
                except TimeoutError:
                    _ = stream.exception  # raises a queued ICMP error, if any
        except ConnectionRefusedError:
            return b"", "refused", time.monotonic() - start
        except (OSError, asyncio_dgram.TransportClosed):
            return b"", "error", time.monotonic() - start
        finally:
            stream.close()
    return b"", "timeout", time.monotonic() - start


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
        t0 = time.monotonic()
        transcripts: list[Transcript] = []
        best: tuple[Match, Transcript] | None = None
        refused = False
        pending = {asyncio.create_task(self._one(ep, p)) for p in self.plan(ep.port)}
        grace_end: float | None = None  # set by the first reply
        try:
            while pending:
                left = None if grace_end is None else max(0.0, grace_end - time.monotonic())
                done, pending = await asyncio.wait(pending, timeout=left,
                                                   return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    break  # the grace after a reply is over
                for task in done:
                    t = task.result()
                    transcripts.append(t)
                    refused = refused or t.outcome == "refused"
                    if not t.received:
                        continue
                    if grace_end is None:
                        grace_end = time.monotonic() + REPLY_GRACE
                    m = match_response(self.rules, t.probe, t.received)
                    if m is not None and (best is None or (best[0].soft and not m.soft)):
                        best = (m, t)
                if best is not None and not best[0].soft:
                    break
                if refused and not any(t.received for t in transcripts):
                    break  # the port said it is closed: the others would hear the same
        finally:
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        return udp_record(ep, transcripts, best, refused, self.port_names,
                          {"total": time.monotonic() - t0})

    async def _one(self, ep: Endpoint, p: Probe) -> Transcript:
        payload = p.render(ep.hostname or ep.ip)
        wait = min(p.wait_ms / 1000, self.config.probe_wait)
        data, outcome, secs = await send_probe(ep.ip, ep.port, payload, wait, self.limits,
                                               self.registry, p.reply_from_any_port)
        return Transcript(p.name, payload, data[: self.config.max_read], outcome, secs)
