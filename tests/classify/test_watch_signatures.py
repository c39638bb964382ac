"""Behaviour signatures inside `probescan watch`: a flow whose payload was not captured is
named by a signature before the forest is asked; a flow whose payload was captured never is
(its bytes, when no payload layer names them, already say it is not what the signature
expects)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet as ScapyPacket
from scapy.utils import RawPcapWriter, wrpcap

from probescan.cli.main import main
from probescan.schema import FLOW, mismatches

PEER_A, PEER_B = "127.0.160.1", "127.0.160.2"  # this test's block (never sent anywhere)


def _udp(src: str, dst: str, sport: int, dport: int, payload: bytes, t: float) -> ScapyPacket:
    ip = IPv6(src=src, dst=dst) if ":" in src else IP(src=src, dst=dst)
    pkt = Ether() / ip / UDP(sport=sport, dport=dport) / payload
    pkt.time = t
    return pkt


def flows(random_bytes: bool) -> list[ScapyPacket]:
    """A WireGuard handshake and two data packets (random bytes of the right sizes, or
    WireGuard's message types when not `random_bytes`), an mDNS query to 224.0.0.251 and one
    to ff02::fb, and a QUIC-sized exchange."""
    rnd = os.urandom
    a, b = rnd(4), rnd(4)  # the peers' session indexes
    wg = [(1, b"\x01\0\0\0" + a + rnd(140)),  # initiation: type 1, sender, ...
          (-1, b"\x02\0\0\0" + b + a + rnd(80)),  # response: type 2, sender, receiver
          (1, b"\x04\0\0\0" + b + bytes(8) + rnd(16)),  # data: receiver, counter, keepalive
          (-1, b"\x04\0\0\0" + a + bytes(8) + rnd(32))]
    out = []
    for i, (side, body) in enumerate(wg):
        if random_bytes:
            body = b"\xee" + rnd(len(body) - 1)  # no WireGuard message type
        src, dst, sp, dp = (PEER_A, PEER_B, 40000, 41000) if side > 0 else (
            PEER_B, PEER_A, 41000, 40000)
        out.append(_udp(src, dst, sp, dp, body, 1.0 + i / 100))
    query = bytes(DNS(id=0, qd=DNSQR(qname="printer.local", qtype="PTR")))
    mdns = rnd(len(query)) if random_bytes else query
    out.append(_udp("127.0.160.3", "224.0.0.251", 5353, 5353, mdns, 2.0))
    out.append(_udp("fe80::16", "ff02::fb", 5353, 5353, mdns, 2.1))
    for i, (side, size) in enumerate([(1, 1250), (-1, 1250), (-1, 900), (1, 40)]):
        src, dst = (PEER_A, PEER_B) if side > 0 else (PEER_B, PEER_A)
        sp, dp = (61000, 443) if side > 0 else (443, 61000)
        out.append(_udp(src, dst, sp, dp, b"\x00" + rnd(size - 1), 3.0 + i / 100))
    return out


def strip_payload(packets: list[ScapyPacket], path: Path) -> Path:
    """The frames cut after their UDP header, the original lengths kept (a headers-only
    capture, as a short snap length makes); other frames are kept whole."""
    with RawPcapWriter(str(path), linktype=1) as w:
        w.write_header(None)
        for p in packets:
            raw = bytes(p)
            cut = len(raw) - (len(bytes(p[UDP].payload)) if UDP in p else 0)
            t = float(p.time)
            w.write_packet(raw[:cut], sec=int(t), usec=round((t % 1) * 1e6), caplen=cut,
                           wirelen=len(raw))
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("sig")
    wrpcap(str(d / "random.pcap"), flows(random_bytes=True))
    wrpcap(str(d / "real.pcap"), flows(random_bytes=False))
    strip_payload(flows(random_bytes=True), d / "headers.pcap")
    return d


def watch(work: Path, capture: str, *extra: str) -> dict[tuple[str, int], dict[str, Any]]:
    out = work / (capture + ".jsonl")
    out.unlink(missing_ok=True)
    assert main(["watch", "-r", str(work / capture), "--no-probe", "-q", "--workers", "0",
                 "-o", str(out), *extra]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    for r in records:
        assert mismatches(FLOW, r) == []
    return {(r["server"]["ip"], r["server"]["port"]): r for r in records}


def test_a_headers_only_flow_is_named_by_its_signature(work: Path) -> None:
    records = watch(work, "headers.pcap")
    expected = {(PEER_B, 41000): ("wireguard", "wireguard-handshake"),
                ("224.0.0.251", 5353): ("mdns", "mdns-group"),
                ("ff02::fb", 5353): ("mdns", "mdns-group"),
                (PEER_B, 443): ("quic", "quic-initial")}
    for key, (service, name) in expected.items():
        r = records[key]
        assert (r["service"], r["method"], r["decided_by"]) == (service, "signature",
                                                                "statistics"), r
        sig = r["behaviour"]["signature"]
        assert sig["name"] == name and sig["service"] == service and sig["spec"]
        assert r["confidence"] == sig["confidence"] and 1 <= r["confidence"] <= 5
        assert r["info"] == f"by its behaviour: signature {name}"
        assert r["behaviour"]["statistical"] is None  # the forest was not asked
        assert r["passive"]["client_raw"] == ""


def test_a_captured_payload_no_layer_names_is_never_named_by_a_signature(work: Path) -> None:
    for r in watch(work, "random.pcap").values():
        assert r["method"] != "signature" and r["behaviour"]["signature"] is None, r
        assert r["passive"]["client_raw"] != ""


def test_a_payload_label_comes_first(work: Path) -> None:
    records = watch(work, "real.pcap")
    assert records[("224.0.0.251", 5353)]["service"] == "mdns"
    assert records[(PEER_B, 41000)]["service"] == "wireguard"
    for key in (("224.0.0.251", 5353), (PEER_B, 41000)):
        assert records[key]["decided_by"] in ("rules", "parsers")
        assert records[key]["behaviour"]["signature"] is None


def test_signatures_belong_to_the_statistics_layer(work: Path) -> None:
    records = watch(work, "headers.pcap", "--classifiers", "rules,parsers")
    assert {r["service"] for r in records.values()} == {"unknown"}


def test_user_signatures_are_tried_after_the_shipped_ones(work: Path) -> None:
    own = work / "own.toml"
    own.write_text('[[signature]]\nname = "mine"\nservice = "wg-ish"\ntransport = "udp"\n'
                   'spec = "here"\nconfidence = 2\nstart = ["c 148"]\n'
                   'examples = [{ sizes = [148] }]\n')
    records = watch(work, "headers.pcap", "--signatures", str(own))
    assert records[(PEER_B, 41000)]["service"] == "wireguard"  # the shipped one first
    own.write_text(own.read_text().replace('"c 148"', '"c 1250"').replace("[148]", "[1250]"))
    records = watch(work, "headers.pcap", "--signatures", str(own))
    assert records[(PEER_B, 443)]["service"] == "quic"


@pytest.mark.parametrize(("text", "message"), [
    (None, "cannot read signatures"),
    ("[[signature]]\nname = 'x'\n", "own.toml:1: service must be a non-empty text"),
    ("[[signature", "own.toml:1: TOML syntax"),
])
def test_a_bad_signature_file_is_one_line(work: Path, capsys: pytest.CaptureFixture[str],
                                          text: str | None, message: str) -> None:
    own = work / "own.toml"
    own.unlink(missing_ok=True)
    if text is not None:
        own.write_text(text)
    assert main(["watch", "-r", str(work / "headers.pcap"), "--no-probe", "-q",
                 "--signatures", str(own)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
