"""Behaviour features and the flow's class: sizes and timing only."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from probescan.classify.features import (
    CORE_LENGTH,
    Behaviour,
    distance,
    first_bytes,
    group_address,
    meters,
    runs,
    size_histograms,
    vector,
)
from probescan.classify.flowclass import flow_class


def beh(sizes: list[int], *, transport: str = "tcp", gap: float = 0.01,
        packets: tuple[int, int] | None = None, total: tuple[int, int] | None = None
        ) -> Behaviour:
    c = sum(n for n in sizes if n > 0)
    s = sum(-n for n in sizes if n < 0)
    return Behaviour(transport, tuple(sizes), tuple(i * gap for i in range(len(sizes))),
                     packets or (len(sizes), len(sizes)), total or (c, s), (1, 1), (0, 0),
                     (True, True), True, "client" if sizes and sizes[0] > 0 else "server",
                     gap * len(sizes), False, None)


def test_runs_merge_consecutive_packets_one_way() -> None:
    assert runs([517, -1448, -1448, -900, 126, -51]) == [
        (1, 517, 1), (-1, 3796, 3), (1, 126, 1), (-1, 51, 1)]


def test_meters_have_fixed_lengths_and_histograms_sum_to_one() -> None:
    m = meters(beh([517, -1448, -1448, -900, 126, -51]))
    assert math.isclose(sum(m["c2s"]), 1) and math.isclose(sum(m["s2c"]), 1)
    assert len(vector(beh([1]))[0]) == len(vector(beh(list(range(1, 40))))[0]) == CORE_LENGTH
    assert "entropy" not in m


def test_distance_is_zero_for_the_same_flow_and_grows_with_difference() -> None:
    tls = vector(beh([517, -1448, -1448, -900, 126, -51]))
    tls2 = vector(beh([517, -1448, -1448, -1000, 126, -51]))
    dns = vector(beh([40, -120], transport="udp"))
    assert distance(tls, tls) == 0
    assert 0 < distance(tls, tls2) < distance(tls, dns)


def test_entropy_is_compared_only_when_both_flows_have_payload() -> None:
    a = beh([100, -100])
    with_payload = replace(a, entropy=(0.99, 0.5, 0.6, 0.4))
    assert distance(vector(a), vector(with_payload)) == 0
    assert distance(vector(with_payload), vector(replace(a, entropy=(0.1, 0.1, 0.1, 0.1)))) > 0


def test_first_bytes_tell_random_from_text() -> None:
    random_bytes = bytes(range(256))
    assert first_bytes(random_bytes) == (1.0, 0.5)
    text_entropy, text_ones = first_bytes(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n")
    assert text_entropy < 0.6 and text_ones < 0.5
    assert first_bytes(b"") == (0.0, 0.0)


@pytest.mark.parametrize(("ip", "group"), [
    ("224.0.0.251", True), ("239.255.255.250", True), ("192.168.1.255", True),
    ("255.255.255.255", True), ("ff02::fb", True), ("192.168.1.10", False), ("::1", False),
    ("not an address", False)])
def test_group_addresses(ip: str, group: bool) -> None:
    assert group_address(ip) is group


def test_size_histograms_split_by_side() -> None:
    c, s = size_histograms([40, -1448, -1448, 100])
    assert sum(c) == 2 and sum(s) == 2 and s[-1] == 2


def test_flow_classes() -> None:
    assert flow_class(beh([])) == "failed attempt"
    assert flow_class(beh([40, -120], transport="udp")) == "control"
    bulk = [80] + [-1448] * 31
    assert flow_class(beh(bulk, packets=(400, 800), total=(80, 1_000_000))) == "file transfer"
    keys = [36, -36] * 16
    assert flow_class(beh(keys)) == "chatter"
    # much data both ways is no transfer
    assert flow_class(beh(keys, packets=(400, 400), total=(500_000, 500_000))) == "chatter"
