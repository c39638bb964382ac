"""Real UDP servers (Debian packages) on loopback addresses, for the UDP engine's tests.

Each server runs from its own temporary directory, in its own process group, bound to one
127.0.20.x address and (mostly unusual) port; ntpsec can only use 127.0.0.1:123. A start
helper returns once the server answers a tiny query over UDP (the matching probe of
probes/udp.toml) or raises :class:`LabError` with the tail of its log. ``UdpServer.stop()``
ends the whole process group and removes the directory.

``python -m tests.lab.servers_udp`` starts :data:`DEFAULT_UDP_LAB`, prints ``ip port service
product`` per server and waits for Ctrl-C. No pytest dependency here.

Packages (Debian 12): dnsmasq, snmpd, coturn, kamailio, tftpd-hpa, ntpsec, memcached, samba
(nmbd). Every server needs root here (ports, users, or the packaged configuration).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from probescan.catalog import load_probes

__all__ = [
    "DEFAULT_UDP_LAB",
    "LabError",
    "UdpServer",
    "UdpSpec",
    "ask",
    "missing_binary",
    "start",
]

READY_TIMEOUT = 30.0  # seconds for a started server to answer its readiness query
STOP_TIMEOUT = 10.0  # seconds for a process group to exit after SIGTERM
LOG_TAIL = 30  # lines of the server's log quoted in a LabError
_EXTRA_PATH = ("/usr/sbin", "/sbin", "/usr/local/sbin")


class LabError(RuntimeError):
    """A lab server could not be started or never answered."""


@dataclass
class UdpServer:
    """One running server: where it listens and what probescan should call it."""

    name: str
    ip: str
    port: int
    service: str  # expected probescan service
    product: str | None  # expected product
    proc: subprocess.Popen[bytes]
    workdir: Path
    log: Path

    def log_tail(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-LOG_TAIL:])

    def stop(self) -> None:
        """End the server's process group (SIGTERM, then SIGKILL) and remove its directory."""
        _kill_group(self.proc)
        shutil.rmtree(self.workdir, ignore_errors=True)


# ---------------------------------------------------------------- helpers


def which(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in _EXTRA_PATH:
        p = Path(d) / name
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
    return None


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(STOP_TIMEOUT)
    # children (kamailio's workers) may outlive the leader: sweep the group
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(STOP_TIMEOUT)


def probe_payload(name: str, host: str = "") -> bytes:
    """The payload of one UDP probe of the shipped catalog (rendered for `host`)."""
    probe = load_probes().by_name(name)
    if probe is None:
        raise LabError(f"no probe named {name!r} in probes/")
    return probe.render(host)


def ask(ip: str, port: int, payload: bytes, timeout: float = 0.5,
        any_port: bool = False) -> tuple[bytes, int] | None:
    """Send one datagram; return (reply, source port) or None on silence or ICMP error.

    With any_port the socket is not connected, so a reply from another port of the host is
    accepted too (TFTP answers from a new port).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            if any_port:
                s.sendto(payload, (ip, port))
                while True:
                    data, (src, sport) = s.recvfrom(65535)
                    if src == ip:
                        return data, sport
            s.connect((ip, port))
            s.send(payload)
            return s.recv(65535), port
        except OSError:  # timeout, ECONNREFUSED
            return None


def port_is_free(ip: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((ip, port))
        except OSError:
            return False
    return True


def missing_binary(spec: UdpSpec) -> str | None:
    """A reason string when the server's program is not installed, else None."""
    if which(spec.binary) is None:
        return f"{spec.binary} not installed (Debian package {spec.package})"
    return None


# ---------------------------------------------------------------- recipes

Command = Callable[[str, int, Path], list[str]]


@dataclass(frozen=True)
class UdpSpec:
    """How to run one kind of server and how to tell that it is up."""

    name: str
    package: str
    binary: str
    command: Command  # (ip, port, workdir) -> argv; may write config files into workdir
    ready_probe: str  # probe of probes/udp.toml whose reply means "up"
    service: str
    product: str | None
    ready_any_port: bool = False  # the reply comes from another port (TFTP)
    fixed: tuple[str, int] | None = None  # the server can only use this address and port
    env: tuple[tuple[str, str], ...] = ()


def _dnsmasq(ip: str, port: int, d: Path) -> list[str]:
    return [
        which("dnsmasq") or "dnsmasq", "-k", "-C", "/dev/null", f"--listen-address={ip}",
        f"--port={port}", "--bind-interfaces", "--no-resolv", "--no-hosts",
        "--address=/example.test/192.0.2.1", "--user=root", f"--pid-file={d / 'pid'}",
    ]


def _snmpd(ip: str, port: int, d: Path) -> list[str]:
    (d / "snmpd.conf").write_text("rocommunity public\n")
    return [
        which("snmpd") or "snmpd", "-f", "-Lf", str(d / "snmpd.log"), "-C",
        "-c", str(d / "snmpd.conf"), "-p", str(d / "pid"), f"udp:{ip}:{port}",
    ]


def _coturn(ip: str, port: int, d: Path) -> list[str]:
    return [
        which("turnserver") or "turnserver", "-n", f"--listening-ip={ip}",
        f"--listening-port={port}", "--no-tls", "--no-dtls", "--no-cli",
        f"--pidfile={d / 'pid'}", f"--log-file={d / 'turn.log'}",
    ]


def _kamailio(ip: str, port: int, d: Path) -> list[str]:
    return [
        which("kamailio") or "kamailio", "-DD", "-E", "-f", "/etc/kamailio/kamailio.cfg",
        "-l", f"udp:{ip}:{port}", "-P", str(d / "pid"), "-Y", str(d),
    ]


def _tftpd(ip: str, port: int, d: Path) -> list[str]:
    (d / "root").mkdir()
    return [which("in.tftpd") or "in.tftpd", "-L", "-a", f"{ip}:{port}", "-s", str(d / "root")]


def _ntpsec(ip: str, port: int, d: Path) -> list[str]:
    # No time source and 'disable ntp': ntpd serves (unsynchronised) and answers mode-6
    # queries, but never disciplines this machine's clock. Only 127.0.0.1 is used.
    (d / "ntp.conf").write_text(
        "restrict default\nrestrict 127.0.0.1\ndisable ntp\n"
        "interface ignore all\ninterface listen 127.0.0.1\n"
    )
    return [
        which("ntpd") or "ntpd", "-n", "-c", str(d / "ntp.conf"), "-p", str(d / "pid"),
        "-u", "root",
    ]


def _memcached(ip: str, port: int, d: Path) -> list[str]:
    return [which("memcached") or "memcached", "-l", ip, "-p", "0", "-U", str(port),
            "-u", "root"]


def _nmbd(ip: str, port: int, d: Path) -> list[str]:
    for sub in ("lock", "state", "cache", "private", "pid", "log", "ncalrpc"):
        (d / sub).mkdir()
    (d / "smb.conf").write_text(
        "[global]\n"
        "netbios name = PROBELAB\n"
        "workgroup = LABGROUP\n"
        f"interfaces = {ip}/8\n"
        "bind interfaces only = yes\n"
        + "".join(f"{key} = {d / sub}\n" for key, sub in (
            ("lock directory", "lock"), ("state directory", "state"),
            ("cache directory", "cache"), ("private dir", "private"),
            ("pid directory", "pid"), ("ncalrpc dir", "ncalrpc")))
        + f"log file = {d / 'log' / 'nmbd.log'}\n"
    )
    return [which("nmbd") or "nmbd", "-F", "--no-process-group", "-s", str(d / "smb.conf"),
            "-p", str(port), "--debug-stdout", "-d", "1"]


SPECS: dict[str, UdpSpec] = {
    s.name: s
    for s in (
        UdpSpec("dnsmasq", "dnsmasq", "dnsmasq", _dnsmasq, "dns-version-bind", "dns", "dnsmasq"),
        UdpSpec("snmpd", "snmpd", "snmpd", _snmpd, "snmp-v2c-get", "snmp", "Net-SNMP"),
        UdpSpec("coturn", "coturn", "turnserver", _coturn, "stun-binding", "stun", "coturn"),
        UdpSpec("kamailio", "kamailio", "kamailio", _kamailio, "sip-options", "sip",
                "Kamailio"),
        UdpSpec("tftpd-hpa", "tftpd-hpa", "in.tftpd", _tftpd, "tftp-rrq", "tftp", None,
                ready_any_port=True),
        UdpSpec("ntpsec", "ntpsec", "ntpd", _ntpsec, "ntp-readvar", "ntp", "NTPsec",
                fixed=("127.0.0.1", 123)),
        UdpSpec("memcached", "memcached", "memcached", _memcached, "memcached-udp-version",
                "memcached", "memcached"),
        UdpSpec("nmbd", "samba", "nmbd", _nmbd, "netbios-nbstat", "netbios-ns", "Samba nmbd"),
    )
}

# name -> (address, port): unusual ports wherever the server allows one.
DEFAULT_UDP_LAB: dict[str, tuple[str, int]] = {
    "dnsmasq": ("127.0.20.1", 10053),
    "snmpd": ("127.0.20.2", 16161),
    "coturn": ("127.0.20.3", 13478),
    "kamailio": ("127.0.20.4", 15070),
    "tftpd-hpa": ("127.0.20.5", 10069),
    "ntpsec": ("127.0.0.1", 123),
    "memcached": ("127.0.20.6", 11311),
    "nmbd": ("127.0.20.7", 13700),
}


def launch(name: str, ip: str, port: int) -> UdpServer:
    """Start one server (without waiting for it)."""
    spec = SPECS[name]
    reason = missing_binary(spec)
    if reason:
        raise LabError(reason)
    if spec.fixed is not None and (ip, port) != spec.fixed:
        raise LabError(f"{name} can only listen on {spec.fixed[0]}:{spec.fixed[1]}")
    if not port_is_free(ip, port):
        raise LabError(f"{ip}:{port}/udp is already in use; {name} cannot start there")
    workdir = Path(tempfile.mkdtemp(prefix=f"probescan-udp-{name}-"))
    log = workdir / "server.log"
    argv = spec.command(ip, port, workdir)
    env = dict(os.environ)
    env.update(spec.env)
    if name == "snmpd":  # keep engine boots and the like out of /var/lib/snmp
        env["SNMP_PERSISTENT_DIR"] = str(workdir)
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=workdir, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True, env=env)
    return UdpServer(name, ip, port, spec.service, spec.product, proc, workdir, log)


def wait_ready(server: UdpServer, timeout: float = READY_TIMEOUT) -> None:
    """Return once the server answers its readiness probe; else stop it and raise."""
    spec = SPECS[server.name]
    payload = probe_payload(spec.ready_probe, server.ip)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            break
        if ask(server.ip, server.port, payload, 0.3, spec.ready_any_port):
            return
        time.sleep(0.1)
    code = server.proc.poll()
    tail = server.log_tail()
    server.stop()
    state = f"exited with status {code}" if code is not None else f"silent for {timeout:.0f} s"
    raise LabError(f"{server.name} on {server.ip}:{server.port}/udp {state}\n{tail}")


def start(name: str, ip: str, port: int, timeout: float = READY_TIMEOUT) -> UdpServer:
    """Start one server and wait until it answers."""
    server = launch(name, ip, port)
    wait_ready(server, timeout)
    return server


def start_many(plan: dict[str, tuple[str, int]]) -> tuple[dict[str, UdpServer], dict[str, str]]:
    """Start every server of the plan at once, then wait for each.

    Returns (running servers, name -> why it did not start).
    """
    launched: dict[str, UdpServer] = {}
    failed: dict[str, str] = {}
    running: dict[str, UdpServer] = {}
    try:
        for name, (ip, port) in plan.items():
            try:
                launched[name] = launch(name, ip, port)
            except (LabError, OSError) as e:
                failed[name] = str(e)
        for name, server in launched.items():
            try:
                wait_ready(server)
                running[name] = server
            except LabError as e:
                failed[name] = str(e)
    except BaseException:  # interrupted: leave nothing running
        for server in launched.values():
            server.stop()
        raise
    return running, failed


@contextlib.contextmanager
def lab(plan: dict[str, tuple[str, int]] | None = None
        ) -> Iterator[tuple[dict[str, UdpServer], dict[str, str]]]:
    """Run a lab for the duration of a with block; every server is stopped at the end."""
    running, failed = start_many(DEFAULT_UDP_LAB if plan is None else plan)
    try:
        yield running, failed
    finally:
        for server in running.values():
            server.stop()


def main() -> None:
    with lab() as (running, failed):
        for s in running.values():
            print(s.ip, s.port, s.service, s.product or "-", flush=True)
        for name, why in failed.items():
            print(f"{name}: not started: {why.splitlines()[0]}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
