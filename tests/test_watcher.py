"""The watcher loop on crafted frames: when flows are labeled and what it holds meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from probescan.cliutil import build_catalog
from probescan.model import Endpoint, ServiceRecord
from probescan.watch.capture import Frame
from probescan.watch.label import FlowRecord
from probescan.watch.run import Watcher

pytest.importorskip("scapy")
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

CATALOG = build_catalog(None)
LINK_ETHERNET = 1


def syn(src: str, sport: int, dst: str, dport: int, ts: float) -> Frame:
    frame = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=src, dst=dst) / \
        TCP(sport=sport, dport=dport, flags="S", seq=1)
    return ts, LINK_ETHERNET, bytes(frame)


class NeverAnswers:
    """Stands in for the active prober: every probe stays outstanding."""

    def __init__(self) -> None:
        self.futures: list[asyncio.Future[ServiceRecord]] = []

    def request(self, ep: Endpoint) -> asyncio.Future[ServiceRecord]:
        fut: asyncio.Future[ServiceRecord] = asyncio.get_running_loop().create_future()
        self.futures.append(fut)
        return fut


def test_one_packet_flows_of_a_port_scan_are_labeled_as_they_end_and_not_held() -> None:
    records: list[FlowRecord] = []
    watcher = Watcher(CATALOG, records.append)
    watcher.table.max_flows = 100
    most_pending = 0

    def frames() -> Iterator[Frame]:
        nonlocal most_pending
        for port in range(1, 5001):  # a SYN scan: one packet a flow, no answer
            most_pending = max(most_pending, len(watcher.pending))
            yield syn("192.0.2.9", 40000, "192.0.2.1", port, ts=port * 0.0001)

    asyncio.run(watcher.run_offline(frames()))
    assert len(records) == 5000
    assert {r.label.service for r in records} == {"unknown"}
    assert most_pending <= watcher.table.max_flows + 512  # the table's bound, plus a batch


def test_a_new_flow_on_the_addresses_of_one_still_waiting_for_probes_keeps_both_records(
) -> None:
    records: list[FlowRecord] = []

    async def run() -> None:
        prober = NeverAnswers()
        watcher = Watcher(CATALOG, records.append, prober)  # type: ignore[arg-type]
        watcher.table.max_flows = 1  # the first flow is evicted by the second
        frames = [syn("192.0.2.9", 40000, "192.0.2.1", 22, 0.0),
                  syn("192.0.2.9", 40001, "192.0.2.1", 22, 0.1),
                  syn("192.0.2.9", 40000, "192.0.2.1", 22, 0.2)]  # the first one's addresses
        for frame in frames:
            watcher.feed(frame)
            for flow in watcher.table.expire(frame[0]):
                watcher._finish(flow)
        assert len(records) == 1  # the first flow: replaced while it waited for its probes
        for fut in prober.futures:
            fut.cancel()
        await watcher.finish_all(wait_probes=False)

    asyncio.run(run())
    assert sorted(r.flow.client[1] for r in records) == [40000, 40000, 40001]
    assert len({r.flow.id for r in records}) == 3
