"""The cluster's shards partition the target set: for many target specs (CIDRs, octet ranges,
lists, hostnames, IPv6, with exclusions) and shard counts, the union of the shards is exactly
the endpoints a one-process scan would probe, and no endpoint is in two shards."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probescan.cluster.plan import make_plan, split
from probescan.model import Endpoint
from probescan.targets import TargetError, endpoints, iter_hosts, shard
from tests.targets.helpers import FAKE_DNS, fake_resolve

octet = st.integers(0, 255)


@st.composite
def v4_cidr(draw: st.DrawFn) -> str:
    return f"10.{draw(octet)}.{draw(octet)}.{draw(octet)}/{draw(st.integers(24, 32))}"


@st.composite
def v4_range(draw: st.DrawFn) -> str:
    a, b = sorted((draw(st.integers(0, 9)), draw(st.integers(0, 9))))
    c, d = sorted((draw(octet), draw(octet)))
    d = min(d, c + 40)
    return f"10.1.{a}-{b}.{c}-{d}"


@st.composite
def v4_list(draw: st.DrawFn) -> str:
    last = draw(st.lists(octet, min_size=1, max_size=6))
    return f"10.2.{draw(st.integers(0, 3))}.{','.join(map(str, last))}"


@st.composite
def v6(draw: st.DrawFn) -> str:
    word = draw(st.integers(0, 0xFFFF))
    if draw(st.booleans()):
        return f"2001:db8::{word:x}:0/{draw(st.integers(120, 128))}"
    return f"2001:db8::{word:x}"


single = st.builds(lambda a, b: f"10.3.{a}.{b}", st.integers(0, 3), octet)
hostname = st.sampled_from(sorted(FAKE_DNS))
spec = st.one_of(v4_cidr(), v4_range(), v4_list(), v6(), single, hostname)
ports = st.lists(st.tuples(st.sampled_from(["tcp", "udp"]), st.integers(1, 65535)),
                 min_size=1, max_size=3, unique=True)


def one_process(specs: list[str], exclude: list[str],
                port_list: list[tuple[str, int]]) -> list[Endpoint]:
    return list(endpoints(iter_hosts(specs, exclude, resolve=fake_resolve), port_list))


@settings(max_examples=300, deadline=None, database=None)
@given(specs=st.lists(spec, min_size=1, max_size=4),
       exclude=st.lists(spec, max_size=3),
       port_list=ports,
       wanted=st.integers(1, 24),
       outer=st.one_of(st.none(), st.integers(1, 3).flatmap(
           lambda n: st.tuples(st.integers(1, n), st.just(n)))))
def test_shards_partition_the_targets(specs: list[str], exclude: list[str],
                                      port_list: list[tuple[str, int]], wanted: int,
                                      outer: tuple[int, int] | None) -> None:
    expected = one_process(specs, exclude, port_list)
    if outer is not None:
        expected = list(shard(expected, *outer))
    assert len(set(expected)) == len(expected)
    plan = make_plan(specs, exclude, port_list, outer, resolve=fake_resolve)
    shards = split(plan, wanted, len(expected))
    assert 1 <= len(shards) <= wanted
    got = [ep for s in shards for ep in s.endpoints()]
    counts = Counter(got)
    assert counts == Counter(expected)  # the union is the target set ...
    assert max(counts.values(), default=1) == 1  # ... and no endpoint is in two shards
    if shards[0].by_host:  # a host's ports all go to one shard
        owner: dict[tuple[str, str | None], int] = {}
        for s in shards:
            for ep in s.endpoints():
                assert owner.setdefault((ep.ip, ep.hostname), s.index) == s.index


@settings(database=None)
@given(wanted=st.integers(1, 64), hosts=st.integers(1, 40), port_count=st.integers(1, 5))
def test_more_shards_than_hosts_split_by_endpoint(wanted: int, hosts: int,
                                                  port_count: int) -> None:
    plan = make_plan([f"10.9.0.1-{hosts}"], [], [("tcp", p) for p in range(1, port_count + 1)])
    shards = split(plan, wanted, hosts * port_count)
    assert shards[0].by_host == (hosts >= wanted)
    assert len(shards) == min(wanted, hosts if hosts >= wanted else hosts * port_count)
    assert sorted(map(str, (ep for s in shards for ep in s.endpoints()))) == sorted(
        map(str, plan.endpoints()))


def test_unknown_total_shards_by_host() -> None:
    plan = make_plan(["10.0.0.0/30"], [], [("tcp", 22)])
    shards = split(plan, 8, None)
    assert len(shards) == 8 and all(s.by_host for s in shards)
    got = sorted(ep.ip for s in shards for ep in s.endpoints())
    assert got == [f"10.0.0.{i}" for i in range(4)]


def test_names_are_resolved_once_by_the_client() -> None:
    asked: list[str] = []

    def resolve(name: str) -> list[str]:
        asked.append(name)
        return fake_resolve(name)

    plan = make_plan(["web.example", "mail.example"], ["alias.example"], [("tcp", 80)],
                     resolve=resolve)
    assert sorted(asked) == ["alias.example", "mail.example", "web.example"]
    assert [ep.ip for ep in plan.endpoints()] == ["192.0.2.25"]  # no further lookups
    assert len(asked) == 3


def test_bad_specs_fail_at_planning() -> None:
    with pytest.raises(TargetError):
        make_plan(["10.0.0.5-1"], [], [("tcp", 80)])
    with pytest.raises(TargetError):
        make_plan(["10.0.0.1"], [], [("sctp", 80)])
