"""Target, exclude, port and shard specs (probescan.targets)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from probescan.catalog.paths import data_dir
from probescan.model import Endpoint
from probescan.targets import (
    Host,
    TargetError,
    endpoints,
    iter_hosts,
    parse_ports,
    parse_shard,
    port_names,
    read_target_file,
    shard,
    split_exclude,
    top_ports,
)

FAKE_DNS = {
    "web.example": ["192.0.2.10", "2001:db8::10"],
    "mail.example": ["192.0.2.25"],
    "alias.example": ["192.0.2.10"],
    "v6only.example": ["2001:db8::53"],
}


def fake_resolve(name: str) -> list[str]:
    return list(FAKE_DNS.get(name, []))


def ips(*specs: str, exclude: str | Sequence[str] = ()) -> list[str]:
    return [h.ip for h in iter_hosts(list(specs), exclude, resolve=fake_resolve)]


def error_of(call: object, *args: object) -> str:
    assert callable(call)
    with pytest.raises(TargetError) as info:
        result = call(*args)
        if isinstance(result, Iterator):
            list(result)
    message = str(info.value)
    assert "\n" not in message
    return message


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


# --------------------------------------------------------------------------- laziness


def test_slash_8_yields_first_host_instantly() -> None:
    start = time.perf_counter()
    first = list(itertools.islice(iter_hosts(["10.0.0.0/8"]), 3))
    assert [h.ip for h in first] == ["10.0.0.0", "10.0.0.1", "10.0.0.2"]
    assert time.perf_counter() - start < 0.5


def test_ipv6_slash_64_is_not_materialised() -> None:
    first = next(iter_hosts(["2001:db8::/64"]))
    assert first.ip == "2001:db8::"


def test_octet_pattern_over_all_octets_is_lazy() -> None:
    start = time.perf_counter()
    assert next(iter_hosts(["1-254.*.*.1-254"])).ip == "1.0.0.1"
    assert time.perf_counter() - start < 0.5


def test_excluded_half_of_a_slash_8_is_jumped_over_not_walked() -> None:
    start = time.perf_counter()
    first = next(iter_hosts(["10.0.0.0/8"], ["10.0.0.0/9"]))
    assert first.ip == "10.128.0.0"
    assert time.perf_counter() - start < 0.5


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


# --------------------------------------------------------------------------- -iL files


def test_target_file_allows_comments_blank_lines_and_several_specs_per_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "targets.txt"
    path.write_text(
        "# lab hosts\n"
        "\n"
        "192.0.2.1 192.0.2.2   # two on one line\n"
        "   10.0.0.0/30\n"
        "#192.0.2.99\n"
        "web.example\t2001:db8::1\n",
        encoding="utf-8",
    )
    specs = read_target_file(path)
    assert specs == ["192.0.2.1", "192.0.2.2", "10.0.0.0/30", "web.example", "2001:db8::1"]
    assert len(list(iter_hosts(specs, resolve=fake_resolve))) == 8


def test_target_file_accepts_str_path(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("192.0.2.1\n", encoding="utf-8")
    assert read_target_file(str(path)) == ["192.0.2.1"]


def test_empty_target_file_gives_no_specs(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_text("# nothing here\n\n", encoding="utf-8")
    assert read_target_file(path) == []


def test_missing_target_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.txt"
    assert error_of(read_target_file, path) == (
        f"bad target file '{path}': No such file or directory"
    )


def test_directory_as_target_file_names_it(tmp_path: Path) -> None:
    assert f"'{tmp_path}'" in error_of(read_target_file, tmp_path)


def test_binary_target_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "bin.txt"
    path.write_bytes(b"192.0.2.1\n\xff\xfe\n")
    assert error_of(read_target_file, path).startswith(f"bad target file '{path}': not UTF-8")


def test_bad_token_from_target_file_names_the_token(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("192.0.2.1\n192.0.2.256\n", encoding="utf-8")
    assert "'192.0.2.256'" in error_of(iter_hosts, read_target_file(path), (), fake_resolve)


# --------------------------------------------------------------------------- ports


def test_port_list_and_range() -> None:
    assert parse_ports("22,80,8000-8003") == [
        ("tcp", 22),
        ("tcp", 80),
        ("tcp", 8000),
        ("tcp", 8001),
        ("tcp", 8002),
        ("tcp", 8003),
    ]


def test_dash_alone_means_all_ports_1_to_65535() -> None:
    ports = parse_ports("-")
    assert len(ports) == 65535
    assert ports[0] == ("tcp", 1)
    assert ports[-1] == ("tcp", 65535)
    assert parse_ports("1-65535") == ports


def test_open_ranges() -> None:
    assert parse_ports("-3") == [("tcp", 1), ("tcp", 2), ("tcp", 3)]
    assert parse_ports("65534-") == [("tcp", 65534), ("tcp", 65535)]


def test_port_zero_only_when_explicit() -> None:
    assert parse_ports("0") == [("tcp", 0)]
    assert parse_ports("0-1") == [("tcp", 0), ("tcp", 1)]
    assert ("tcp", 0) not in parse_ports("-")


def test_transport_prefix_holds_until_the_next_prefix() -> None:
    assert parse_ports("T:22,80,U:53,161") == [
        ("tcp", 22),
        ("tcp", 80),
        ("udp", 53),
        ("udp", 161),
    ]
    assert parse_ports("53,U:53,T:25") == [("tcp", 53), ("udp", 53), ("tcp", 25)]


def test_lowercase_prefix_and_spaces_are_accepted() -> None:
    assert parse_ports(" u:53 , t: 22") == [("udp", 53), ("tcp", 22)]


def test_default_transport_applies_before_any_prefix() -> None:
    assert parse_ports("53,T:22", default="udp") == [("udp", 53), ("tcp", 22)]


def test_ports_are_deduplicated_keeping_first_order() -> None:
    assert parse_ports("80,22,80,20-23") == [
        ("tcp", 80),
        ("tcp", 22),
        ("tcp", 20),
        ("tcp", 21),
        ("tcp", 23),
    ]


def test_service_names_select_their_ports() -> None:
    assert parse_ports("ssh,https") == [("tcp", 22), ("tcp", 2222), ("tcp", 443)]
    assert parse_ports("U:snmp") == [("udp", 161)]


@pytest.mark.parametrize(
    ("spec", "token", "reason"),
    [
        ("80-70", "80-70", "range end below start"),
        ("22,80-70", "80-70", "range end below start"),
        ("65536", "65536", "port 65536 out of range 0-65535"),
        ("1-70000", "1-70000", "port 70000 out of range 0-65535"),
        ("abc", "abc", "not a port number, range or known service name"),
        ("1-2-3", "1-2-3", "not a port number, range or known service name"),
        ("22,,80", "22,,80", "empty item"),
        ("22,", "22,", "empty item"),
        ("", "", "empty"),
        ("T:", "T:", "empty item"),
        ("S:22", "S:22", "unknown protocol prefix 'S:' (T: or U:)"),
    ],
)
def test_bad_port_spec_message_is_one_line_naming_the_token(
    spec: str, token: str, reason: str
) -> None:
    assert error_of(parse_ports, spec) == f"bad port spec '{token}': {reason}"


def test_bad_default_transport_is_rejected() -> None:
    assert error_of(parse_ports, "22", "sctp") == "bad transport 'sctp': expected 'tcp' or 'udp'"


# --------------------------------------------------------------------------- port data


def test_top_ports_start_with_the_most_common_services() -> None:
    assert top_ports(3) == [80, 443, 22]
    assert top_ports(2, "udp") == [53, 123]
    assert top_ports(0) == []


def test_top_ports_length_and_uniqueness() -> None:
    for n in (1, 10, 100, 300):
        ports = top_ports(n)
        assert len(ports) == n
        assert len(set(ports)) == n


def test_top_ports_prefix_property() -> None:
    assert top_ports(1000)[:100] == top_ports(100)


def test_top_ports_beyond_the_list_continue_in_ascending_order() -> None:
    ranked = top_ports(10_000)[: _ranked_count("tcp")]
    more = top_ports(len(ranked) + 5)
    assert more[: len(ranked)] == ranked
    rest = [p for p in range(1, 100) if p not in ranked][:5]
    assert more[len(ranked) :] == rest


def test_top_ports_all_is_every_port_but_zero() -> None:
    everything = top_ports(70_000)
    assert len(everything) == 65535
    assert sorted(everything) == list(range(1, 65536))


def test_top_ports_rejects_negative_and_unknown_transport() -> None:
    assert error_of(top_ports, -1) == "bad top-ports count '-1': must be 0 or more"
    assert "'sctp'" in error_of(top_ports, 5, "sctp")


def test_port_names_maps_common_services() -> None:
    names = port_names()
    expected = {
        ("tcp", 22): "ssh",
        ("tcp", 80): "http",
        ("tcp", 443): "https",
        ("tcp", 25): "smtp",
        ("tcp", 53): "domain",
        ("udp", 53): "domain",
        ("tcp", 3306): "mysql",
        ("tcp", 5432): "postgresql",
        ("tcp", 6379): "redis",
        ("tcp", 27017): "mongodb",
        ("tcp", 1883): "mqtt",
        ("tcp", 389): "ldap",
        ("tcp", 3389): "ms-wbt-server",
        ("tcp", 5900): "vnc",
        ("tcp", 554): "rtsp",
        ("udp", 5060): "sip",
        ("tcp", 5672): "amqp",
        ("tcp", 11211): "memcached",
        ("tcp", 8080): "http-proxy",
        ("tcp", 5222): "xmpp-client",
        ("tcp", 143): "imap",
        ("tcp", 110): "pop3",
        ("tcp", 993): "imaps",
        ("tcp", 995): "pop3s",
        ("tcp", 587): "submission",
        ("tcp", 23): "telnet",
        ("tcp", 445): "microsoft-ds",
        ("tcp", 139): "netbios-ssn",
        ("udp", 161): "snmp",
        ("udp", 123): "ntp",
    }
    for key, service in expected.items():
        assert names[key] == service, key


def test_port_names_returns_a_fresh_dict() -> None:
    port_names()[("tcp", 22)] = "changed"
    assert port_names()[("tcp", 22)] == "ssh"


def _rows() -> list[list[str]]:
    text = (data_dir("probes") / "ports.tsv").read_text(encoding="utf-8")
    return [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]


def _ranked_count(transport: str) -> int:
    return sum(1 for row in _rows() if row[2] == transport)


def test_ports_file_has_enough_entries_with_unique_contiguous_ranks() -> None:
    rows = _rows()
    assert all(len(row) == 4 for row in rows)
    for transport, minimum in (("tcp", 300), ("udp", 60)):
        mine = [row for row in rows if row[2] == transport]
        assert len(mine) >= minimum
        assert sorted(int(row[0]) for row in mine) == list(range(1, len(mine) + 1))
        ports = [int(row[1]) for row in mine]
        assert len(set(ports)) == len(ports)
        assert all(0 <= p <= 65535 for p in ports)
        assert all(row[3].strip() for row in mine)


def test_ports_file_explains_itself_in_a_header_comment() -> None:
    head = (data_dir("probes") / "ports.tsv").read_text(encoding="utf-8")[:2000]
    assert head.startswith("#")
    assert "probescan" in head
    assert "rank" in head and "transport" in head and "service" in head


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
