"""Probe one endpoint: discovery, the probe schedule, TLS layering, the verdict.

For TCP: connect (engine/conn.py `Dialer`); unless only discovery is asked or the port gets
no probes, run the schedule (engine/schedule.py) on the plain connection, and when a TLS
handshake succeeds run it again inside TLS while the endpoint's JARM is taken on ten more
connections (engine/jarm.py); the record follows from what matched
(engine/verdict.py). The whole endpoint is bounded by `endpoint_budget`. UDP endpoints go to
engine/udp.py.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace

from probescan.catalog import Catalog
from probescan.config import Config
from probescan.engine.conn import Conn, ConnectFailed, Dialer, SocketRegistry, tls_facts
from probescan.engine.jarm import jarm
from probescan.engine.limits import Limits
from probescan.engine.schedule import EndpointRun, Schedule
from probescan.engine.udp import UdpProber
from probescan.engine.verdict import budget_spent, guessed, port_guess, tcp_record, tcpwrapped
from probescan.model import Endpoint, ServiceRecord, TlsInfo


class Prober:
    def __init__(
        self,
        config: Config,
        catalog: Catalog,
        limits: Limits,
        registry: SocketRegistry | None = None,
    ) -> None:
        self.config = config
        self.registry = registry
        self.catalog = catalog
        self.limits = limits
        self.dialer = Dialer(config, limits, registry)
        self.schedule = Schedule(config, catalog, self.dialer)
        self._udp = UdpProber(config, list(catalog.probes.probes), catalog.fingerprints, limits,
                              catalog.port_names, registry)

    def close(self) -> None:
        """Close the shared UDP sockets (engine/datagrams.py)."""
        self._udp.close()

    async def probe(self, ep: Endpoint) -> ServiceRecord:
        if ep.transport == "udp":
            return await self._udp.probe(ep)
        t0 = time.monotonic()
        try:
            conn = await self.dialer.connect(ep)
        except ConnectFailed as e:
            timings = {"connect": time.monotonic() - t0}
            if e.detail == "reset":  # accepted, then reset at once: a wrapper refused us
                return tcpwrapped(ep, timings)
            return ServiceRecord(
                ep, "closed" if e.state == "closed" else "filtered", timings=timings,
                error=None if e.state != "error" else e.detail,
            )
        t_connect = time.monotonic() - t0
        if not self.config.version_scan:
            conn.abort()
            return ServiceRecord(ep, "open", timings={"connect": t_connect})
        if (ep.transport, ep.port) in self.catalog.no_probe_ports and not self.config.all_ports:
            conn.abort()
            return guessed(ep, "open", port_guess(self.catalog.port_names, ep),
                           {"connect": t_connect},
                           error="not probed: excluded port (use --allports)")
        layers = Layers(EndpointRun(self.catalog, None))
        try:
            return await asyncio.wait_for(
                self._identify(ep, conn, layers, t0, t_connect), self.config.endpoint_budget
            )
        except TimeoutError:
            conn.abort()
            return budget_spent(ep, layers.plain, layers.inner, layers.tls, layers.plain.banner,
                                self.catalog.port_names,
                                {"connect": t_connect, "total": time.monotonic() - t0})

    async def _identify(
        self, ep: Endpoint, conn: Conn, layers: Layers, t0: float, t_connect: float
    ) -> ServiceRecord:
        """The schedule on the plain connection, then inside TLS when a handshake succeeded;
        `layers` keeps what is found as it is found (the budget may end this at any time)."""
        plain = layers.plain
        tls_conn = await self.schedule.run_layer(ep, plain, conn, tls_first=True)
        if tls_conn is not None:
            layers.tls = tls_facts(tls_conn)
            layers.inner = EndpointRun(self.catalog, "tls")
            fingerprint = asyncio.create_task(jarm(self.dialer, ep, self.config.probe_wait))
            try:
                await self.schedule.run_layer(ep, layers.inner, tls_conn, tls_first=False)
                layers.tls = replace(layers.tls, jarm=await fingerprint)
            finally:
                fingerprint.cancel()
        timings = {"connect": t_connect, "total": time.monotonic() - t0}
        return tcp_record(ep, plain, layers.inner, layers.tls, self.catalog.port_names, timings)


@dataclass(slots=True)
class Layers:
    """An endpoint's layers as probing goes: plain, then TLS facts and the run inside TLS."""

    plain: EndpointRun
    inner: EndpointRun | None = None
    tls: TlsInfo | None = None
