"""Port specs and ``--top-ports`` (probescan.targets.ports), and the port table they read."""

from __future__ import annotations

import pytest

from probescan.catalog.paths import data_dir
from probescan.targets import parse_ports, port_names, top_ports
from tests.targets.helpers import error_of

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


def test_top_ports_beyond_the_list_are_the_ranked_ports_only() -> None:
    # (--top-ports used to pad with ports 1, 2, 3, ...: now only ranked ports; the CLI says so)
    ranked = top_ports(10_000)
    assert len(ranked) == _ranked_count("tcp")
    assert top_ports(len(ranked) + 5) == ranked
    assert top_ports(70_000, "udp") == top_ports(10_000, "udp")
    assert len(top_ports(70_000, "udp")) == _ranked_count("udp")


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
