"""Long fields cut with a marker (probescan/bounds.py) from hostile servers on 127.0.81.x: a
1 MB SSH banner through the `probescan scan` command into every output (JSON Lines, nmap's
normal, grepable and XML, the terminal table), a certificate with a 3,000-character name and
200 SANs, and a captured flow whose client and server send over-long strings."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from probescan.bounds import LIST_ITEMS, TEXT_BYTES
from probescan.cli.main import main
from probescan.model import EVIDENCE_SHOWN_BYTES, FLOW_SHOWN_BYTES, Endpoint
from tests.engine.test_hostile import FAST, run_scan, thread_server
from tests.scans.frames import ACK, PSH, SYN, at, tcp, write_pcap

ROOT = Path(__file__).resolve().parents[2]
MB_BANNER = b"SSH-2.0-" + b"A" * (1 << 20)  # no line end: the generic SSH rule names it
READ = 16 * 1024  # the default max_read: how much of a reply is read
LONGEST = TEXT_BYTES + len("…[+99999 bytes]".encode())


def send_banner(conn: socket.socket, stop: threading.Event) -> None:
    with contextlib.suppress(OSError):
        conn.sendall(MB_BANNER)
        stop.wait(5)


def test_a_1_mb_banner_is_cut_with_a_marker_in_every_output(tmp_path: Path) -> None:
    out = {name: tmp_path / name for name in ("r.jsonl", "n.txt", "g.txt", "x.xml")}
    with thread_server("127.0.81.50", send_banner) as (port,):
        done = subprocess.run(
            [sys.executable, "-m", "probescan", "scan", "127.0.81.50", "-p", str(port),
             "--no-nmap-db", "-o", str(out["r.jsonl"]), "-oN", str(out["n.txt"]),
             "-oG", str(out["g.txt"]), "-oX", str(out["x.xml"])],
            capture_output=True, text=True, timeout=60, cwd=ROOT,
            env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path), "COLUMNS": "160"})
    assert done.returncode == 0, done.stderr
    product_cut = "A" * TEXT_BYTES + f"…[+{READ - 8 - TEXT_BYTES} bytes]"
    [record] = [json.loads(line) for line in out["r.jsonl"].read_text().splitlines()]
    assert (record["service"], record["product"]) == ("ssh", product_cut)
    [evidence] = record["evidence"]
    assert evidence["raw"] == (MB_BANNER[:EVIDENCE_SHOWN_BYTES].decode()
                               + f"…[+{READ - EVIDENCE_SHOWN_BYTES} bytes]")
    for name in ("n.txt", "g.txt"):
        text = out[name].read_text()
        assert product_cut in text, name
        assert max(map(len, text.splitlines())) < 1000, name
    [service] = ET.parse(out["x.xml"]).getroot().iter("service")
    assert service.get("product") == product_cut
    assert "…[+16120 bytes]" in done.stdout  # the terminal table
    assert len(done.stdout) < 10_000


def long_names_cert(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "u" * 3000),
                      x509.NameAttribute(NameOID.COMMON_NAME, "long.test")])
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(0x1234)
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(f"h{i}.long.test") for i in range(200)]), False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_a_certificate_with_long_names_is_cut_with_a_marker(tmp_path: Path) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*long_names_cert(tmp_path))

    def tls_then_silence(conn: socket.socket, stop: threading.Event) -> None:
        with contextlib.suppress(OSError):
            conn.settimeout(3)
            with context.wrap_socket(conn, server_side=True) as tls:
                stop.wait(3)
                tls.close()

    with thread_server("127.0.81.51", tls_then_silence) as (port,):
        (record,), _ = run_scan([Endpoint("127.0.81.51", port)], FAST)
    assert record.tls is not None, record
    tls = record.to_dict()["tls"]
    assert tls["subject"].startswith("CN=long.test,OU=uuu")
    assert tls["subject"].endswith(f"…[+{len('CN=long.test,OU=') + 3000 - TEXT_BYTES} bytes]")
    assert tls["issuer"] == tls["subject"]
    assert len(tls["sans"]) == LIST_ITEMS + 1 and tls["sans"][-1] == "…[+136 more]"
    assert tls["sans"][0] == "h0.long.test"


def test_a_flow_with_long_strings_is_cut_with_a_marker(tmp_path: Path) -> None:
    """Passive facts and a flow's first bytes: an HTTP request with a 1,500-byte target and
    a 2,000-byte User-Agent, answered by an SSH-like ident with a 3,000-byte product."""
    client, server = ("127.0.81.60", 40000), ("127.0.81.61", 8080)
    request = (b"GET /" + b"t" * 1500 + b" HTTP/1.1\r\nHost: long.test\r\nUser-Agent: "
               + b"U" * 2000 + b"\r\n\r\n")
    reply = b"SSH-2.0-" + b"P" * 3000 + b"\r\n"
    (cip, cport), (sip, sport) = client, server
    frames = [tcp(cip, sip, cport, sport, SYN, seq=100),
              tcp(sip, cip, sport, cport, SYN | ACK, seq=500, ack=101),
              tcp(cip, sip, cport, sport, ACK, seq=101, ack=501),
              tcp(cip, sip, cport, sport, PSH | ACK, seq=101, ack=501, payload=request),
              tcp(sip, cip, sport, cport, PSH | ACK, seq=501, ack=101 + len(request),
                  payload=reply)]
    pcap = write_pcap(tmp_path / "long.pcap", at(1_700_000_000.0, frames))
    out = tmp_path / "w.jsonl"
    assert main(["watch", "-r", str(pcap), "--no-probe", "-q", "--workers", "0",
                 "--no-user-rules", "-o", str(out)]) == 0
    [flow] = [json.loads(line) for line in out.read_text().splitlines()]
    facts = flow["passive"]["client"]
    assert facts["http_target"] == "/" + "t" * (TEXT_BYTES - 1) + "…[+1245 bytes]"
    assert facts["http_user_agent"] == "U" * TEXT_BYTES + "…[+1744 bytes]"
    assert flow["passive"]["client_raw"].endswith(
        f"…[+{len(request) - FLOW_SHOWN_BYTES} bytes]")
    assert flow["passive"]["server_raw"].endswith(f"…[+{len(reply) - FLOW_SHOWN_BYTES} bytes]")
    for field in ("product", "version", "info"):
        value = flow[field]
        assert value is None or len(value.encode()) <= LONGEST, (field, value)
    for value in flow["passive"]["server"].values():
        assert not isinstance(value, str) or len(value.encode()) <= LONGEST
