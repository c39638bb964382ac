"""Announced flows: what is remembered, for how long, and how much at most."""

from __future__ import annotations

from probescan.protocols.packet import TCP
from probescan.watch.expect import MAX_EXPECTED, Expectations
from probescan.watch.flows import Flow

SERVER = ("192.0.2.1", 21)


def flow(fid: int, client: tuple[str, int], server: tuple[str, int], ts: float = 0.0) -> Flow:
    key = (TCP, client[0], client[1], server[0], server[1])
    return Flow(key, TCP, client, server, ts, ts, "handshake", False, id=fid)


def pasv(port: int) -> bytes:
    return f"227 Entering Passive Mode (192,0,2,1,{port // 256},{port % 256}).\r\n".encode()


def test_at_most_max_expected_announcements_are_kept_the_oldest_forgotten() -> None:
    ex = Expectations()
    control = flow(1, ("192.0.2.9", 40000), SERVER)
    for i in range(MAX_EXPECTED + 1):
        ex.see_tcp(control, SERVER, pasv(10000 + i), 0.0)
    first = flow(2, ("192.0.2.9", 40001), ("192.0.2.1", 10000), ts=1.0)
    last = flow(3, ("192.0.2.9", 40002), ("192.0.2.1", 10000 + MAX_EXPECTED), ts=1.0)
    assert ex.claim(first) is None
    assert ex.claim(last) == ("ftp-data", 1)


def test_an_announcement_is_used_once() -> None:
    ex = Expectations()
    control = flow(1, ("192.0.2.9", 40000), SERVER)
    ex.see_tcp(control, SERVER, pasv(10000), 0.0)
    data = flow(2, ("192.0.2.9", 40001), ("192.0.2.1", 10000), ts=1.0)
    again = flow(3, ("192.0.2.9", 40002), ("192.0.2.1", 10000), ts=2.0)
    assert ex.claim(data) == ("ftp-data", 1)
    assert ex.claim(again) is None


def test_a_client_command_announces_the_clients_endpoint() -> None:
    ex = Expectations()
    control = flow(1, ("192.0.2.9", 40000), SERVER)
    ex.see_tcp(control, ("192.0.2.9", 40000), b"PORT 192,0,2,9,39,16\r\n", 0.0)
    active = flow(2, ("192.0.2.1", 20), ("192.0.2.9", 39 * 256 + 16), ts=1.0)
    assert ex.claim(active) == ("ftp-data", 1)
