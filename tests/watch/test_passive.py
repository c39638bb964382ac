"""Passive identification over a flow's first bytes (pure): which rules are tried on what."""

from __future__ import annotations

from probescan.catalog import build_catalog
from probescan.engine.verdict import LABEL
from probescan.model import Endpoint, ServiceRecord
from probescan.watch.label import combine, tunnel_hint
from probescan.watch.passive import PassiveResult, identify
from tests.detect.samples import load_samples

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


BT_HANDSHAKE = (b"\x13BitTorrent protocol" + bytes(8) + bytes(range(20))
                + b"-TR3000-abcdefghijkl")


def test_payload_detectors_name_what_no_fingerprint_matched() -> None:
    got = identify(BT_HANDSHAKE, b"", "tcp", CATALOG.probes, CATALOG.fingerprints)
    assert got.match is None
    assert got.detection is not None and got.detection.service == "bittorrent"
    assert got.protocol == "bittorrent"


def test_a_hard_fingerprint_match_is_never_replaced_by_a_detector() -> None:
    ssh = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"
    got = identify(b"", ssh, "tcp", CATALOG.probes, CATALOG.fingerprints)
    assert got.match is not None and got.detection is None


def test_a_detected_protocol_labels_the_flow_and_a_disagreeing_probe_is_a_conflict() -> None:
    passive = identify(BT_HANDSHAKE, b"", "tcp", CATALOG.probes, CATALOG.fingerprints)
    alone = combine(passive, None)
    assert (alone.service, alone.method, alone.confidence) == (
        "bittorrent", "passive", LABEL["detector"].confidence)
    probe = ServiceRecord(Endpoint("192.0.2.1", 6881), "open", service="http",
                          method="probe", confidence=10)
    both = combine(passive, probe)
    assert both.service == "bittorrent" and both.conflicts == (
        "probe of the server says http",)


def test_a_bare_tls_handshake_is_labelled_tls_with_sni_alpn_and_the_ports_service() -> None:
    passive = PassiveResult(None, None, "tls", {"tls_sni": "mail.example.test",
                                                "tls_alpn": ["imap"]}, {}, port_service="imaps")
    label = combine(passive, None)
    assert label.service == "tls"
    assert label.info == "SNI mail.example.test; ALPN imap; port's usual service imaps"


def test_the_tunnel_hint_is_only_for_tls_quic_and_dtls() -> None:
    assert tunnel_hint("ssh", {"tls_sni": "x"}, "ssh") is None
    assert tunnel_hint("quic", {"tls_sni": "a.test", "tls_alpn": ("h3",)}, "https") == (
        "SNI a.test; ALPN h3; port's usual service https")
    assert tunnel_hint("tls", {}, None) is None


def test_stun_named_by_a_fingerprint_still_lets_a_detector_name_the_flow_it_set_up() -> None:
    # RFC 7983: STUN, DTLS and SRTP share one 5-tuple; the STUN rule names the first
    # message only, so the detectors read the rest of the flow (here: a DTLS handshake).
    webrtc = next(s for s in load_samples() if s.service == "dtls" and s.msgs.client
                  and s.msgs.client[0][:2] == b"\x00\x01")
    m = webrtc.msgs
    stun_only = identify(m.client[0], m.server[0], "udp", CATALOG.probes, CATALOG.fingerprints)
    assert stun_only.match is not None and stun_only.match.service == "stun"
    assert stun_only.detection is None or stun_only.detection.service == "stun"
    whole = identify(m.client_stream, m.server_stream, "udp", CATALOG.probes,
                     CATALOG.fingerprints, messages=m)
    assert whole.detection is not None and whole.detection.service == "dtls"
    assert combine(whole, None).service == "dtls"


def test_client_rules_do_not_claim_look_alikes_of_other_protocols() -> None:
    s7_connect = bytes.fromhex("0300001611e00000000700c1020100c2020102c0010a")  # COTP CR, TSAPs
    dns_query = bytes.fromhex("0b080100000100000000000003777777076578616d706c6503636f6d"
                              "0000010001") + bytes(20)  # id 0x0b08 reads like an NTP mode 3
    for data in (s7_connect, dns_query):
        got = identify(data, b"", "tcp" if data is s7_connect else "udp", CATALOG.probes,
                       CATALOG.fingerprints)
        assert got.match is None or got.match.service not in ("rdp", "ntp"), got.match
