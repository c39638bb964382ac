"""The flow table: roles, mid-stream flows, ordered payload, expiry and the bound on flows."""

from __future__ import annotations

from probescan.protocols.packet import ACK, FIN, PSH, SYN, Packet
from probescan.watch.flows import FlowTable

C, S = ("10.0.0.1", 40000), ("10.0.0.2", 22)


def tcp(src: tuple[str, int], dst: tuple[str, int], flags: int, seq: int = 0,
        payload: bytes = b"", ts: float = 0.0) -> Packet:
    return Packet(ts, src[0], dst[0], 6, src[1], dst[1], flags, seq, payload)


def udp(src: tuple[str, int], dst: tuple[str, int], payload: bytes, ts: float = 0.0) -> Packet:
    return Packet(ts, src[0], dst[0], 17, src[1], dst[1], 0, 0, payload)


def test_handshake_gives_roles_even_when_the_syn_ack_is_seen_first() -> None:
    t = FlowTable()
    flow, new = t.add(tcp(S, C, SYN | ACK, seq=500))
    assert new and flow.client == C and flow.server == S and flow.roles == "handshake"
    flow2, new2 = t.add(tcp(C, S, ACK, seq=101))
    assert flow2 is flow and not new2


def test_payload_is_kept_in_order_and_retransmissions_are_trimmed() -> None:
    t = FlowTable()
    t.add(tcp(C, S, SYN, seq=99))
    t.add(tcp(S, C, SYN | ACK, seq=499))
    t.add(tcp(S, C, PSH | ACK, seq=500, payload=b"SSH-2.0-"))
    t.add(tcp(S, C, PSH | ACK, seq=500, payload=b"SSH-2.0-"))  # retransmitted
    t.add(tcp(S, C, PSH | ACK, seq=504, payload=b"2.0-Open"))  # overlaps by four
    flow, _ = t.add(tcp(C, S, PSH | ACK, seq=100, payload=b"hello"))
    assert bytes(flow.s2c.data) == b"SSH-2.0-Open"
    assert bytes(flow.c2s.data) == b"hello"
    assert flow.s2c.packets == 4


def test_midstream_flow_takes_the_well_known_port_as_server() -> None:
    t = FlowTable(well_known=frozenset({22}))
    flow, _ = t.add(tcp(S, C, ACK, seq=1, payload=b"x"))
    assert flow.midstream and flow.server == S and flow.roles == "ports"


def test_udp_first_sender_is_client_unless_it_answers_from_a_known_port() -> None:
    t = FlowTable(well_known=frozenset({53}))
    f1, _ = t.add(udp(("10.0.0.1", 5000), ("10.0.0.2", 53), b"q"))
    assert f1.client == ("10.0.0.1", 5000)
    f2, _ = t.add(udp(("10.0.0.2", 53), ("10.0.0.3", 6000), b"r"))
    assert f2.server == ("10.0.0.2", 53)


def test_kept_bytes_are_bounded() -> None:
    t = FlowTable(keep=16)
    t.add(tcp(C, S, SYN, seq=0))
    for i in range(10):
        flow, _ = t.add(tcp(C, S, ACK, seq=1 + i * 10, payload=b"0123456789"))
    assert len(flow.c2s.data) == 16 and flow.c2s.bytes == 100


def test_table_never_holds_more_than_max_flows_and_hands_evicted_ones_out() -> None:
    t = FlowTable(max_flows=10)
    for port in range(1000, 1100):
        t.add(tcp(("10.0.0.1", port), S, SYN))
    assert len(t) == 10
    out = list(t.expire(now=0.0))
    assert len(out) == 90 and out[0].client == ("10.0.0.1", 1000)


def test_closed_and_idle_flows_expire() -> None:
    t = FlowTable(udp_idle=5)
    t.add(tcp(C, S, SYN))
    t.add(tcp(C, S, FIN | ACK, seq=1))
    t.add(tcp(S, C, FIN | ACK, seq=1))
    t.add(udp(("10.0.0.1", 5000), ("10.0.0.2", 53), b"q", ts=0.0))
    ended = list(t.expire(now=10.0))
    assert {f.transport for f in ended} == {"tcp", "udp"} and len(t) == 0


def test_udp_flows_expire_behind_tcp_flows_that_are_not_yet_idle() -> None:
    t = FlowTable(tcp_idle=300, udp_idle=60)
    for port in range(1000, 1100):  # quiet for 100 s: idle for UDP, not for TCP
        t.add(tcp(("10.0.0.1", port), S, SYN, ts=0.0))
    t.add(udp(("10.0.0.1", 5000), ("10.0.0.2", 53), b"q", ts=1.0))
    ended = list(t.expire(now=100.0))
    assert [f.transport for f in ended] == ["udp"] and len(t) == 100


def test_eviction_takes_the_least_recently_seen_flow_of_either_transport() -> None:
    t = FlowTable(max_flows=2)
    t.add(udp(("10.0.0.1", 5000), ("10.0.0.2", 53), b"q", ts=1.0))
    t.add(tcp(C, S, SYN, ts=2.0))
    t.add(udp(("10.0.0.1", 5000), ("10.0.0.2", 53), b"q", ts=3.0))  # the UDP flow again
    t.add(tcp(("10.0.0.9", 1), S, SYN, ts=4.0))
    assert [f.transport for f in t.expire(now=4.0)] == ["tcp"] and len(t) == 2


def test_behaviour_keeps_the_first_sizes_signed_by_side_with_their_times() -> None:
    t = FlowTable()
    t.add(tcp(C, S, SYN, seq=0, ts=1.0))
    t.add(tcp(S, C, SYN | ACK, seq=0, ts=1.1))
    t.add(tcp(C, S, PSH | ACK, seq=1, payload=b"abc", ts=1.2))
    flow, _ = t.add(tcp(S, C, PSH | ACK, seq=1, payload=b"hello", ts=1.3))
    t.add(tcp(S, C, ACK, seq=6, ts=1.4))  # no payload: not a size
    assert flow.sizes == [3, -5] and flow.times == [1.2, 1.3]
    assert flow.first == "client" and (flow.c2s.syn, flow.s2c.syn) == (1, 1)


def test_sizes_come_from_the_wire_length_when_the_payload_was_not_captured() -> None:
    t = FlowTable()
    headers_only = Packet(0.0, C[0], S[0], 6, C[1], S[1], PSH | ACK, 1, b"", None, 1448)
    flow, new = t.add(headers_only)  # mid-stream, no bytes captured: still a flow
    assert new and flow is not None and flow.sizes == [1448] and flow.c2s.bytes == 1448
    assert flow.c2s.data == bytearray()


def test_behaviour_is_bounded() -> None:
    from probescan.watch.flows import MAX_SIZES

    t = FlowTable()
    t.add(tcp(C, S, SYN, seq=0))
    for i in range(3 * MAX_SIZES):
        flow, _ = t.add(tcp(C, S, ACK, seq=1 + i, payload=b"z", ts=float(i)))
    assert len(flow.sizes) == len(flow.times) == MAX_SIZES and flow.c2s.bytes == 3 * MAX_SIZES


def _opened() -> FlowTable:
    t = FlowTable()
    t.add(tcp(C, S, SYN, seq=99))
    t.add(tcp(S, C, SYN | ACK, seq=499))
    return t


def test_reordered_segments_are_put_back_in_sequence_order() -> None:
    t = _opened()
    t.add(tcp(C, S, PSH | ACK, seq=110, payload=b"/1.1\r\n"))  # arrives first
    t.add(tcp(C, S, PSH | ACK, seq=105, payload=b" / HTTP"))  # overlaps the next by two
    flow, _ = t.add(tcp(C, S, PSH | ACK, seq=100, payload=b"GET /"))
    assert bytes(flow.c2s.data) == b"GET / / HTTP.1\r\n"  # the two bytes of overlap trimmed
    assert flow.c2s.held is None or not flow.c2s.held


def test_a_gap_never_filled_shows_what_followed_when_the_flow_is_read() -> None:
    t = _opened()
    flow, _ = t.add(tcp(C, S, PSH | ACK, seq=100, payload=b"USER a\r\n"))
    t.add(tcp(C, S, PSH | ACK, seq=120, payload=b"QUIT\r\n"))  # 108-119 never captured
    t.add(tcp(C, S, PSH | ACK, seq=120, payload=b"QUIT\r\n"))  # retransmitted while held
    assert bytes(flow.c2s.data) == b"USER a\r\n"
    t.settle(flow)
    assert bytes(flow.c2s.data) == b"USER a\r\nQUIT\r\n" and not flow.c2s.held


def test_held_segments_are_bounded() -> None:
    t = _opened()
    flow, _ = t.add(tcp(C, S, PSH | ACK, seq=100, payload=b"a"))
    for i in range(20):  # every one beyond a gap of its own
        t.add(tcp(C, S, PSH | ACK, seq=200 + 10 * i, payload=bytes([65 + i])))
    held = flow.c2s.held
    assert held is None or len(held) <= 8
    t.settle(flow)
    assert bytes(flow.c2s.data) == b"a" + bytes(range(65, 85))


def test_sequence_numbers_wrap_around_while_reordered() -> None:
    t = FlowTable()
    t.add(tcp(C, S, SYN, seq=0xFFFFFFFD))
    t.add(tcp(S, C, SYN | ACK, seq=499))
    t.add(tcp(C, S, PSH | ACK, seq=2, payload=b"World"))  # past the wrap, first
    flow, _ = t.add(tcp(C, S, PSH | ACK, seq=0xFFFFFFFE, payload=b"Hell"))
    assert bytes(flow.c2s.data) == b"HellWorld"
