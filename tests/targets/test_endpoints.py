"""Endpoints (probescan.targets.endpoints) and ``--shard I/N`` (probescan.targets.shards)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from probescan.model import Endpoint
from probescan.targets import Host, endpoints, iter_hosts, parse_ports, parse_shard, shard
from tests.targets.helpers import error_of

# --------------------------------------------------------------------------- endpoints


def test_endpoints_are_host_major_and_carry_hostnames() -> None:
    hosts = [Host("192.0.2.1"), Host("2001:db8::1", "v6.example")]
    result = list(endpoints(hosts, [("tcp", 22), ("udp", 53)]))
    assert result == [
        Endpoint("192.0.2.1", 22, "tcp"),
        Endpoint("192.0.2.1", 53, "udp"),
        Endpoint("2001:db8::1", 22, "tcp", "v6.example"),
        Endpoint("2001:db8::1", 53, "udp", "v6.example"),
    ]


def test_endpoints_are_lazy_over_a_slash_8() -> None:
    eps = endpoints(iter_hosts(["10.0.0.0/8"]), parse_ports("22,80"))
    assert [str(e) for e in itertools.islice(eps, 3)] == [
        "10.0.0.0:22/tcp",
        "10.0.0.0:80/tcp",
        "10.0.0.1:22/tcp",
    ]


def test_endpoints_reject_unknown_transport() -> None:
    assert "'sctp'" in error_of(endpoints, [Host("192.0.2.1")], [("sctp", 22)])


# --------------------------------------------------------------------------- shards


def test_parse_shard_is_one_based() -> None:
    assert parse_shard("2/4") == (2, 4)
    assert parse_shard("1/1") == (1, 1)
    assert parse_shard(" 3 / 3 ") == (3, 3)


@pytest.mark.parametrize("text", ["0/4", "5/4", "2/0", "2", "a/b", "-1/4", "1/4/2", ""])
def test_bad_shard_names_the_token(text: str) -> None:
    assert error_of(parse_shard, text).startswith(f"bad shard '{text}':")


def test_kth_endpoint_goes_to_shard_k_mod_n() -> None:
    items = list(range(10))
    assert list(shard(items, 1, 3)) == [0, 3, 6, 9]
    assert list(shard(items, 2, 3)) == [1, 4, 7]
    assert list(shard(items, 3, 3)) == [2, 5, 8]


def test_shards_partition_the_endpoints_completely_and_disjointly() -> None:
    def all_endpoints() -> Iterator[Endpoint]:
        return endpoints(iter_hosts(["10.0.0.0/28", "2001:db8::/126"]), parse_ports("22,U:53,161"))

    everything = list(all_endpoints())
    for n in (1, 2, 3, 7, 100):
        parts = [list(shard(all_endpoints(), i, n)) for i in range(1, n + 1)]
        merged = [e for part in parts for e in part]
        assert sorted(merged, key=str) == sorted(everything, key=str)
        assert len(merged) == len(everything)
        assert len(set(merged)) == len(everything)


def test_shard_is_deterministic_and_lazy() -> None:
    first = list(
        itertools.islice(shard(endpoints(iter_hosts(["10.0.0.0/8"]), [("tcp", 80)]), 2, 4), 2)
    )
    again = list(
        itertools.islice(shard(endpoints(iter_hosts(["10.0.0.0/8"]), [("tcp", 80)]), 2, 4), 2)
    )
    assert first == again
    assert [e.ip for e in first] == ["10.0.0.1", "10.0.0.5"]


def test_shard_rejects_bad_index() -> None:
    assert error_of(shard, [1, 2], 0, 2).startswith("bad shard '0/2':")
    assert error_of(shard, [1, 2], 3, 2).startswith("bad shard '3/2':")
