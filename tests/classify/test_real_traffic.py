"""Train on real programs' traffic, classify a headers-only copy of a second run (lab: needs
root, tcpdump and Debian's servers and clients; addresses 127.0.100.x only).

The programs: python's http.server serving a 2 MB file to curl (bulk HTTP download),
an interactive ssh session typing a few commands key by key, scp copying a 2 MB file,
dig asking dnsmasq, and openssl s_client talking to openssl s_server on an odd port. The
first run's capture, whole, teaches the profiles (`probescan profiles train`); the second
run's capture is cut to its headers, and `probescan watch --classifiers statistics` must
name every flow right, with the right class, from sizes and timing alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from probescan.cli.main import main
from tests.classify.synthetic import headers_only

pytestmark = pytest.mark.lab

HTTP, SSH, DNS, TLS = ("127.0.100.1", 18080), ("127.0.100.2", 12222), ("127.0.100.3", 10053), (
    "127.0.100.4", 18443)
NEEDED = ("tcpdump", "sshd", "ssh", "scp", "ssh-keygen", "dnsmasq", "dig", "openssl", "curl")
SSH_OPTS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "BatchMode=yes"]


def _which(name: str) -> str | None:
    return shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"]))


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root (tcpdump, sshd)"
    gone = [n for n in NEEDED if _which(n) is None]
    return f"missing: {', '.join(gone)}" if gone else None


@contextlib.contextmanager
def servers(d: Path) -> Iterator[Path]:
    """The four servers, stopped at the end; yields the client's ssh key."""
    procs: list[subprocess.Popen[bytes]] = []
    log = (d / "servers.log").open("wb")

    def start(argv: list[str], **kw: Any) -> None:
        procs.append(subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                      start_new_session=True, **kw))

    try:
        www = d / "www"
        www.mkdir()
        (www / "big.bin").write_bytes(os.urandom(2_000_000))
        start([sys.executable, "-m", "http.server", "--bind", HTTP[0], str(HTTP[1]),
               "--directory", str(www)])
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        for key in ("host", "client"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)],
                           check=True)
        (d / "authorized_keys").write_bytes((d / "client.pub").read_bytes())
        start([_which("sshd") or "sshd", "-D", "-e", "-f", "/dev/null", "-h", str(d / "host"),
               "-o", f"ListenAddress={SSH[0]}:{SSH[1]}", "-o", f"PidFile={d / 'sshd.pid'}",
               "-o", f"AuthorizedKeysFile={d / 'authorized_keys'}", "-o", "StrictModes=no",
               "-o", "PermitRootLogin=yes", "-o", "UsePAM=no",
               "-o", "Subsystem=sftp internal-sftp"])
        start([_which("dnsmasq") or "dnsmasq", "-k", "-C", "/dev/null",
               f"--listen-address={DNS[0]}", f"--port={DNS[1]}", "--bind-interfaces",
               "--no-resolv", "--no-hosts", "--address=/example.test/192.0.2.1", "--user=root",
               f"--pid-file={d / 'dnsmasq.pid'}"])
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=probescan-test", "-keyout", str(d / "tls.key"),
                        "-out", str(d / "tls.crt")], check=True, capture_output=True)
        start(["openssl", "s_server", "-accept", f"{TLS[0]}:{TLS[1]}", "-cert",
               str(d / "tls.crt"), "-key", str(d / "tls.key"), "-www", "-quiet"])
        _wait_tcp(HTTP)
        _wait_tcp(SSH)
        _wait_tcp(TLS)
        yield d / "client"
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, 15)
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(5)
        log.close()


def _wait_tcp(addr: tuple[str, int], timeout: float = 10.0) -> None:
    import socket

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with contextlib.suppress(OSError), socket.create_connection(addr, 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"server on {addr} did not start")


def _typed(text: str) -> Iterator[bytes]:
    for ch in text:
        yield ch.encode()


def clients(key: Path, work: Path) -> None:
    """Each program a few times (one flow each)."""
    ssh = ["-i", str(key), *SSH_OPTS]
    for _ in range(3):
        subprocess.run(["curl", "-s", "-o", "/dev/null", f"http://{HTTP[0]}:{HTTP[1]}/big.bin"],
                       check=True, timeout=30)
        subprocess.run(["dig", f"@{DNS[0]}", "-p", str(DNS[1]), "+time=2", "+tries=1",
                        "example.test"], check=True, capture_output=True, timeout=10)
        subprocess.run(["scp", "-q", *ssh, "-P", str(SSH[1]),
                        f"root@{SSH[0]}:{work / 'www' / 'big.bin'}", str(work / "copy.bin")],
                       check=True, timeout=60)
        # the request typed after the handshake (and the server's session tickets)
        tls = subprocess.Popen(["openssl", "s_client", "-connect", f"{TLS[0]}:{TLS[1]}",
                                "-quiet", "-ign_eof"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(0.5)
        page, err = tls.communicate(b"GET / HTTP/1.0\r\n\r\n", timeout=20)
        assert b"HTTP/1.0 200" in page, err[-300:]
        session = subprocess.Popen(["ssh", "-tt", *ssh, "-p", str(SSH[1]), f"root@{SSH[0]}"],
                                   stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        assert session.stdin is not None
        time.sleep(1.0)
        for keystroke in _typed("echo hello\nls /\nuname -a\nexit\n"):
            session.stdin.write(keystroke)
            session.stdin.flush()
            time.sleep(0.05)
        session.wait(20)


def capture(work: Path, name: str, key: Path) -> Path:
    from tests.lab.traffic_tcpdump import _Tcpdump

    out = work / name
    dump = _Tcpdump(out, "net 127.0.100.0/24")
    dump.wait_ready()
    try:
        clients(key, work)
        time.sleep(0.5)
    finally:
        dump.stop()
    assert dump.dropped in (0, -1), "the kernel dropped packets"
    return out


EXPECTED = {  # server port -> (service, class)
    HTTP[1]: ("http", "file transfer"),
    DNS[1]: ("dns", "control"),
    TLS[1]: ("tls", "control or chatter"),  # a handshake, a request and a short page
}


def test_real_programs_are_named_from_a_headers_only_copy(tmp_path: Path) -> None:
    why = _missing()
    if why:
        pytest.skip(why)
    with servers(tmp_path) as key:
        first = capture(tmp_path, "first.pcap", key)
        second = capture(tmp_path, "second.pcap", key)
    profiles = tmp_path / "p.toml"
    assert main(["profiles", "train", str(first), "-o", str(profiles)]) == 0
    cut = headers_only(second, tmp_path / "second-headers.pcap")
    out = tmp_path / "flows.jsonl"
    assert main(["watch", "-r", str(cut), "--no-probe", "-q", "-o", str(out),
                 "--profiles", str(profiles), "--classifiers", "statistics"]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    seen: dict[str, int] = {}
    for r in records:
        port = r["server"]["port"]
        b = r["behaviour"]
        what = f"{r['service']} {b['class']} {b['sizes'][:12]} {b['statistical']}"
        if port == SSH[1]:
            kind = "scp" if b["class"] == "file transfer" else "interactive"
            assert r["service"] == "ssh", what
            assert b["class"] in ("file transfer", "chatter"), what
        else:
            kind = str(port)
            service, flow_class = EXPECTED[port]
            assert r["service"] == service and b["class"] in flow_class.split(" or "), what
        assert r["method"] == "statistical" and r["decided_by"] == "statistics", what
        seen[kind] = seen.get(kind, 0) + 1
    assert seen == {"scp": 3, "interactive": 3, str(HTTP[1]): 3, str(DNS[1]): 3,
                    str(TLS[1]): 3}, seen
