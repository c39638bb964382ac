"""Passive identification over a flow's first bytes (pure): which rules are tried on what."""

from __future__ import annotations

from probescan.catalog import build_catalog
from probescan.watch.passive import identify

CATALOG = build_catalog(None)
# A v2c GetResponse (community "private", sysUpTime), made by hand.
SNMP_REPLY = bytes.fromhex(
    "3029020101040770726976617465a21b0201050201000201003010300e06082b0601020101030043021234")


def test_a_reply_without_its_request_is_tried_under_the_ports_service() -> None:
    alone = identify(b"", SNMP_REPLY, "udp", CATALOG.probes, CATALOG.fingerprints)
    hinted = identify(b"", SNMP_REPLY, "udp", CATALOG.probes, CATALOG.fingerprints, "snmp")
    assert alone.match is None
    assert hinted.match is not None and hinted.match.service == "snmp"


def test_the_ports_service_does_not_label_bytes_its_rules_do_not_match() -> None:
    got = identify(b"", b"\x17\x03\x03\x00\x10" + bytes(16), "udp", CATALOG.probes,
                   CATALOG.fingerprints, "snmp")
    assert got.match is None


def test_a_client_that_names_its_service_outranks_the_port() -> None:
    ssh = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"
    got = identify(ssh, ssh, "tcp", CATALOG.probes, CATALOG.fingerprints, "http")
    assert got.match is not None and got.match.service == "ssh"
