"""The watcher's per-packet and per-flow work: frames -> packets -> flows -> passive label ->
probes -> records. Where the frames come from is the drivers' (watch/drivers.py).

A record is written once per flow. Live: as soon as the flow is *ready* (its probes, if any,
are done, and the server has spoken or a second has passed since the first packet), or when
it ends. From a file: when the flow ends (FIN/RST, idle, eviction, end of the file), so the
record sees all the first bytes the file holds; a flow whose probes still run waits for them
(at most PROBE_WAIT). Counters in a record are those at the time it was written.

With a scan detector (probescan.scans), every frame is also read by the detector, and a flow
without payload whose client is scanning is folded into its scan record instead of getting a
flow record of its own (probescan.scans.fold; `all_flows` keeps them).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from probescan.catalog import Catalog
from probescan.catalog.user import RuleFiles
from probescan.classify.features import Behaviour, behaviour_of
from probescan.classify.layers import PAYLOAD_LAYERS
from probescan.classify.signatures import Signature
from probescan.classify.statistical import StatisticalLayer, Verdict
from probescan.config import WatchConfig
from probescan.model import Endpoint, ServiceRecord
from probescan.protocols.errors import ParseError
from probescan.protocols.packet import TCP, parse_frame
from probescan.scans.detector import ScanDetector
from probescan.scans.fold import ScanFold
from probescan.watch.active import ActiveProber
from probescan.watch.capture import Frame
from probescan.watch.drivers import run_live, run_offline
from probescan.watch.expect import FTP_MARKS, Announced, Expectations
from probescan.watch.flows import Flow, FlowTable, Key
from probescan.watch.label import (
    FlowRecord,
    Label,
    announced_label,
    anomalies,
    combine,
    learnt_as,
    signature_label,
    statistical_label,
)
from probescan.watch.passive import PassiveResult
from probescan.watch.workers import IdentifyPool, identify_job

READY_AFTER = 1.0  # seconds after its first packet a silent flow is labeled anyway
POOLED = frozenset({"rules", "parsers", "probe"})  # whose names join the endpoint's pool
PROBE_WAIT = 10.0  # seconds a flow's label waits for its probes, even after the flow ended

FlowSink = Callable[[FlowRecord], None]


@dataclass
class WatchStats:
    packets: int = 0
    undecoded: int = 0
    dropped: int = 0  # live: frames the capture thread could not hand over (backlog full)
    flows: int = 0
    labeled: int = 0  # flows given a name (not "unknown")
    unknown: int = 0  # flows that carried payload nothing could name
    no_payload: int = 0  # flows without a payload byte either way (never counted as labeled)
    own_traffic: int = 0
    folded: int = 0  # flows folded into scan records (counted at the end)
    started: float = field(default_factory=time.monotonic)
    recent: list[FlowRecord] = field(default_factory=list)
    services: dict[str, int] = field(default_factory=dict)


@dataclass
class _Pending:
    flow: Flow
    server: asyncio.Future[ServiceRecord] | None
    client: asyncio.Future[ServiceRecord] | None
    probed: list[str]
    announced: Announced | None = None  # (service, flow id) when another flow announced it

    def ready(self, now: float) -> bool:
        """Live: may the flow be labeled now? (`now` on the capture's clock)"""
        f = self.flow
        if (self.server is not None and not self.server.done()) or (
            self.client is not None and not self.client.done()
        ):
            return now - f.first_seen >= PROBE_WAIT
        return bool(f.s2c.data) or now - f.first_seen >= READY_AFTER or f.closed

    def probes_running(self, now: float) -> bool:
        return now - self.flow.first_seen < PROBE_WAIT and any(
            fut is not None and not fut.done() for fut in (self.server, self.client))


class Watcher:
    def __init__(
        self,
        catalog: Catalog,
        on_record: FlowSink,
        active: ActiveProber | None = None,
        own_ports: Callable[[str, int, str, int], bool] | None = None,
        table: FlowTable | None = None,
        *,
        config: WatchConfig | None = None,
        scans: ScanDetector | None = None,
        all_flows: bool = False,
        statistics: StatisticalLayer | None = None,
    ) -> None:
        """`on_record` gets each flow's record; `active` probes its endpoints (None: passive
        only); `own_ports` tells the prober's own connections, which are not watched; the
        flow table holds at most `config.max_flows` flows (default: WatchConfig()); `scans`
        finds scans (their payload-less flows folded into scan records unless `all_flows`);
        `config.classifiers` says which payload layers run, `statistics` (with its profiles)
        names what they leave unknown (None: nothing does)."""
        config = config or WatchConfig()
        self.layers = config.classifiers & PAYLOAD_LAYERS
        self.statistics = statistics if "statistics" in config.classifiers else None
        self.catalog = catalog
        self.on_record = on_record
        self.active = active
        self.own_ports = own_ports
        self.config = config
        well_known = frozenset(p for (_, p) in catalog.port_names)
        self.table = table or FlowTable(well_known=well_known, max_flows=config.max_flows)
        self.pending: dict[Key, _Pending] = {}
        self.expected = Expectations()  # FTP data connections, TFTP transfers
        self.pool: IdentifyPool[_Pending] | None = None
        self.stats = WatchStats()
        self.fold: ScanFold[_Pending] | None = (
            ScanFold(scans, self._label, all_flows) if scans is not None else None)
        # live only: what `check` looks at (flows whose server spoke or whose probes ended
        # since the last tick, and flows whose waiting time runs out), so a tick costs what
        # happened since the last one, not the number of pending flows
        self.live = False
        self._touched: set[Key] = set()
        self._deadlines: deque[tuple[float, Flow]] = deque()  # first_seen + READY_AFTER
        self._probe_deadlines: deque[tuple[float, Flow]] = deque()  # first_seen + PROBE_WAIT

    # ---- per packet ------------------------------------------------------------------
    def feed(self, frame: Frame) -> None:
        """One frame (runs for every packet: fields are read once, rare work is guarded)."""
        ts, link, data = frame
        self.stats.packets += 1
        fold = self.fold
        try:
            pkt = parse_frame(data, link, ts)
        except ParseError:
            self.stats.undecoded += 1
            if fold is not None:  # an ICMP error may answer a scan's probe
                fold.frame(ts, link, data)
            return
        _, src, dst, proto, sport, dport, _, _, payload, _, _ = pkt
        if self.own_ports is not None:
            transport = "tcp" if proto == TCP else "udp"
            if (self.own_ports(transport, sport, dst, dport)
                    or self.own_ports(transport, dport, src, sport)):
                self.stats.own_traffic += 1
                return
        if fold is not None and fold.frame(ts, link, data) and not fold.keep_flows:
            return  # a payload-less packet of a known scan: its record counts it
        flow, new = self.table.add(pkt)
        if flow is None:
            return
        if payload:
            if proto != TCP:
                self.expected.see_udp(flow, (src, sport), payload, ts)
            elif payload[:4] in FTP_MARKS:
                self.expected.see_tcp(flow, (src, sport), payload, ts)
            if self.live and not new and flow.key in self.pending:
                self._touched.add(flow.key)
        if new:
            self.stats.flows += 1
            self._start(flow)

    def _start(self, flow: Flow) -> None:
        server = client = None
        probed: list[str] = []
        if self.active is not None:
            server = self.active.request(Endpoint(flow.server[0], flow.server[1], flow.transport))
            if server is not None:
                probed.append("server")
            client = self.active.request(Endpoint(flow.client[0], flow.client[1], flow.transport))
            if client is not None:
                probed.append("client")
        old = self.pending.pop(flow.key, None)
        if old is not None:  # an ended flow with the same addresses still waited for probes
            self._emit(old)
        self.pending[flow.key] = _Pending(flow, server, client, probed,
                                          self.expected.claim(flow))
        if self.live:
            self._deadlines.append((flow.first_seen + READY_AFTER, flow))
            if server is not None or client is not None:
                self._probe_deadlines.append((flow.first_seen + PROBE_WAIT, flow))
                key = flow.key

                def touch(_: object) -> None:
                    self._touched.add(key)

                for fut in (server, client):
                    if fut is not None:
                        fut.add_done_callback(touch)

    # ---- labeling ----------------------------------------------------------------------
    def _emit(self, p: _Pending) -> None:
        """Label a flow (taken out of `pending` by the caller: each flow is labeled once),
        unless it is folded into a scan record."""
        f = p.flow
        if self.fold is not None and self.fold.offer(
                f.client[0], p, f.last_seen,
                not f.s2c.bytes and (not f.c2s.bytes or f.proto != TCP)
                and not (to_group(f.server[0]) or to_group(f.client[0]))):
            return
        self._label(p)

    def _label(self, p: _Pending) -> None:
        f = p.flow
        self.table.settle(f)
        job = (bytes(f.c2s.data), bytes(f.s2c.data), f.transport,
               self.catalog.port_names.get((f.transport, f.server[1])), f.shape)
        if self.pool is not None:
            self.pool.submit(p, job)
        else:
            self._complete(p, identify_job(job, self.catalog.probes, self.catalog.fingerprints,
                                           self.layers))

    def _complete(self, p: _Pending, passive: PassiveResult) -> None:
        """The flow's passive result is in: combine it with the probes and hand out the record."""
        f = p.flow
        server = _result(p.server)
        client = _result(p.client)
        label = combine(passive, server)
        if p.announced is not None:
            label = announced_label(label, *p.announced)
        label, behaviour, verdict, signature = self._by_behaviour(f, label)
        if label.service != "unknown":
            self.stats.labeled += 1
        elif f.c2s.bytes or f.s2c.bytes:
            self.stats.unknown += 1
        else:  # a SYN answered by RST, a bare handshake: nothing to name it by
            self.stats.no_payload += 1
            label = replace(label, info="no payload")
        rec = FlowRecord(f, passive, label, anomalies(label, f.server[1], f.transport,
                                                      self.catalog.port_names),
                         server, client, p.probed,
                         announced_by=p.announced[1] if p.announced else None,
                         behaviour=behaviour, verdict=verdict, signature=signature)
        self.stats.services[label.service] = self.stats.services.get(label.service, 0) + 1
        self.stats.recent = [*self.stats.recent[-19:], rec]
        self.on_record(rec)

    def use_worker(self, workers: int, nmap_db: Path | None,
                   files: RuleFiles | None = None) -> None:
        """Identify flows in `workers` other processes (see probescan.watch.workers), each
        with the catalogue of `nmap_db` and the user's rule `files`."""
        self.pool = IdentifyPool(self.catalog.probes, self.catalog.fingerprints, nmap_db,
                                 self._complete, workers, files=files, layers=self.layers)

    def close(self) -> None:
        """Wait for the worker's last results and stop it."""
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    def _by_behaviour(self, f: Flow, label: Label
                      ) -> tuple[Label, Behaviour | None, Verdict | None, Signature | None]:
        """The statistics layer: a flow nothing else named is named by a behaviour signature
        or the forest (pooled with its server endpoint's earlier flows); a flow the payload
        or a probe named joins its endpoint's pool."""
        stats = self.statistics
        if stats is None:
            return label, None, None, None
        endpoint = (f.transport, f.server[0], f.server[1])
        if label.service != "unknown":
            if label.decided_by in POOLED:
                stats.remember(endpoint, learnt_as(label))
            return label, None, None, None
        if not f.sizes:
            return label, None, None, None
        behaviour = behaviour_of(f, entropy=True)
        signature = stats.signature(behaviour, f.server[0], f.client[0],
                                    bool(f.c2s.data or f.s2c.data))
        if signature is not None:
            stats.remember(endpoint, signature.service)
            return signature_label(signature), behaviour, None, signature
        verdict = stats.classify(behaviour, endpoint)
        if verdict is not None and verdict.named:
            label = statistical_label(verdict)
        return label, behaviour, verdict, None

    def check(self, now: float) -> None:
        """Label the flows that are ready; hand out and forget the flows that ended.
        `now` is on the capture's clock (packet timestamps; wall time when live)."""
        due = self._touched
        self._touched = set()
        for deadlines in (self._deadlines, self._probe_deadlines):
            while deadlines and deadlines[0][0] <= now:
                due.add(deadlines.popleft()[1].key)
        for key in due:
            p = self.pending.get(key)
            if p is not None and p.ready(now):
                del self.pending[key]
                self._emit(p)
        for flow in self.table.expire(now):
            self._finish(flow)
        if self.fold is not None:
            self.fold.tick(now, live=True)
        if self.pool is not None:
            self.pool.flush()  # live: a partial batch goes out every tick

    def expire(self, now: float) -> None:
        """From a file, after each batch of frames: hand out the flows that ended by `now`
        (capture clock) and the worker's results that are back."""
        for flow in self.table.expire(now):
            self._finish(flow)
        if self.fold is not None:
            self.fold.tick(now)
        if self.pool is not None:
            self.pool.collect()

    def _finish(self, flow: Flow) -> None:
        """The flow ended: label it now, unless its probes are still running (then it stays
        pending: `check` labels it when they finish or PROBE_WAIT has passed, `finish_all`
        at the end)."""
        p = self.pending.get(flow.key)
        if p is None or p.flow is not flow or p.probes_running(flow.last_seen):
            return
        del self.pending[flow.key]
        self._emit(p)

    async def finish_all(self, wait_probes: bool) -> None:
        """End of capture: wait for outstanding probes (if asked), then label everything."""
        if wait_probes:
            futs = [f for p in self.pending.values() for f in (p.server, p.client) if f]
            if futs:
                await asyncio.gather(*futs, return_exceptions=True)
        if self.fold is not None:
            self.fold.finish_detector()
        for flow in self.table.drain():
            self._finish(flow)
        pending, self.pending = self.pending, {}
        for p in pending.values():
            self._emit(p)
        if self.fold is not None:
            self.fold.finish()
            self.stats.folded = self.fold.folded
        self._touched.clear()
        self._deadlines.clear()
        self._probe_deadlines.clear()
        if self.pool is not None:
            self.pool.finish()

    # ---- drivers (watch/drivers.py) ------------------------------------------------------
    async def run_offline(self, frames: Iterator[Frame]) -> None:
        """Feed the frames of a file, as fast as they come."""
        await run_offline(self, frames)

    async def run_live(self, frames: Iterator[Frame], stop: asyncio.Event) -> None:
        """Feed the frames of a live capture (a blocking iterator) until `stop` or its end."""
        await run_live(self, frames, stop)


def to_group(ip: str) -> bool:
    """Is `ip` a multicast or broadcast address? A datagram sent there (SSDP, mDNS, LLMNR,
    NetBIOS name queries) is no attempt at one host, so a scanning source's unanswered
    datagrams to a group are never folded into its scan. x.y.z.255 is read as broadcast: it
    is the broadcast address of every prefix of /24 or longer, the usual LAN (a scan's
    probe to such an address in a shorter prefix merely keeps its flow record)."""
    if ":" in ip:
        return ip[:2].lower() == "ff"  # ff00::/8
    return ip.endswith(".255") or 224 <= int(ip.split(".", 1)[0]) <= 239


def _result(fut: asyncio.Future[ServiceRecord] | None) -> ServiceRecord | None:
    if fut is None or not fut.done() or fut.cancelled():
        return None
    return fut.result() if fut.exception() is None else None
