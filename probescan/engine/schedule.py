"""The probe schedule of one TCP endpoint layer (plain, or inside TLS), fast without losing
accuracy (see docs/architecture.md):

1. wave one, at once on separate connections: the banner wait (NULL probe, on the discovery
   connection), every probe that names this port, the most common probes (rarity 1), and the
   TLS handshake when the port is a usual TLS port;
2. then the remaining probes by rarity, `parallel_probes` at a time, up to the intensity;
   after a soft match only probes that can refine that service are tried;
3. the first hard match cancels everything still running.
Every read is bounded in bytes and seconds. Running the schedule again inside TLS, and the
endpoint's time budget, are the prober's (engine/prober.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Literal

from probescan.catalog import Catalog, Probe
from probescan.catalog.aliases import ALIASED_PROBES, NULL_PROBE
from probescan.config import Config
from probescan.engine.conn import Conn, ConnectFailed, Dialer, Outcome, exchange
from probescan.engine.verdict import TLS_SERVICES, Found
from probescan.match import match_response
from probescan.model import Endpoint, Transcript

# Matching time one probe's reply may cost in all (re-matched as it grows; see consider).
RESPONSE_BUDGET_S = 0.08


class EndpointRun:
    """Shared state of the probes of one endpoint (one layer: plain or inside TLS)."""

    def __init__(self, catalog: Catalog, tunnel: Literal["tls"] | None) -> None:
        self.catalog = catalog
        self.tunnel = tunnel
        self.best: Found | None = None
        self.transcripts: list[Transcript] = []
        self.hard = asyncio.Event()  # a match that ends the endpoint's probing
        self.soft = asyncio.Event()  # a soft match: the schedule may narrow and move on
        self.spent: dict[str, float] = {}  # seconds of matching per probe's reply
        self.banner = b""  # what the server sent unasked (the null probe's reply so far)

    def consider(self, probe: str, data: bytes) -> bool:
        """Match a (possibly partial) response; True when reading this reply may stop.

        A specific hard match ends everything at once. A generic (catch-all) hard match
        does not stop the read: more bytes may let a specific rule claim the reply, so it
        ends the endpoint only when the reply is complete (see `settle`); so does a match that
        reached the end of a reply still being read (`Match.open_end`: a slow server's first
        byte is not yet a one-byte answer). Matching one probe's reply costs at most
        RESPONSE_BUDGET_S in all, however many times its growing reply is matched."""
        if probe == NULL_PROBE:
            self.banner = data
        left = RESPONSE_BUDGET_S - self.spent.get(probe, 0.0)
        started = time.monotonic()
        m = match_response(self.catalog.fingerprints, probe, data, left)
        self.spent[probe] = self.spent.get(probe, 0.0) + time.monotonic() - started
        if m is None:
            return False
        best = self.best
        if best is None or m.strength > best.match.strength or (
            best.probe == probe and m.strength >= best.match.strength
        ):
            self.best = Found(m, probe, data, self.tunnel)
        if m.soft:
            self.soft.set()
            return False
        if m.strength < 2:  # generic or open-ended: wait for the whole reply
            return False
        self.hard.set()
        return True

    def settle(self, probe: str) -> None:
        """A reply is complete: a generic or open-ended hard match from it now ends the
        endpoint, unless the "reply" is only the start of what the server sends unasked (its
        banner): then it answered no probe, and the match (soft or hard) is dropped."""
        best = self.best
        if best is None or best.probe != probe or best.match.strength == 2:
            return
        if probe != NULL_PROBE and self.banner and (
                self.banner.startswith(best.data) or best.data.startswith(self.banner)):
            self.best = None  # soft or hard, it matched the banner, not an answer
            return
        if best.match.strength == 1:
            self.hard.set()

    @property
    def soft_service(self) -> str | None:
        return self.best.match.service if self.best and self.best.match.soft else None


class Schedule:
    """Which TCP probes run on a layer, in which order, and how many at once."""

    def __init__(self, config: Config, catalog: Catalog, dialer: Dialer) -> None:
        self.config = config
        self.catalog = catalog
        self.dialer = dialer
        # Every probe is kept: one that names the port runs in wave one whatever its rarity
        # (as nmap does); the later waves stop at the intensity. nmap's NULL probe is our null.
        self.probes = [
            p for p in catalog.probes.for_transport("tcp")
            if p.name not in ALIASED_PROBES and (config.tls or not p.tls)
        ]

    def wave_one(self, ep: Endpoint, run: EndpointRun) -> list[Probe]:
        in_tls = run.tunnel == "tls"
        first: list[Probe] = []
        for p in self.probes:
            if p.name == NULL_PROBE or (p.tls and in_tls):
                continue
            hinted = ep.port in (p.tls_ports if in_tls else p.ports) or ep.port in p.ports
            if hinted or (p.rarity <= 1 and not p.source.startswith("nmap:")):
                first.append(p)
        return first

    def useful_after_soft(self, probe: Probe, service: str) -> bool:
        if service in TLS_SERVICES:
            return probe.tls
        return service in probe.services or service in self.catalog.fingerprints.services_for_probe(
            probe.name
        )

    async def run_layer(
        self, ep: Endpoint, run: EndpointRun, conn: Conn, tls_first: bool
    ) -> Conn | None:
        """Run the schedule on one layer. Returns an open TLS connection if TLS was found."""
        tls_found: list[Conn] = []
        tasks: set[asyncio.Task[None]] = set()
        tried: set[str] = set()

        def start(p: Probe, existing: Conn | None = None) -> asyncio.Task[None]:
            tried.add(p.name)
            task = asyncio.create_task(self._guarded(ep, run, p, existing, tls_found))
            tasks.add(task)
            return task

        null = self.catalog.probes.by_name(NULL_PROBE)
        banner_wait: asyncio.Task[None] | None = None
        if null is not None:
            banner_wait = start(null, conn)
        else:
            conn.abort()
        wave = {start(p) for p in self.wave_one(ep, run) if not (p.tls and not tls_first)}
        try:
            # Wave two starts when wave one's requests are answered (or a soft match names
            # the service); the banner wait goes on beside it on its own connection.
            await self._drain(run, wave, tls_found, until_soft=True)
            tasks.difference_update({t for t in tasks if t.done()})
            remaining = sorted(
                (p for p in self.probes if p.name not in tried
                 and p.rarity <= self.config.intensity and not (p.tls and not tls_first)),
                key=lambda p: (p.source.startswith("nmap:"), p.rarity),  # ours first
            )
            for p in remaining:
                if run.hard.is_set() or tls_found:
                    break
                soft = run.soft_service
                if soft is not None and not self.useful_after_soft(p, soft):
                    continue
                start(p)
                while (len(tasks - {banner_wait}) >= self.config.parallel_probes
                       and not run.hard.is_set() and not tls_found):
                    await self._drain(run, tasks, tls_found, until_one=True)
            await self._drain(run, tasks, tls_found)
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
        if run.hard.is_set() and not (run.best and run.best.match.service in TLS_SERVICES):
            for c in tls_found:
                c.abort()
            return None
        return tls_found[0] if tls_found else None

    async def _drain(
        self,
        run: EndpointRun,
        tasks: set[asyncio.Task[None]],
        tls_found: list[Conn],
        until_one: bool = False,
        until_soft: bool = False,
    ) -> None:
        """Wait until the tasks are done, a hard match or TLS is found; with until_one, until
        one task ends; with until_soft, until a soft match (so narrowed probes start now)."""
        while tasks and not run.hard.is_set() and not tls_found:
            if until_soft and run.soft.is_set():
                return
            signals = [asyncio.create_task(run.hard.wait())]
            if until_soft:
                signals.append(asyncio.create_task(run.soft.wait()))
            try:
                done, _ = await asyncio.wait([*tasks, *signals],
                                             return_when=asyncio.FIRST_COMPLETED)
            finally:  # also when the endpoint's budget cancels the wait: no task left behind
                for sig in signals:
                    sig.cancel()
            tasks.difference_update(done)
            if until_one and done - set(signals):
                return

    async def _guarded(
        self,
        ep: Endpoint,
        run: EndpointRun,
        probe: Probe,
        conn: Conn | None,
        tls_found: list[Conn],
    ) -> None:
        """A probe that fails in an unforeseen way leaves a transcript, never a stray error."""
        try:
            await self._run_probe(ep, run, probe, conn, tls_found)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            if conn is not None:
                conn.abort()
            run.transcripts.append(Transcript(probe.name, b"", b"", "error", 0.0, run.tunnel,
                                              f"internal: {e!r}"))

    async def _run_probe(
        self,
        ep: Endpoint,
        run: EndpointRun,
        probe: Probe,
        conn: Conn | None,
        tls_found: list[Conn],
    ) -> None:
        start = time.monotonic()
        if probe.tls:
            try:
                tconn = await self.dialer.connect(ep, tls=True)
            except ConnectFailed as e:
                run.transcripts.append(
                    Transcript(probe.name, b"", b"", "error", time.monotonic() - start,
                               detail=e.detail)
                )
                return
            run.transcripts.append(
                Transcript(probe.name, b"", b"", "data", time.monotonic() - start, "tls")
            )
            tls_found.append(tconn)
            return
        if conn is None:
            try:
                conn = await self.dialer.connect(ep, tls=run.tunnel == "tls")
            except ConnectFailed as e:
                outcome: Outcome = "refused" if e.state == "closed" else (
                    "reset" if e.detail == "reset" else "error")  # reset: accepted, then reset
                run.transcripts.append(Transcript(probe.name, b"", b"", outcome,
                                                  time.monotonic() - start, run.tunnel, e.detail))
                return
        wait = probe.wait_ms / 1000 if probe.name != NULL_PROBE else self.config.banner_wait
        payload = probe.render(ep.hostname or ep.ip)
        try:
            data, outcome, secs = await exchange(
                conn, payload, min(wait, self.config.probe_wait * 2), self.config.idle_gap,
                self.config.max_read, lambda buf: run.consider(probe.name, buf),
            )
        finally:
            conn.abort()
        run.transcripts.append(Transcript(probe.name, payload, data, outcome, secs, run.tunnel))
        run.settle(probe.name)
