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
from dataclasses import replace

from probescan.catalog import Catalog
from probescan.config import Config
from probescan.engine.conn import Conn, ConnectFailed, Dialer, SocketRegistry, tls_facts
from probescan.engine.jarm import jarm
from probescan.engine.limits import Limits
from probescan.engine.schedule import EndpointRun, Schedule
from probescan.engine.udp import UdpProber
from probescan.engine.verdict import guessed, port_guess, tcp_record
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
            return ServiceRecord(
                ep, "closed" if e.state == "closed" else "filtered",
                timings={"connect": time.monotonic() - t0},
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
        try:
            return await asyncio.wait_for(
                self._identify(ep, conn, t0, t_connect), self.config.endpoint_budget
            )
        except TimeoutError:
            conn.abort()
            return ServiceRecord(
                ep, "open", service="unknown", error="endpoint time budget exhausted",
                timings={"connect": t_connect, "total": time.monotonic() - t0},
            )

    async def _identify(
        self, ep: Endpoint, conn: Conn, t0: float, t_connect: float
    ) -> ServiceRecord:
        """The schedule on the plain connection, then inside TLS when a handshake succeeded."""
        plain = EndpointRun(self.catalog, None)
        tls_conn = await self.schedule.run_layer(ep, plain, conn, tls_first=True)
        tls_info: TlsInfo | None = None
        inner: EndpointRun | None = None
        if tls_conn is not None:
            tls_info = tls_facts(tls_conn)
            inner = EndpointRun(self.catalog, "tls")
            fingerprint = asyncio.create_task(jarm(self.dialer, ep, self.config.probe_wait))
            try:
                await self.schedule.run_layer(ep, inner, tls_conn, tls_first=False)
                tls_info = replace(tls_info, jarm=await fingerprint)
            finally:
                fingerprint.cancel()
        timings = {"connect": t_connect, "total": time.monotonic() - t0}
        return tcp_record(ep, plain, inner, tls_info, self.catalog.port_names, timings)
