"""More real Debian servers and clients, captured and labelled like test_debian_protocols.py:
DTLS (openssl s_server / s_client), SOCKS 4 and 5 (dante's danted, curl), IKE (strongSwan's
charon and swanctl, IKEv2 and IKEv1), git (git daemon, git clone) and rsync (rsync --daemon,
rsync). Every program runs in network namespaces the test creates (tests/watch/debian_net.py).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.watch import debian_setup as setup
from tests.watch.debian_checks import check, needs, started, workdir
from tests.watch.debian_net import (
    CLIENT,
    SERVER,
    Capture,
    Netns,
    link,
    netns,
    tcp_listening,
    udp_bound,
    wait_for,
    watch,
)

pytestmark = pytest.mark.lab

WEB = "127.0.150.4"  # an HTTP server that the SOCKS clients reach through danted


@pytest.fixture
def d(tmp_path: Path) -> Path:
    return workdir(tmp_path)


# --------------------------------------------------------------------------- DTLS

@pytest.mark.parametrize("port", [4433, 443])
def test_dtls(d: Path, port: int) -> None:
    """OpenSSL's DTLS 1.2 server and client: ClientHello, HelloVerifyRequest (cookie),
    the handshake, one line of application data; also on 443/udp (where QUIC is usual)."""
    needs("openssl")
    setup.openvpn_pki(d)  # a CA, a server certificate and key
    with netns("x") as (ns,):
        log = d / "s_server.log"
        # s_server stops at the end of its standard input: a pipe that stays open.
        ns.spawn(["sh", "-c", 'sleep 60 | exec "$0" "$@"', "openssl", "s_server", "-dtls",
                  "-accept", f"{SERVER}:{port}", "-naccept", "1", "-cert", str(d / "server.crt"),
                  "-key", str(d / "server.key")], log)
        started(wait_for(lambda: udp_bound(ns, port)), "openssl s_server", log)
        with Capture(ns, d / "dtls.pcap"):
            done = ns.run(["openssl", "s_client", "-dtls", "-connect", f"{SERVER}:{port}",
                           "-bind", f"{CLIENT}:0", "-CAfile", str(d / "ca.crt")],
                          stdin="probescan over DTLS\n")
            assert "Verify return code: 0 (ok)" in done.stdout, done.stdout + done.stderr
    check(watch(d / "dtls.pcap"), port, "udp", "dtls",
          anomaly="usually https" if port == 443 else None)


# --------------------------------------------------------------------------- SOCKS

def _danted(d: Path, port: int) -> Path:
    conf = d / "danted.conf"
    conf.write_text(
        f"logoutput: stderr\ninternal: {SERVER} port = {port}\nexternal: {SERVER}\n"
        "clientmethod: none\nsocksmethod: none\nuser.privileged: root\n"
        "user.unprivileged: nobody\n"
        "client pass { from: 127.0.150.0/24 to: 0.0.0.0/0 }\n"
        "socks pass { from: 127.0.150.0/24 to: 0.0.0.0/0 }\n")
    return conf


@pytest.mark.parametrize(("version", "port"), [("5", 1080), ("4", 1080), ("5", 443)])
def test_socks(d: Path, version: str, port: int) -> None:
    """dante's danted and curl through it to a local web server: SOCKS5 (greeting, method,
    CONNECT by address and by name) or SOCKS4 (CONNECT)."""
    needs("danted:dante-server", "curl")
    (d / "www").mkdir()
    (d / "www" / "index.html").write_text("probescan\n")
    with netns("x") as (ns,):
        ns.spawn([sys.executable, "-m", "http.server", "--bind", WEB, "--directory",
                  str(d / "www"), "8080"], d / "http.log")
        log = d / "danted.log"
        ns.spawn(["danted", "-f", str(_danted(d, port)), "-p", str(d / "danted.pid")], log)
        started(wait_for(lambda: tcp_listening(ns, port) and tcp_listening(ns, 8080)),
                "danted", log)
        options = ["--socks5", "--socks5-hostname"] if version == "5" else ["--socks4"]
        with Capture(ns, d / "socks.pcap"):
            for option in options:
                got = ns.run(["curl", "-sS", "-m", "10", option, f"{SERVER}:{port}",
                              f"http://{WEB}:8080/"])
                assert got.stdout == "probescan\n", got.stderr
    check(watch(d / "socks.pcap"), port, "tcp", f"socks{version}",
          anomaly="usually https" if port == 443 else None)


# --------------------------------------------------------------------------- IKE

def _strongswan(d: Path, me: str, ip: str, peer: str, peer_ip: str, port: int,
                version: int) -> None:
    """charon's strongswan.conf (its own ports, vici socket and log) and swanctl.conf: one
    connection authenticated by a pre-shared key, no CHILD_SA (the kernel's IPsec may be
    missing; the IKE exchange is what is captured)."""
    nat_t = 4500 if port == 500 else port + 1
    (d / f"strongswan-{me}.conf").write_text(
        f"charon {{\n load_modular = yes\n port = {port}\n port_nat_t = {nat_t}\n"
        " install_routes = no\n plugins {\n  include /etc/strongswan.d/charon/*.conf\n"
        f"  vici {{\n   socket = unix://{d}/{me}.vici\n  }}\n  resolve {{\n   load = no\n  }}\n"
        f" }}\n filelog {{\n  probe {{\n   path = {d}/charon-{me}.log\n   default = 1\n  }}\n"
        " }\n}\n")
    (d / f"swanctl-{me}.conf").write_text(
        f"connections {{\n probe {{\n  version = {version}\n  local_addrs = {ip}\n"
        f"  remote_addrs = {peer_ip}\n  local_port = {port}\n  remote_port = {port}\n"
        f"  local {{\n   auth = psk\n   id = {me}.probe.test\n  }}\n"
        f"  remote {{\n   auth = psk\n   id = {peer}.probe.test\n  }}\n }}\n}}\n"
        "secrets {\n ike-probe {\n  id-a = a.probe.test\n  id-b = b.probe.test\n"
        '  secret = "probescan-psk-150"\n }\n}\n')


def _charon(ns: Netns, d: Path, me: str) -> None:
    """charon in a private mount namespace (its pid file in its own /run), then swanctl
    loads its connection."""
    ns.spawn(["unshare", "--mount", "--propagation", "private", "sh", "-c",
              "mount -t tmpfs probescan-charon /run && exec /usr/lib/ipsec/charon"],
             d / f"charon-{me}.out", env={"STRONGSWAN_CONF": str(d / f"strongswan-{me}.conf")})
    started(wait_for(lambda: (d / f"{me}.vici").exists()), "charon", d / f"charon-{me}.out")
    loaded = ns.run(["swanctl", "--load-all", "--file", str(d / f"swanctl-{me}.conf"),
                     "--uri", f"unix://{d}/{me}.vici"])
    assert "loaded connection 'probe'" in loaded.stdout, loaded.stdout + loaded.stderr


@pytest.mark.parametrize(("version", "port"), [(2, 500), (1, 500), (2, 7500)])
def test_ike(d: Path, version: int, port: int) -> None:
    """Two strongSwan charons across a veth pair: IKE_SA_INIT and IKE_AUTH (IKEv2, moved to
    the NAT-T port by MOBIKE, after the non-ESP marker) or Main Mode (IKEv1)."""
    needs("swanctl:strongswan-swanctl", "unshare:util-linux")
    if not Path("/usr/lib/ipsec/charon").exists():
        needs("charon:strongswan-charon")
    with netns("ia", "ib") as (a, b):
        va, _ = link(a, "10.150.9.1", b, "10.150.9.2")
        for ns, me, ip, peer, peer_ip in ((a, "a", "10.150.9.1", "b", "10.150.9.2"),
                                          (b, "b", "10.150.9.2", "a", "10.150.9.1")):
            _strongswan(d, me, ip, peer, peer_ip, port, version)
            _charon(ns, d, me)
        with Capture(a, d / "ike.pcap", iface=va):
            done = b.run(["swanctl", "--initiate", "--ike", "probe", "--timeout", "15",
                          "--uri", f"unix://{d}/b.vici"], timeout=30)
            assert "initiate completed successfully" in done.stdout, done.stdout[-1500:]
    records = watch(d / "ike.pcap")
    check(records, port, "udp", "isakmp")
    if version == 2:
        check(records, 4500 if port == 500 else port + 1, "udp", "isakmp")


# --------------------------------------------------------------------------- git, rsync

def _repository(d: Path) -> Path:
    """A bare repository d/repos/probe.git with one commit; the work tree is returned."""
    def git(*args: str) -> None:
        subprocess.run(["git", *args], check=True, capture_output=True, timeout=30)

    work = d / "work"
    git("init", "-q", "--bare", str(d / "repos" / "probe.git"))
    git("init", "-q", str(work))
    (work / "README").write_text("probescan\n")
    git("-C", str(work), "add", "README")
    git("-C", str(work), "-c", "user.name=probescan", "-c", "user.email=probescan@test.invalid",
        "commit", "-qm", "probescan")
    git("-C", str(work), "push", "-q", str(d / "repos" / "probe.git"), "HEAD:refs/heads/main")
    return work


@pytest.mark.parametrize("port", [9418, 443])
def test_git_and_rsync(d: Path, port: int) -> None:
    """git daemon with git clone and git ls-remote (protocol v2), on ``port``; rsync's
    daemon with a module listing and a copy, on ``port`` + 1."""
    needs("git", "rsync")
    work = _repository(d)
    (d / "rsyncd.conf").write_text(
        f"use chroot = no\npid file = {d}/rsyncd.pid\n[probe]\npath = {work}\n"
        "read only = yes\nuid = root\ngid = root\n")
    with netns("g") as (ns,):
        logs = d / "git-daemon.log", d / "rsyncd.log"
        ns.spawn(["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={d}/repos",
                  f"--listen={SERVER}", f"--port={port}", str(d / "repos")], logs[0])
        ns.spawn(["rsync", "--daemon", "--no-detach", f"--config={d}/rsyncd.conf",
                  f"--address={SERVER}", f"--port={port + 1}"], logs[1])
        started(wait_for(lambda: tcp_listening(ns, port)), "git daemon", logs[0])
        started(wait_for(lambda: tcp_listening(ns, port + 1)), "rsync --daemon", logs[1])
        repo, module = f"git://{SERVER}:{port}/probe.git", f"rsync://{SERVER}:{port + 1}/"
        with Capture(ns, d / "git.pcap"):
            for argv in (["git", "clone", "-q", "-b", "main", repo, str(d / "clone")],
                         ["git", "ls-remote", repo], ["rsync", module],
                         ["rsync", "-a", module + "probe/", str(d / "copy")]):
                done = ns.run(argv)
                assert done.returncode == 0, f"{argv}: {done.stderr}"
    assert (d / "clone" / "README").exists() and (d / "copy" / "README").exists()
    records = watch(d / "git.pcap")
    check(records, port, "tcp", "git", anomaly="usually https" if port == 443 else None)
    check(records, port + 1, "tcp", "rsync")
