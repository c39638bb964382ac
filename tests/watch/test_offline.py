"""`probescan watch -r FILE`: labels of real client traffic and of hand-made edge cases.

The lab tests capture REAL clients (curl, ssh-keyscan, redis-cli, psql, mariadb, ...) talking to
the lab's servers (tests/lab/traffic.py), read the capture with `watch -r --no-probe` and check the
label of every flow to a lab server: its service always, its product where the bytes on the
wire show it (SSH identification, FTP/SMTP/IMAP/POP3 greetings, HTTP Server header, MySQL
greeting, redis INFO, memcached VERSION). The other tests write small pcaps with scapy: a flow
seen mid-stream, retransmissions, snaplen-cut and garbage frames, IPv6, VLAN tags, UDP DNS;
and bad input must give one `probescan: error:` line and exit 2.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from probescan.cli import main
from probescan.watch.workers import START_AFTER
from tests.conftest import LabServices, lab_unavailable
from tests.lab import DEFAULT_LAB
from tests.lab import servers_udp as udp_lab
from tests.lab.servers_udp import UdpServer
from tests.lab.traffic import Expected, capture_client_traffic, make_large_capture, service_ok

scapy_all = pytest.importorskip("scapy.all")
Dot1Q, Ether, IP, IPv6, TCP, UDP, Raw = (
    scapy_all.Dot1Q, scapy_all.Ether, scapy_all.IP, scapy_all.IPv6, scapy_all.TCP,
    scapy_all.UDP, scapy_all.Raw,
)
DNS, DNSQR, DNSRR = scapy_all.DNS, scapy_all.DNSQR, scapy_all.DNSRR
from scapy.utils import RawPcapWriter, wrpcap  # noqa: E402

Record = dict[str, Any]

MAC_C, MAC_S = "02:00:00:00:00:01", "02:00:00:00:00:02"  # set: scapy must not resolve MACs
T0 = 1_760_000_000.0

SSH_SERVER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"
SSH_CLIENT = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"
HTTP_REQUEST = b"GET / HTTP/1.1\r\nHost: probescan-lab.test\r\nUser-Agent: curl/7.88.1\r\n" \
    b"Accept: */*\r\n\r\n"
HTTP_RESPONSE = b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Type: text/html\r\n" \
    b"Content-Length: 13\r\nConnection: close\r\n\r\n<html></html>"


# --------------------------------------------------------------------------- helpers


def watch(args: Sequence[str], capsys: pytest.CaptureFixture[str], out: Path | None
          ) -> tuple[int, list[Record], str]:
    """Run `probescan watch ARGS [-o OUT]` in-process: (exit code, records, stderr)."""
    argv = ["watch", *args] + (["-o", str(out)] if out is not None else [])
    capsys.readouterr()
    rc = main(argv)
    err = capsys.readouterr().err
    records: list[Record] = []
    if out is not None and out.exists():
        records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    return rc, records, err


def no_traceback(err: str) -> None:
    assert "Traceback" not in err, err


def product_text(r: Record) -> str:
    return f"{r.get('product') or ''} {r.get('version') or ''}".lower()


@dataclass
class Conversation:
    """A hand-made TCP conversation: handshake (optional), data in turns, FINs."""

    client: tuple[str, int]
    server: tuple[str, int]
    v6: bool = False
    vlan: int | None = None
    t: float = T0
    cseq: int = 1000
    sseq: int = 50000

    def _frame(self, from_client: bool, flags: str, seq: int, ack: int,
               payload: bytes = b"") -> Any:
        src, dst = (self.client, self.server) if from_client else (self.server, self.client)
        ip = IPv6(src=src[0], dst=dst[0]) if self.v6 else IP(src=src[0], dst=dst[0])
        eth = Ether(src=MAC_C if from_client else MAC_S, dst=MAC_S if from_client else MAC_C)
        if self.vlan is not None:
            eth = eth / Dot1Q(vlan=self.vlan)
        pkt = eth / ip / TCP(sport=src[1], dport=dst[1], flags=flags, seq=seq, ack=ack)
        if payload:
            pkt = pkt / Raw(payload)
        self.t += 0.001
        pkt.time = self.t
        return pkt

    def handshake(self) -> list[Any]:
        pkts = [
            self._frame(True, "S", self.cseq, 0),
            self._frame(False, "SA", self.sseq, self.cseq + 1),
            self._frame(True, "A", self.cseq + 1, self.sseq + 1),
        ]
        self.cseq += 1
        self.sseq += 1
        return pkts

    def send(self, from_client: bool, payload: bytes) -> Any:
        if from_client:
            pkt = self._frame(True, "PA", self.cseq, self.sseq, payload)
            self.cseq += len(payload)
        else:
            pkt = self._frame(False, "PA", self.sseq, self.cseq, payload)
            self.sseq += len(payload)
        return pkt

    def segment(self, from_client: bool, seq: int, payload: bytes) -> Any:
        """A segment at an explicit sequence number (retransmissions, overlaps)."""
        ack = self.sseq if from_client else self.cseq
        return self._frame(from_client, "PA", seq, ack, payload)

    def close(self) -> list[Any]:
        pkts = [
            self._frame(True, "FA", self.cseq, self.sseq),
            self._frame(False, "FA", self.sseq, self.cseq + 1),
            self._frame(True, "A", self.cseq + 1, self.sseq + 1),
        ]
        return pkts


def http_exchange(conv: Conversation) -> list[Any]:
    return [*conv.handshake(), conv.send(True, HTTP_REQUEST), conv.send(False, HTTP_RESPONSE),
            *conv.close()]


def only(records: list[Record], ip: str, port: int) -> Record:
    found = [r for r in records if (r["server"]["ip"], r["server"]["port"]) == (ip, port)]
    assert len(found) == 1, records
    return found[0]


# --------------------------------------------------------------------------- the lab capture


@dataclass(repr=False)
class LabCapture:
    pcap: Path
    expected: dict[tuple[str, int, str], Expected]
    records: list[Record]
    rc: int
    client_log: list[str]
    udp_failed: dict[str, str]

    def __repr__(self) -> str:
        return f"<LabCapture {self.pcap}: {len(self.records)} records>"

    def flows_to(self, e: Expected) -> list[Record]:
        return [r for r in self.records if r["transport"] == e.transport
                and (r["server"]["ip"], r["server"]["port"]) == (e.ip, e.port)]


@dataclass
class UdpLab:
    servers: list[UdpServer]
    failed: dict[str, str]


@pytest.fixture(scope="module")
def udp_servers() -> Iterator[UdpLab]:
    """The UDP lab (tests/lab/servers_udp.py) for the capture; its servers need root."""
    plan: dict[str, tuple[str, int]] = {}
    failed: dict[str, str] = {}
    for name, where in udp_lab.DEFAULT_UDP_LAB.items():
        reason = udp_lab.missing_binary(udp_lab.SPECS[name])
        if reason:
            failed[name] = reason
        elif os.geteuid() != 0:
            failed[name] = f"{name} needs root here"
        else:
            plan[name] = where
    with udp_lab.lab(plan) as (running, not_started):
        yield UdpLab(list(running.values()), {**failed, **not_started})


@pytest.fixture(scope="module")
def lab_capture(
    lab_services: LabServices,
    udp_servers: UdpLab,
    tmp_path_factory: pytest.TempPathFactory,
) -> LabCapture:
    d = tmp_path_factory.mktemp("watch-offline")
    pcap, out = d / "lab.pcap", d / "lab.jsonl"
    log: list[str] = []
    expected = capture_client_traffic(lab_services.services, pcap, udp_servers.servers,
                                      log=log)
    rc = main(["watch", "-r", str(pcap), "--no-probe", "-o", str(out), "-q"])
    records = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    return LabCapture(pcap, {e.endpoint: e for e in expected}, records, rc, log,
                      udp_servers.failed)


@pytest.mark.lab
def test_lab_capture_is_read_and_every_record_has_the_documented_shape(
    lab_capture: LabCapture,
) -> None:
    assert lab_capture.rc == 0
    assert lab_capture.pcap.stat().st_size > 0
    assert lab_capture.records, lab_capture.client_log
    for r in lab_capture.records:
        assert r["kind"] == "flow"
        assert r["transport"] in ("tcp", "udp")
        for key in ("client", "server", "roles", "midstream", "service", "product", "method",
                    "confidence", "anomalies", "passive", "probes"):
            assert key in r, r
        assert r["probes"]["queued"] == [] and r["probes"]["server"] is None  # --no-probe


@pytest.mark.lab
def test_records_are_the_same_with_and_without_the_identify_worker(
    lab_capture: LabCapture, tmp_path: Path
) -> None:
    """The lab's traffic, repeated until a worker process takes over, gives the same records
    in the same order as identifying everything in the watcher's own process."""
    big = tmp_path / "big.pcap"
    copies = START_AFTER // max(1, len(lab_capture.records)) + 3
    make_large_capture(lab_capture.pcap, big, copies)

    def records(workers: str) -> list[Record]:
        out = tmp_path / f"workers-{workers}.jsonl"
        rc = main(["watch", "-r", str(big), "--no-probe", "-o", str(out), "-q",
                   "--workers", workers])
        assert rc == 0
        return [{k: v for k, v in json.loads(line).items() if k != "labeled_at"}
                for line in out.read_text().splitlines()]

    inline, pooled = records("0"), records("1")
    assert len(inline) > START_AFTER
    assert pooled == inline


@pytest.mark.lab
def test_no_lab_tcp_server_is_ever_taken_for_the_client(lab_capture: LabCapture) -> None:
    # TCP only: UDP servers may start exchanges of their own (nmbd announces itself).
    ends = {end for end in lab_capture.expected if end[2] == "tcp"}
    for r in lab_capture.records:
        if r["transport"] != "tcp":
            continue
        assert (r["client"]["ip"], r["client"]["port"], "tcp") not in ends, r
        if (r["server"]["ip"], r["server"]["port"], "tcp") in ends:
            assert r["roles"] == "handshake" and r["midstream"] is False, r


@pytest.mark.lab
@pytest.mark.parametrize(("kind", "ip", "port"), DEFAULT_LAB,
                         ids=[f"{k}-{p}" for k, _, p in DEFAULT_LAB])
def test_every_flow_to_a_lab_server_is_labeled(
    lab_services: LabServices, lab_capture: LabCapture, kind: str, ip: str, port: int
) -> None:
    svc = lab_services.get(kind, port)  # skips (or fails) when that server did not start
    e = lab_capture.expected.get((svc.ip, svc.port, "tcp"))
    assert e is not None, f"no client ran against {kind}: {lab_capture.client_log}"
    check_flows(lab_capture, e)


def brief(r: Record) -> str:
    """The parts of a flow record that tell why it got its label."""
    p = r["passive"]
    return (f"{r['client']['ip']}:{r['client']['port']} -> {r['server']['ip']}:"
            f"{r['server']['port']}/{r['transport']}: {r['service']} {r['product'] or ''} "
            f"{r['version'] or ''} ({r['method']}, fingerprint {p['fingerprint']}, protocol "
            f"{p['protocol']}); client {p['client_raw'][:80]!r}; server {p['server_raw'][:120]!r}")


def check_flows(lab_capture: LabCapture, e: Expected) -> None:
    flows = lab_capture.flows_to(e)
    assert flows, f"no flow to {e} in the capture; clients: {lab_capture.client_log}"
    for r in flows:
        assert service_ok(e, r["service"]), f"{e}: {brief(r)}"
        if e.product and r["product"]:  # never a wrong product
            assert e.product.lower() in product_text(r), f"{e}: {brief(r)}"
    if e.wire_product:
        assert e.product is not None
        assert any(e.product.lower() in product_text(r) for r in flows), (
            f"{e}: product not named in " + " | ".join(brief(r) for r in flows))


@pytest.mark.lab
@pytest.mark.parametrize("name", list(udp_lab.DEFAULT_UDP_LAB))
def test_every_flow_to_a_udp_lab_server_is_labeled(lab_capture: LabCapture, name: str) -> None:
    ip, port = udp_lab.DEFAULT_UDP_LAB[name]
    if name in lab_capture.udp_failed:
        lab_unavailable(f"UDP lab server {name} did not start: {lab_capture.udp_failed[name]}")
    e = lab_capture.expected.get((ip, port, "udp"))
    assert e is not None, f"no client ran against {name}: {lab_capture.client_log}"
    check_flows(lab_capture, e)


@pytest.mark.lab
def test_a_capture_without_scope_never_probes(
    lab_capture: LabCapture, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The lab's servers are up and reachable: a probe would succeed if one were sent.
    rc, records, err = watch(["-r", str(lab_capture.pcap), "-q"], capsys,
                             tmp_path / "noscope.jsonl")
    assert rc == 0, err
    assert len(records) == len(lab_capture.records)
    for r in records:
        assert r["probes"]["queued"] == [], r
        assert r["probes"]["server"] is None and r["probes"]["client"] is None, r
        assert "probe" not in r["method"], r


# --------------------------------------------------------------------------- edge cases


def test_flow_seen_mid_stream_is_labeled_with_roles_from_evidence_or_ports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # No SYN: the capture starts with the server's banner to an ephemeral port.
    conv = Conversation(("127.0.10.200", 45678), ("127.0.10.1", 2222))
    conv.cseq, conv.sseq = 7000, 90000
    pkts = [conv.send(False, SSH_SERVER), conv.send(True, SSH_CLIENT), *conv.close()]
    wrpcap(str(tmp_path / "mid.pcap"), pkts)
    rc, records, err = watch(["-r", str(tmp_path / "mid.pcap"), "--no-probe"], capsys,
                             tmp_path / "mid.jsonl")
    assert rc == 0, err
    r = only(records, "127.0.10.1", 2222)
    assert r["client"] == {"ip": "127.0.10.200", "port": 45678}
    assert r["midstream"] is True
    assert r["roles"] in ("evidence", "ports")
    assert r["service"] == "ssh" and "openssh" in product_text(r)


def test_retransmitted_segments_neither_change_the_label_nor_repeat_payload(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conv = Conversation(("127.0.10.200", 40001), ("127.0.10.2", 18080))
    pkts = conv.handshake()
    c0, s0 = conv.cseq, conv.sseq
    half = len(HTTP_REQUEST) // 2
    pkts += [
        conv.segment(True, c0, HTTP_REQUEST[:half]),
        conv.segment(True, c0, HTTP_REQUEST[:half]),  # exact retransmission
        conv.segment(True, c0 + half - 5, HTTP_REQUEST[half - 5:]),  # overlaps by five
        conv.segment(True, c0 + half - 5, HTTP_REQUEST[half - 5:]),
        conv.segment(False, s0, HTTP_RESPONSE),
        conv.segment(False, s0, HTTP_RESPONSE),  # the whole answer again
        conv.segment(False, s0, HTTP_RESPONSE[:20]),  # an old prefix
    ]
    conv.cseq, conv.sseq = c0 + len(HTTP_REQUEST), s0 + len(HTTP_RESPONSE)
    pkts += conv.close()
    wrpcap(str(tmp_path / "retx.pcap"), pkts)
    rc, records, err = watch(["-r", str(tmp_path / "retx.pcap"), "--no-probe"], capsys,
                             tmp_path / "retx.jsonl")
    assert rc == 0, err
    r = only(records, "127.0.10.2", 18080)
    assert r["service"] == "http" and "nginx" in product_text(r)
    assert r["passive"]["client_raw"].count("GET / HTTP/1.1") == 1
    assert r["passive"]["server_raw"].count("HTTP/1.1 200 OK") == 1
    assert r["passive"]["client_raw"].count("Accept") == 1
    assert r["roles"] == "handshake" and r["midstream"] is False


def _write_raw(path: Path, frames: list[tuple[bytes, int]], t0: float = T0) -> None:
    """Ethernet frames as (captured bytes, original length)."""
    w = RawPcapWriter(str(path), linktype=1, sync=True, snaplen=65535)
    w.write_header(None)
    try:
        for i, (data, wirelen) in enumerate(frames):
            t = t0 + i * 0.001
            w.write_packet(data, sec=int(t), usec=int((t % 1) * 1_000_000), caplen=len(data),
                           wirelen=wirelen)
    finally:
        w.close()


def test_snaplen_cut_frames_do_not_crash_and_short_headers_are_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conv = Conversation(("127.0.10.200", 40002), ("127.0.10.1", 2222))
    pkts = [*conv.handshake(), conv.send(False, SSH_SERVER), conv.send(True, SSH_CLIENT),
            *conv.close()]
    full = [bytes(p) for p in pkts]
    frames = [(f[:68], len(f)) for f in full]  # 14 + 20 + 32 + 2 payload bytes at most
    cut_headers = [(full[3][:30], len(full[3])), (full[3][:14 + 20 + 10], len(full[3]))]
    path = tmp_path / "snap.pcap"
    _write_raw(path, frames + cut_headers)
    rc, records, err = watch(["-r", str(path), "--no-probe"], capsys, tmp_path / "snap.jsonl")
    no_traceback(err)
    assert rc == 0, err
    r = only(records, "127.0.10.1", 2222)
    assert r["server"] == {"ip": "127.0.10.1", "port": 2222}
    assert f"{len(frames) + len(cut_headers)} packets" in err, err
    assert f"({len(cut_headers)} not decoded)" in err, err


def test_garbage_frames_are_counted_and_the_good_flow_is_still_labeled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import random

    rng = random.Random(1234)
    eth = bytes.fromhex("020000000002 020000000001")
    garbage: list[bytes] = [
        b"",  # empty frame
        b"\x01\x02\x03",  # shorter than an Ethernet header
        eth + b"\x08\x06" + bytes(28),  # ARP
        eth + b"\x08\x00" + b"\x45",  # IPv4, one byte
        eth + b"\x08\x00" + bytes([0x41]) + bytes(39),  # IHL of 4 bytes
        eth + b"\x08\x00" + bytes([0x65]) + bytes(39),  # version 6 in an IPv4 frame
        eth + b"\x86\xdd" + bytes([0x60]) + bytes(20),  # short IPv6 header
        eth + b"\x81\x00",  # VLAN tag cut short
        bytes(IP(src="127.0.10.200", dst="127.0.10.2") / TCP(dport=80))[:20]
        .rjust(34, b"\x00"),  # wrong link header and cut TCP
    ]
    tcp_bad_offset = bytearray(bytes(Ether(src=MAC_C, dst=MAC_S)
                                     / IP(src="127.0.10.200", dst="127.0.10.2")
                                     / TCP(sport=40003, dport=80)))
    tcp_bad_offset[14 + 20 + 12] = 0x20  # TCP data offset 2 (8 bytes)
    garbage.append(bytes(tcp_bad_offset))
    garbage += [rng.randbytes(rng.randrange(1, 200)) for _ in range(20)]
    conv = Conversation(("127.0.10.200", 40004), ("127.0.10.2", 18080))
    good = [bytes(p) for p in http_exchange(conv)]
    frames = [(g, max(len(g), 1)) for g in garbage[:10]] + [(g, len(g)) for g in good[:4]] \
        + [(g, len(g)) for g in garbage[10:]] + [(g, len(g)) for g in good[4:]]
    path = tmp_path / "garbage.pcap"
    _write_raw(path, frames)
    rc, records, err = watch(["-r", str(path), "--no-probe"], capsys, tmp_path / "g.jsonl")
    no_traceback(err)
    assert rc == 0, err
    r = only(records, "127.0.10.2", 18080)
    assert r["service"] == "http" and "nginx" in product_text(r)
    assert f"{len(frames)} packets" in err, err
    # Random bytes may by chance decode as some frame; the hand-made ones never do.
    undecoded = int(err.split(" packets (")[1].split(" not decoded")[0])
    assert 10 <= undecoded <= len(garbage), err


def test_ipv6_http_exchange_is_labeled(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    conv = Conversation(("::1", 40005), ("::1", 18080), v6=True)
    wrpcap(str(tmp_path / "v6.pcap"), http_exchange(conv))
    rc, records, err = watch(["-r", str(tmp_path / "v6.pcap"), "--no-probe"], capsys,
                             tmp_path / "v6.jsonl")
    assert rc == 0, err
    r = only(records, "::1", 18080)
    assert r["client"] == {"ip": "::1", "port": 40005}
    assert r["service"] == "http" and "nginx" in product_text(r)
    assert r["passive"]["client"].get("http_host") in (None, "probescan-lab.test")


def test_vlan_tagged_frames_are_labeled_and_keep_the_vlan_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conv = Conversation(("127.0.10.200", 40006), ("127.0.10.1", 22), vlan=42)
    pkts = [*conv.handshake(), conv.send(False, SSH_SERVER), conv.send(True, SSH_CLIENT),
            *conv.close()]
    wrpcap(str(tmp_path / "vlan.pcap"), pkts)
    rc, records, err = watch(["-r", str(tmp_path / "vlan.pcap"), "--no-probe"], capsys,
                             tmp_path / "vlan.jsonl")
    assert rc == 0, err
    r = only(records, "127.0.10.1", 22)
    assert r["vlan"] == 42
    assert r["service"] == "ssh" and "openssh" in product_text(r)


def test_udp_dns_query_and_answer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    client, server = ("127.0.10.200", 53001), ("127.0.20.1", 53)
    query = (Ether(src=MAC_C, dst=MAC_S) / IP(src=client[0], dst=server[0])
             / UDP(sport=client[1], dport=server[1])
             / DNS(id=0x1234, rd=1, qd=DNSQR(qname="example.test", qtype="A")))
    answer = (Ether(src=MAC_S, dst=MAC_C) / IP(src=server[0], dst=client[0])
              / UDP(sport=server[1], dport=client[1])
              / DNS(id=0x1234, qr=1, aa=1, rd=1, ra=1, qd=DNSQR(qname="example.test", qtype="A"),
                    an=DNSRR(rrname="example.test", type="A", ttl=0, rdata="192.0.2.1")))
    query.time, answer.time = T0, T0 + 0.001
    wrpcap(str(tmp_path / "dns.pcap"), [query, answer])
    rc, records, err = watch(["-r", str(tmp_path / "dns.pcap"), "--no-probe"], capsys,
                             tmp_path / "dns.jsonl")
    assert rc == 0, err
    r = only(records, *server)
    assert r["transport"] == "udp"
    assert r["client"] == {"ip": client[0], "port": client[1]}
    assert r["service"] == "dns"
    assert r["packets"] == {"c2s": 1, "s2c": 1}


# --------------------------------------------------------------------------- bad input


def _one_error_line(err: str) -> None:
    no_traceback(err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("probescan: error: "), err


def test_missing_capture_file_is_one_error_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, _records, err = watch(["-r", str(tmp_path / "nope.pcap"), "--no-probe"], capsys,
                             tmp_path / "out.jsonl")
    assert rc == 2
    _one_error_line(err)
    assert "nope.pcap" in err


def test_an_interface_that_does_not_exist_is_one_error_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, _records, err = watch(["-i", "nosuchif0", "--no-probe"], capsys, tmp_path / "o.jsonl")
    assert rc == 2
    _one_error_line(err)
    assert "'nosuchif0'" in err and "no such interface" in err


@pytest.mark.parametrize("content", [
    b"this is a text file, not a capture\n" * 20,
    b"",
    b"\xd4\xc3\xb2\xa1\x02\x00",  # the start of a pcap header only
], ids=["text", "empty", "short-header"])
def test_a_file_that_is_not_a_capture_is_one_error_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    path = tmp_path / "notes.pcap"
    path.write_bytes(content)
    rc, records, err = watch(["-r", str(path), "--no-probe"], capsys, tmp_path / "out.jsonl")
    assert rc == 2, err
    _one_error_line(err)
    assert records == []


def test_a_capture_cut_in_the_middle_of_a_packet_never_gives_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conv = Conversation(("127.0.10.200", 40007), ("127.0.10.2", 18080))
    wrpcap(str(tmp_path / "whole.pcap"), http_exchange(conv))
    data = (tmp_path / "whole.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) - 30])
    rc, _records, err = watch(["-r", str(cut), "--no-probe"], capsys, tmp_path / "out.jsonl")
    no_traceback(err)
    if rc == 2:
        _one_error_line(err)
    else:
        assert rc == 0, err
