"""Expanding host specs (probescan.targets.hosts): laziness, exclude lists and duplicates."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

from probescan.targets import Host, iter_hosts, split_exclude
from tests.targets.helpers import error_of, fake_resolve, ips

# --------------------------------------------------------------------------- laziness

T = TypeVar("T")
# Lines of Python a few hosts may cost, parsing included (a few hundred are run): walking
# the addresses of even a /16 one by one would run over half a million.
FEW_LINES = 5_000


def within_lines(limit: int, work: Callable[[], T]) -> T:
    """What `work` returns; an AssertionError as soon as it has run `limit` lines of Python.
    Lines run count the work done, the same on a fast or a loaded machine (unlike time)."""
    count = 0

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal count
        count += event == "line"
        if count >= limit:
            raise AssertionError(f"{limit} lines of Python run and still not done")
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        return work()
    finally:
        sys.settrace(previous)


def test_slash_8_yields_its_first_hosts_without_expanding_the_rest() -> None:
    first = within_lines(FEW_LINES, lambda: list(itertools.islice(iter_hosts(["10.0.0.0/8"]), 3)))
    assert [h.ip for h in first] == ["10.0.0.0", "10.0.0.1", "10.0.0.2"]


def test_ipv6_slash_64_is_not_materialised() -> None:
    first = next(iter_hosts(["2001:db8::/64"]))
    assert first.ip == "2001:db8::"


def test_octet_pattern_over_all_octets_is_lazy() -> None:
    first = within_lines(FEW_LINES, lambda: next(iter_hosts(["1-254.*.*.1-254"])))
    assert first.ip == "1.0.0.1"


def test_excluded_half_of_a_slash_8_is_jumped_over_not_walked() -> None:
    # 8 million excluded addresses before the first host
    first = within_lines(FEW_LINES, lambda: next(iter_hosts(["10.0.0.0/8"], ["10.0.0.0/9"])))
    assert first.ip == "10.128.0.0"


# --------------------------------------------------------------------------- exclude


def test_exclude_removes_single_addresses_and_ranges() -> None:
    assert ips("10.0.0.0/29", exclude=["10.0.0.0", "10.0.0.5-7"]) == [
        "10.0.0.1",
        "10.0.0.2",
        "10.0.0.3",
        "10.0.0.4",
    ]


def test_exclude_string_is_comma_separated() -> None:
    assert ips("10.0.0.0/29", exclude="10.0.0.0,10.0.0.6/31") == [
        "10.0.0.1",
        "10.0.0.2",
        "10.0.0.3",
        "10.0.0.4",
        "10.0.0.5",
    ]


def test_exclude_string_keeps_octet_comma_lists_together() -> None:
    assert split_exclude("10.0.0.1,3,5,192.168.0.0/24 web.example,10.0.0.8-9,12") == [
        "10.0.0.1,3,5",
        "192.168.0.0/24",
        "web.example",
        "10.0.0.8-9,12",
    ]
    assert ips("10.0.0.0-6", exclude="10.0.0.1,3,5") == [
        "10.0.0.0",
        "10.0.0.2",
        "10.0.0.4",
        "10.0.0.6",
    ]


def test_exclude_empty_item_names_the_list() -> None:
    assert error_of(split_exclude, "10.0.0.1,,10.0.0.2") == (
        "bad exclude list '10.0.0.1,,10.0.0.2': empty item"
    )


def test_exclude_non_contiguous_octet_pattern() -> None:
    assert ips("10.0.0.0/30", exclude=["10.0-1.0.1"]) == ["10.0.0.0", "10.0.0.2", "10.0.0.3"]
    assert ips("10.0-1.0.0-1", exclude=["10.0-1.0.1"]) == ["10.0.0.0", "10.1.0.0"]


def test_exclude_hostname_removes_all_its_addresses() -> None:
    assert ips("192.0.2.10", "2001:db8::10", "192.0.2.11", exclude=["web.example"]) == [
        "192.0.2.11"
    ]


def test_exclude_also_removes_hosts_given_by_name() -> None:
    assert ips("web.example", "mail.example", exclude=["192.0.2.10"]) == ["192.0.2.25"]


def test_excluding_everything_yields_nothing() -> None:
    assert ips("10.0.0.0/24", exclude=["0.0.0.0/0"]) == []


def test_exclude_of_other_ip_version_has_no_effect() -> None:
    assert ips("::1", exclude=["0.0.0.0/0"]) == ["::1"]


# --------------------------------------------------------------------------- duplicates


def test_repeated_literal_is_scanned_once() -> None:
    assert ips("192.0.2.1", "192.0.2.1") == ["192.0.2.1"]


def test_overlapping_ranges_yield_each_address_once_in_first_spec_order() -> None:
    assert ips("10.0.0.2-4", "10.0.0.0/29", "10.0.0.3") == [
        "10.0.0.2",
        "10.0.0.3",
        "10.0.0.4",
        "10.0.0.0",
        "10.0.0.1",
        "10.0.0.5",
        "10.0.0.6",
        "10.0.0.7",
    ]


def test_overlap_with_non_contiguous_pattern_is_deduplicated() -> None:
    assert ips("10.0-1.0.1", "10.1.0.0/30") == [
        "10.0.0.1",
        "10.1.0.1",
        "10.1.0.0",
        "10.1.0.2",
        "10.1.0.3",
    ]


def test_same_address_under_different_names_is_kept_per_name() -> None:
    hosts = list(
        iter_hosts(
            ["web.example", "alias.example", "192.0.2.10", "web.example"], resolve=fake_resolve
        )
    )
    assert hosts == [
        Host("192.0.2.10", "web.example"),
        Host("192.0.2.10", "alias.example"),
        Host("192.0.2.10", None),
    ]


def test_named_address_of_a_hostname_network_still_allows_the_plain_address() -> None:
    hosts = list(iter_hosts(["web.example/31", "192.0.2.10", "192.0.2.11"], resolve=fake_resolve))
    assert hosts == [
        Host("192.0.2.10", "web.example"),
        Host("192.0.2.11", None),
        Host("192.0.2.10", None),
    ]


def test_several_specs_in_one_string_are_split_on_whitespace() -> None:
    assert ips("192.0.2.1 192.0.2.2\t192.0.2.3") == ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
