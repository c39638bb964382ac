"""Capture fingerprint examples from real Debian servers: start, probe, match, record.

Starts the servers of the lab (tests/lab: TCP kinds, tests/lab/servers_udp.py: UDP ones) on
127.0.90.x (never the lab's own addresses), sends every probe of probes/*.toml of the
server's transport, matches each reply against probescan's own rules, and prints, for each
rule that matched and has no captured example yet (--all: every rule), an example to paste
under it: the reply's bytes, the probe, the fields the rule yields, and
`captured = "<program> <version> (Debian <package>), answer to <probe>"`. With --write the
example is appended to the rule in fingerprints/*.toml; `probescan fingerprints stats` then
counts one rule fewer without a captured example. Needs root (as the lab does).

    python3 scripts/capture_examples.py                      # every server, print
    python3 scripts/capture_examples.py redis vsftpd --write
    python3 scripts/capture_examples.py --list               # the servers it can start
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from probescan.catalog import Fingerprint, Probe, load_fingerprints, load_probes  # noqa: E402
from probescan.catalog.fingerprints import FIELDS  # noqa: E402
from probescan.match import match_response  # noqa: E402
from probescan.model import Match  # noqa: E402
from tests.lab import KINDS, Lab, LabError  # noqa: E402
from tests.lab import servers_udp as udp_lab  # noqa: E402

BLOCK = "127.0.90"  # this script's addresses: 127.0.90.100 and up
MAX_BYTES = 4096  # longer replies are cut (kept only if the cut reply matches the same way)
READ_IDLE = 0.6  # seconds of silence that end a reply

# lab kind / UDP lab name -> (Debian package whose version is reported, program name)
PACKAGES: dict[str, tuple[str, str]] = {
    "ssh": ("openssh-server", "OpenSSH sshd"), "nginx": ("nginx", "nginx"),
    "nginx-https": ("nginx", "nginx (TLS listener)"), "lighttpd": ("lighttpd", "lighttpd"),
    "vsftpd": ("vsftpd", "vsftpd"), "postfix": ("postfix", "Postfix smtpd"),
    "dovecot-imap": ("dovecot-imapd", "Dovecot imap"), "dovecot-pop3": ("dovecot-pop3d",
                                                                        "Dovecot pop3"),
    "redis": ("redis-server", "redis-server"), "memcached": ("memcached", "memcached"),
    "mariadb": ("mariadb-server", "mariadbd"), "postgresql": ("postgresql", "PostgreSQL"),
    "mosquitto": ("mosquitto", "mosquitto"), "slapd": ("slapd", "OpenLDAP slapd"),
    "squid": ("squid", "squid"), "prosody": ("prosody", "Prosody"),
    "udp:dnsmasq": ("dnsmasq-base", "dnsmasq"), "udp:snmpd": ("snmpd", "Net-SNMP snmpd"),
    "udp:coturn": ("coturn", "coturn turnserver"), "udp:kamailio": ("kamailio", "Kamailio"),
    "udp:tftpd-hpa": ("tftpd-hpa", "tftpd-hpa"), "udp:memcached": ("memcached",
                                                                   "memcached -U"),
    "udp:nmbd": ("samba", "Samba nmbd"),
}


@dataclass(frozen=True)
class Target:
    name: str  # "redis", "udp:dnsmasq"
    ip: str
    port: int
    transport: str


@dataclass(frozen=True)
class Capture:
    target: Target
    probe: str
    data: bytes
    match: Match


def debian_release() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("VERSION_ID="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return "?"


def debian_version(package: str) -> str:
    done = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package],
                          capture_output=True, text=True, check=False)
    return done.stdout.strip() or "?"


def _read(sock: socket.socket, wait: float) -> bytes:
    data = b""
    deadline = time.monotonic() + wait
    sock.settimeout(wait)
    while len(data) < MAX_BYTES * 4 and time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, OSError):
            break
        if not chunk:
            break
        data += chunk
        sock.settimeout(READ_IDLE)
    return data


def ask(target: Target, probe: Probe) -> bytes:
    """One probe's reply ("" on silence or error)."""
    payload = probe.render(target.ip)
    wait = min(probe.wait_ms / 1000, 4.0)
    try:
        if target.transport == "udp":
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.connect((target.ip, target.port))
                s.send(payload)
                s.settimeout(wait)
                return s.recv(65536)
        with socket.create_connection((target.ip, target.port), timeout=3) as s:
            if payload:
                s.sendall(payload)
            return _read(s, wait)
    except OSError:
        return b""


def captures(target: Target, probes: list[Probe], rules: list[Fingerprint]) -> Iterator[Capture]:
    """Every probe at once (each on its own connection or socket), then the matches in order."""
    mine = [p for p in probes if p.transport == target.transport and not p.tls]
    with ThreadPoolExecutor(max_workers=16) as pool:
        replies = list(pool.map(lambda p: ask(target, p), mine))
    for probe, data in zip(mine, replies, strict=True):
        if not data:
            continue
        data = data[:MAX_BYTES]
        found = match_response(rules, probe.name, data, budget=2.0)
        if found is not None and found.source.startswith("probescan:"):
            yield Capture(target, probe.name, data, found)


def _toml_text(data: bytes) -> tuple[str, str]:
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in data)
    if printable >= 0.9 * len(data):
        return "text", json.dumps(data.decode("latin-1"))
    return "hex", json.dumps(data.hex())


def example(c: Capture) -> list[str]:
    package, program = PACKAGES.get(c.target.name, (c.target.name, c.target.name))
    key, value = _toml_text(c.data)
    source = (f"{program} {debian_version(package)} (Debian {debian_release()} {package}), "
              f"answer to {c.probe}")
    lines = ["  [[fingerprint.examples]]", f"  captured = {json.dumps(source)}",
             f"  {key} = {value}", f"  probe = {json.dumps(c.probe)}"]
    for name in FIELDS:
        value_ = getattr(c.match, name)
        if value_:
            lines.append(f"  {name} = {json.dumps(value_)}")
    return lines


def append_example(rule: Fingerprint, lines: list[str]) -> None:
    """Insert the example after the rule's last line in its file."""
    path = ROOT / "fingerprints" / rule.source.split(":", 1)[1]
    text = path.read_text(encoding="utf-8").split("\n")
    start = rule.line - 1
    end = next((i for i in range(start + 1, len(text)) if text[i].strip() == "[[fingerprint]]"),
               len(text))
    while end > start and not text[end - 1].strip():
        end -= 1
    text[end:end] = ["", *lines]
    path.write_text("\n".join(text), encoding="utf-8")


def _start_all(lab: Lab, names: list[str], udp: list[udp_lab.UdpServer]) -> list[Target]:
    targets: list[Target] = []
    for i, name in enumerate(names):
        ip = f"{BLOCK}.{100 + i}"
        try:
            if name.startswith("udp:"):
                server = udp_lab.start(name[4:], ip, 10000 + i)
                udp.append(server)
                targets.append(Target(name, ip, server.port, "udp"))
            else:
                svc = lab.start(name, ip, 10000 + i)
                targets.append(Target(name, ip, svc.port, "tcp"))
        except (LabError, udp_lab.LabError, OSError) as exc:
            print(f"# {name}: not started: {str(exc).splitlines()[0]}", file=sys.stderr)
    return targets


def main() -> int:
    known = [k for k in KINDS if not KINDS[k].tls] + [
        f"udp:{n}" for n, spec in udp_lab.SPECS.items() if spec.fixed is None]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("servers", nargs="*", help="lab kinds and udp:NAME (default: all)")
    ap.add_argument("--write", action="store_true", help="append the examples to the rules")
    ap.add_argument("--all", action="store_true", help="also rules with a captured example")
    ap.add_argument("--list", action="store_true", help="list the servers and exit")
    a = ap.parse_args()
    if a.list:
        print("\n".join(known))
        return 0
    names = a.servers or known
    unknown = [n for n in names if n not in known]
    if unknown:
        print(f"capture_examples: unknown server(s) {', '.join(unknown)} (see --list)",
              file=sys.stderr)
        return 2
    fps = load_fingerprints()
    rules = list(fps.rules)
    by_id = {r.id: r for r in rules}
    probes = list(load_probes().probes)
    written: set[str] = set()
    udp: list[udp_lab.UdpServer] = []
    with Lab() as lab:
        try:
            for target in _start_all(lab, names, udp):
                for c in captures(target, probes, rules):
                    rule = by_id[c.match.fingerprint_id]
                    has = any(e.captured for e in rule.examples) or rule.id in written
                    if has and not a.all:
                        continue
                    lines = example(c)
                    print(f"# {target.name} {target.ip}:{target.port}/{target.transport} "
                          f"{c.probe} -> {rule.id} ({rule.source})")
                    print("\n".join(lines) + "\n", flush=True)
                    if a.write:
                        append_example(rule, lines)
                        written.add(rule.id)
                        fps = load_fingerprints()  # line numbers moved
                        rules = list(fps.rules)
                        by_id = {r.id: r for r in rules}
        finally:
            for server in udp:
                server.stop()
    if a.write:
        print(f"# appended examples to {len(written)} rule(s): {', '.join(sorted(written))}",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
