"""The watcher loop on crafted frames: when flows are labeled and what it holds meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from probescan.catalog import build_catalog
from probescan.model import Endpoint, ServiceRecord
from probescan.watch.capture import Frame
from probescan.watch.expect import EXPECT_FOR
from probescan.watch.label import FlowRecord
from probescan.watch.watcher import Watcher

pytest.importorskip("scapy")
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

CATALOG = build_catalog(None)
LINK_ETHERNET = 1


def syn(src: str, sport: int, dst: str, dport: int, ts: float) -> Frame:
    frame = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=src, dst=dst) / \
        TCP(sport=sport, dport=dport, flags="S", seq=1)
    return ts, LINK_ETHERNET, bytes(frame)


def tcp(src: tuple[str, int], dst: tuple[str, int], flags: str, seq: int, ts: float,
        payload: bytes = b"") -> Frame:
    frame = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / \
        IP(src=src[0], dst=dst[0]) / TCP(sport=src[1], dport=dst[1], flags=flags, seq=seq)
    return ts, LINK_ETHERNET, bytes(frame / payload) if payload else bytes(frame)


def udp(src: tuple[str, int], dst: tuple[str, int], ts: float, payload: bytes) -> Frame:
    frame = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / \
        IP(src=src[0], dst=dst[0]) / UDP(sport=src[1], dport=dst[1]) / payload
    return ts, LINK_ETHERNET, bytes(frame)


def run_offline(frames: list[Frame]) -> list[FlowRecord]:
    records: list[FlowRecord] = []
    asyncio.run(Watcher(CATALOG, records.append).run_offline(iter(frames)))
    return records


def test_ftp_data_connection_is_tied_to_the_control_flow_that_announced_it() -> None:
    cli, srv, data = ("192.0.2.9", 40000), ("192.0.2.1", 21), ("192.0.2.1", 11182)
    frames = [
        tcp(cli, srv, "S", 0, 0.0), tcp(srv, cli, "SA", 100, 0.01),
        tcp(srv, cli, "PA", 101, 0.02, b"220 (vsFTPd 3.0.3)\r\n"),
        tcp(cli, srv, "PA", 1, 0.03, b"EPSV\r\n"),
        tcp(srv, cli, "PA", 121, 0.04, b"229 Entering Extended Passive Mode (|||11182|)\r\n"),
        # the data connection: its bytes look like an HTTP reply, which must not decide
        tcp(("192.0.2.9", 40001), data, "S", 0, 0.05), tcp(data, ("192.0.2.9", 40001), "SA", 0,
                                                            0.06),
        tcp(data, ("192.0.2.9", 40001), "PA", 1, 0.07, b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n"),
        tcp(data, ("192.0.2.9", 40001), "R", 40, 0.08),
    ]
    by_port = {r.flow.server[1]: r for r in run_offline(frames)}
    control, transfer = by_port[21], by_port[11182]
    assert control.label.service == "ftp" and control.announced_by is None
    assert transfer.label.service == "ftp-data" and transfer.announced_by == control.flow.id
    assert transfer.to_dict()["announced_by"] == control.flow.id


def test_tftp_transfer_from_a_new_port_is_tied_to_its_request() -> None:
    cli, srv = ("192.0.2.9", 50000), ("192.0.2.1", 69)
    frames = [
        udp(cli, srv, 0.0, b"\x00\x01boot.cfg\x00octet\x00"),
        udp(("192.0.2.1", 41000), cli, 0.1, b"\x00\x03\x00\x01short file\n"),
        udp(cli, ("192.0.2.1", 41000), 0.2, b"\x00\x04\x00\x01"),
    ]
    records = run_offline(frames)
    request = next(r for r in records if r.flow.server == srv)
    transfer = next(r for r in records if r.flow is not request.flow)
    assert request.label.service == "tftp"
    assert transfer.label.service == "tftp" and transfer.announced_by == request.flow.id


def test_an_announced_endpoint_is_forgotten_after_its_time() -> None:
    cli, srv, data = ("192.0.2.9", 40000), ("192.0.2.1", 21), ("192.0.2.1", 11182)
    frames = [
        tcp(srv, cli, "PA", 121, 0.0, b"229 Entering Extended Passive Mode (|||11182|)\r\n"),
        tcp(("192.0.2.9", 40001), data, "S", 0, EXPECT_FOR + 1.0),
    ]
    by_port = {r.flow.server[1]: r for r in run_offline(frames)}
    assert by_port[11182].label.service == "unknown"


def test_an_announcement_nobody_follows_labels_nothing_else() -> None:
    cli, srv = ("192.0.2.9", 40000), ("192.0.2.1", 21)
    frames = [
        tcp(cli, srv, "S", 0, 0.0), tcp(srv, cli, "SA", 100, 0.01),
        tcp(srv, cli, "PA", 101, 0.02, b"227 Entering Passive Mode (192,0,2,1,43,174).\r\n"),
        tcp(("192.0.2.9", 40001), ("192.0.2.1", 443), "S", 0, 0.05),  # another flow
    ]
    services = sorted(r.label.service for r in run_offline(frames))
    assert "ftp-data" not in services


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


def test_flows_without_payload_are_counted_apart_and_never_as_labeled() -> None:
    cli, srv = ("192.0.2.9", 40010), ("192.0.2.1", 8080)
    frames = [
        tcp(cli, srv, "S", 0, 0.0), tcp(srv, cli, "RA", 0, 0.01),  # a closed port
        tcp(("192.0.2.9", 40011), ("192.0.2.1", 22), "S", 0, 0.02),
        tcp(("192.0.2.1", 22), ("192.0.2.9", 40011), "SA", 100, 0.03),
        tcp(("192.0.2.1", 22), ("192.0.2.9", 40011), "PA", 101, 0.04,
            b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"),
        udp(("192.0.2.9", 40012), ("192.0.2.1", 9999), 0.05, b"\x8f\x01" * 20),  # garbage
    ]
    records: list[FlowRecord] = []
    watcher = Watcher(CATALOG, records.append)
    asyncio.run(watcher.run_offline(iter(frames)))
    by_port = {r.flow.server[1]: r.label for r in records}
    assert by_port[8080].service == "unknown" and by_port[8080].info == "no payload"
    assert by_port[22].service == "ssh"
    assert by_port[9999].service == "unknown" and by_port[9999].info is None
    s = watcher.stats
    assert (s.labeled, s.unknown, s.no_payload) == (1, 1, 1)
