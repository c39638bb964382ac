"""Host spec syntax (probescan.targets.hostspec): addresses, networks, octet ranges,
hostnames and the one-line errors of bad specs."""

from __future__ import annotations

import pytest

from probescan.targets import Host, TargetError, iter_hosts
from tests.targets.helpers import error_of, fake_resolve, ips

# --------------------------------------------------------------------------- addresses


def test_single_ipv4_address_yields_itself() -> None:
    assert ips("192.0.2.1") == ["192.0.2.1"]


def test_ipv6_loopback_plain_and_bracketed_yield_the_same_address() -> None:
    assert ips("::1") == ["::1"]
    assert ips("[::1]") == ["::1"]


def test_ipv6_address_is_normalised_to_compressed_form() -> None:
    assert ips("2001:0db8:0000:0000:0000:0000:0000:0001") == ["2001:db8::1"]


def test_ipv6_scope_id_is_kept() -> None:
    assert ips("fe80::1%eth0") == ["fe80::1%eth0"]


def test_host_without_hostname_prints_as_its_ip() -> None:
    assert str(Host("192.0.2.1")) == "192.0.2.1"
    assert str(Host("192.0.2.1", "web.example")) == "web.example (192.0.2.1)"


# --------------------------------------------------------------------------- networks


def test_cidr_slash_30_yields_four_addresses() -> None:
    assert ips("10.0.0.0/30") == ["10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3"]


def test_cidr_includes_network_and_broadcast_like_nmap() -> None:
    hosts = ips("10.0.0.0/29")
    assert hosts[0] == "10.0.0.0"
    assert hosts[-1] == "10.0.0.7"
    assert len(hosts) == 8


def test_cidr_slash_31_and_32() -> None:
    assert ips("10.0.0.6/31") == ["10.0.0.6", "10.0.0.7"]
    assert ips("10.0.0.6/32") == ["10.0.0.6"]


def test_cidr_host_bits_are_ignored() -> None:
    assert ips("10.0.0.7/30") == ["10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.7"]


def test_ipv6_cidr_slash_126_yields_four_addresses() -> None:
    assert ips("2001:db8::/126") == ["2001:db8::", "2001:db8::1", "2001:db8::2", "2001:db8::3"]


def test_bracketed_ipv6_cidr() -> None:
    assert ips("[2001:db8::]/127") == ["2001:db8::", "2001:db8::1"]


# --------------------------------------------------------------------------- octet ranges


def test_last_octet_range() -> None:
    assert ips("10.0.0.1-20") == [f"10.0.0.{i}" for i in range(1, 21)]


def test_ranges_in_several_octets_yield_their_product_in_order() -> None:
    assert ips("10.0-1.0.1-3") == [
        "10.0.0.1",
        "10.0.0.2",
        "10.0.0.3",
        "10.1.0.1",
        "10.1.0.2",
        "10.1.0.3",
    ]


def test_range_in_first_octet() -> None:
    assert ips("10-12.0.0.1") == ["10.0.0.1", "11.0.0.1", "12.0.0.1"]


def test_comma_list_within_an_octet() -> None:
    assert ips("10.0.0.1,3,5") == ["10.0.0.1", "10.0.0.3", "10.0.0.5"]


def test_comma_list_mixed_with_ranges_is_sorted_and_unique() -> None:
    assert ips("10.0.0.5,1-3,2") == ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.5"]


def test_degenerate_octet_pattern_is_a_single_address() -> None:
    assert ips("10.0.0.1,1") == ["10.0.0.1"]
    assert ips("10.0.0.1-1", "10.0.0.1") == ["10.0.0.1"]


def test_open_octet_ranges_and_wildcards() -> None:
    assert ips("10.0.0.-2") == ["10.0.0.0", "10.0.0.1", "10.0.0.2"]
    assert ips("10.0.0.254-") == ["10.0.0.254", "10.0.0.255"]
    assert len(ips("10.0.0.*")) == 256
    assert len(ips("10.0.0.-")) == 256


# --------------------------------------------------------------------------- hostnames


def test_hostname_resolves_through_injected_resolver_to_its_first_address() -> None:
    hosts = list(iter_hosts(["web.example"], resolve=fake_resolve))
    assert hosts == [Host("192.0.2.10", "web.example")]


def test_ipv6_only_hostname() -> None:
    assert list(iter_hosts(["v6only.example"], resolve=fake_resolve)) == [
        Host("2001:db8::53", "v6only.example")
    ]


def test_hostname_with_prefix_scans_its_network_and_names_its_own_address() -> None:
    hosts = list(iter_hosts(["web.example/30"], resolve=fake_resolve))
    assert [h.ip for h in hosts] == ["192.0.2.8", "192.0.2.9", "192.0.2.10", "192.0.2.11"]
    assert [h.hostname for h in hosts] == [None, None, "web.example", None]


def test_unresolvable_hostname_names_it() -> None:
    message = error_of(iter_hosts, ["nosuch.example"], (), fake_resolve)
    assert message == "bad target 'nosuch.example': hostname does not resolve"


def test_resolver_oserror_counts_as_not_resolving() -> None:
    def broken(name: str) -> list[str]:
        raise OSError("network down")

    assert "'web.example'" in error_of(iter_hosts, ["web.example"], (), broken)


def test_resolver_returning_garbage_is_reported() -> None:
    message = error_of(iter_hosts, ["web.example"], (), lambda name: ["not-an-ip"])
    assert "'web.example'" in message
    assert "'not-an-ip'" in message


def test_each_hostname_is_resolved_once() -> None:
    calls: list[str] = []

    def counting(name: str) -> list[str]:
        calls.append(name)
        return fake_resolve(name)

    list(iter_hosts(["web.example", "web.example/31", "mail.example"], resolve=counting))
    assert calls == ["web.example", "mail.example"]


def test_real_localhost_resolves_to_a_loopback_address() -> None:
    hosts = list(iter_hosts(["localhost"]))
    assert len(hosts) == 1
    assert hosts[0].hostname == "localhost"
    assert hosts[0].ip in ("127.0.0.1", "::1")


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("10.0.0.300", "not an address, network or hostname (octet 300 out of range 0-255)"),
        ("10.0.0.5-1", "octet range end below start (5-1)"),
        ("10.0.0.1,,3", "empty item in octet '1,,3'"),
        ("010.0.0.1", "octet '010' has a leading zero (ambiguous)"),
        ("10.0.0", "not an address, network or hostname"),
        ("10.0.0.0/33", "prefix length /33 out of range for IPv4 (0-32)"),
        ("2001:db8::/129", "prefix length /129 out of range for IPv6 (0-128)"),
        ("10.0.0.0/x", "prefix length 'x' is not a number"),
        ("10.0.0.0/", "missing prefix length after '/'"),
        ("10.0.0.1-3/24", "octet ranges cannot be combined with a /prefix"),
        ("a/b/c", "not an address, network or hostname"),
        ("[10.0.0.1]", "brackets are only for IPv6 addresses"),
        ("[nonsense]", "not an IPv6 address"),
        ("-bad-.example", "not an address, network or hostname"),
        ("bad!.example", "not an address, network or hostname"),
    ],
)
def test_bad_target_message_is_one_line_naming_the_token(token: str, reason: str) -> None:
    assert error_of(iter_hosts, [token], (), fake_resolve) == f"bad target '{token}': {reason}"


def test_bad_octet_names_the_token() -> None:
    assert "'10.0.0.300'" in error_of(iter_hosts, ["10.0.0.300"], (), fake_resolve)


def test_empty_target_spec_is_rejected() -> None:
    assert error_of(iter_hosts, ["  "], (), fake_resolve) == "bad target '  ': empty"


def test_bad_token_fails_before_any_host_is_produced() -> None:
    # the call itself raises: nothing of the /8 before it is yielded first
    with pytest.raises(TargetError, match=r"'10\.0\.0\.300'"):
        iter_hosts(["10.0.0.0/8", "192.0.2.1", "10.0.0.300"], resolve=fake_resolve)


def test_unresolvable_name_fails_at_call_time_too() -> None:
    with pytest.raises(TargetError, match=r"'nosuch\.example'"):
        iter_hosts(["10.0.0.0/8", "nosuch.example"], resolve=fake_resolve)


def test_bad_exclude_fails_at_call_time_and_says_exclude() -> None:
    with pytest.raises(TargetError, match=r"^bad exclude '10\.0\.0\.999'"):
        iter_hosts(["10.0.0.0/8"], ["10.0.0.999"], resolve=fake_resolve)


def test_target_error_is_a_value_error() -> None:
    assert issubclass(TargetError, ValueError)
