"""Behaviour features and the flow's class: sizes and timing only."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from probescan.classify.features import (
    FEATURE_NAMES,
    Behaviour,
    features,
    first_bytes,
    group_address,
    runs,
    size_histograms,
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


def test_features_have_a_fixed_length_and_name() -> None:
    assert len(features(beh([]))) == len(features(beh([1]))) == len(FEATURE_NAMES)
    assert len(features(beh(list(range(1, 40))))) == len(FEATURE_NAMES)
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)


def test_features_read_sizes_directions_and_gaps() -> None:
    x = dict(zip(FEATURE_NAMES, features(beh([517, -1448, -1448, -900, 126, -51])),
                 strict=True))
    assert (x["p1_dir"], x["p2_dir"], x["p7_dir"]) == (1.0, -1.0, 0.0)
    assert x["p1_size"] == math.log2(518) and x["p7_size"] == 0.0
    assert x["p2_gap"] == math.log10(0.01) and x["p1_gap"] == 0.0
    assert x["turns"] == 3 and x["payload_packets"] == 6 and x["client_first"] == 1.0
    assert math.isclose(sum(x[f"c2s_bin{i}"] for i in range(8)), 1)
    assert x["s2c_bin7"] == 2 / 4  # two of the server's four packets are 1,400 bytes or more


def test_the_entropy_of_the_payload_is_no_feature() -> None:
    """Headers-only flows must look like the same flows with their payload."""
    a = beh([100, -100])
    assert features(a) == features(replace(a, entropy=(0.99, 0.5, 0.6, 0.4)))


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
