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

Servers and clients outside the lab (started by hand on a loopback address; the version is
read from the Debian package named):

    python3 scripts/capture_examples.py --target 127.0.140.5:6667 --package ngircd \
        --program ngIRCd [--probe irc-register] --write
    python3 scripts/capture_examples.py --listen 127.0.140.6:3128 --package curl \
        --run 'curl -sx http://127.0.140.6:3128 http://example.test/' --write
    python3 scripts/capture_examples.py --pcap lo.pcap --package tftp-hpa --write

--target sends the probes to ADDRESS:PORT (":PORT/udp" for UDP); --listen waits there for a
client (the --run command, or one started by hand) and matches the first bytes it sends
under the pseudo-probe `client`; --pcap matches every payload of a capture under `client`
(or as answers to the --probe named).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
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

sys.path.insert(0, str(ROOT / "scripts"))
from capture_io import (  # noqa: E402
    ANY_SOURCE,
    READ_IDLE,
    Target,
    ask,
    listen,
    parse_address,
    pcap_payloads,
)

BLOCK = "127.0.90"  # this script's addresses: 127.0.90.100 and up
MAX_BYTES = 4096  # longer replies are cut (kept only if the cut reply matches the same way)

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
class Capture:
    target: Target
    probe: str
    data: bytes
    match: Match
    what: str = ""  # how the bytes came: "answer to <probe>" by default


def debian_release() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("VERSION_ID="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return "?"


VERSIONS: dict[str, str] = {}  # package -> version, for one not installed (--package-version)


def debian_version(package: str) -> str:
    if package in VERSIONS:
        return VERSIONS[package]
    done = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package],
                          capture_output=True, text=True, check=False)
    return done.stdout.strip().split(":", 1)[-1] or "?"  # without the epoch


def captures(target: Target, probes: list[Probe], rules: list[Fingerprint], workers: int = 16,
             idle: float = READ_IDLE) -> Iterator[Capture]:
    """Every probe at once (each on its own connection or socket; `workers` at a time), then
    the matches in order."""
    mine = [p for p in probes if p.transport == target.transport and not p.tls]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        replies = list(pool.map(lambda p: ask(target, p, idle), mine))
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
              f"{c.what or 'answer to ' + c.probe}")
    lines = ["  [[fingerprint.examples]]", f"  captured = {json.dumps(source)}",
             f"  {key} = {value}", f"  probe = {json.dumps(c.probe)}"]
    for name in FIELDS:
        value_ = getattr(c.match, name)
        if value_:
            lines.append(f"  {name} = {json.dumps(value_)}")
    if c.match.cpe:
        lines.append(f"  cpe = {json.dumps(list(c.match.cpe))}")
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


def by_hand(a: argparse.Namespace, probes: list[Probe], rules: list[Fingerprint]
            ) -> Iterator[Capture]:
    """Captures from --target, --listen or --pcap."""
    name = f"hand:{a.package}"
    PACKAGES[name] = (a.package, a.program or a.package)
    if a.package_version:
        VERSIONS[a.package] = a.package_version
    if a.pcap:
        probe = a.probe[0] if a.probe else "client"
        for sender, data in pcap_payloads(Path(a.pcap), a.join):
            if a.sender and a.sender not in (sender.ip, f"{sender.ip}:{sender.port}"):
                continue
            found = match_response(rules, probe, data[:MAX_BYTES], budget=2.0)
            if found is not None and found.source.startswith("probescan:"):
                target = Target(name, sender.ip, sender.port, sender.transport)
                yield Capture(target, probe, data[:MAX_BYTES], found,
                              a.what or "a message it sent")
        return
    ip, port, transport = parse_address(a.target or a.listen)
    target = Target(name, ip, port, transport)
    if a.target:
        ANY_SOURCE["on"] = a.any_source
        yield from captures(target, [p for p in probes if not a.probe or p.name in a.probe],
                            rules, a.workers, a.idle)
        return
    data = listen(target, a.run, a.wait)[:MAX_BYTES]
    if not data:
        print(f"# no client spoke to {a.listen} within {a.wait:g} s", file=sys.stderr)
    found = match_response(rules, "client", data, budget=2.0)
    if found is not None and found.source.startswith("probescan:"):
        yield Capture(target, "client", data, found, a.what or "the first bytes it sent")
    elif data:
        print(f"# no client rule matches {data[:80]!r}", file=sys.stderr)


def _arguments() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("servers", nargs="*", help="lab kinds and udp:NAME (default: all)")
    ap.add_argument("--write", action="store_true", help="append the examples to the rules")
    ap.add_argument("--all", action="store_true", help="also rules with a captured example")
    ap.add_argument("--list", action="store_true", help="list the servers and exit")
    hand = ap.add_argument_group("a server or client started by hand")
    where = hand.add_mutually_exclusive_group()
    where.add_argument("--target", metavar="ADDRESS:PORT[/udp]", help="probe this server")
    where.add_argument("--listen", metavar="ADDRESS:PORT[/udp]", help="wait here for a client")
    where.add_argument("--pcap", metavar="FILE", help="match a capture's payloads as a client's")
    hand.add_argument("--package", help="the Debian package of the program (its version)")
    hand.add_argument("--package-version", help="its version, when not installed (dpkg -x)")
    hand.add_argument("--program", help="the program's name (default: the package)")
    hand.add_argument("--probe", action="append",
                      help="--target: only this probe (repeatable); --pcap: match the payloads "
                           "as answers to this probe (default: as a client's, `client`)")
    hand.add_argument("--workers", type=int, default=16,
                      help="--target: probes at once (a server may limit connections)")
    hand.add_argument("--idle", type=float, default=READ_IDLE,
                      help="--target: seconds of silence that end a reply")
    hand.add_argument("--sender", metavar="ADDRESS[:PORT]",
                      help="--pcap: only the payloads sent from there")
    hand.add_argument("--any-source", action="store_true",
                      help="--target .../udp: take the answer from any address")
    hand.add_argument("--join", action="store_true",
                      help="--pcap: match all a sender sent on a flow so far, not each payload")
    hand.add_argument("--run", help="--listen: a shell command to run once listening")
    hand.add_argument("--wait", type=float, default=10.0, help="--listen: seconds to wait")
    hand.add_argument("--what", help="what the bytes are (default: 'answer to PROBE', ...)")
    hand.add_argument("--rule", action="append", help="only examples for this rule (repeatable)")
    return ap


def main() -> int:
    known = [k for k in KINDS if not KINDS[k].tls] + [
        f"udp:{n}" for n, spec in udp_lab.SPECS.items() if spec.fixed is None]
    a = _arguments().parse_args()
    if a.list:
        print("\n".join(known))
        return 0
    hand = bool(a.target or a.listen or a.pcap)
    names = a.servers or ([] if hand else known)
    unknown = [n for n in names if n not in known]
    if unknown or (hand and (names or not a.package)):
        why = (f"unknown server(s) {', '.join(unknown)} (see --list)" if unknown else
               "--target, --listen and --pcap need --package and no lab server")
        print(f"capture_examples: {why}", file=sys.stderr)
        return 2
    try:
        if a.target or a.listen:
            parse_address(a.target or a.listen)
    except ValueError as exc:
        print(f"capture_examples: {exc}", file=sys.stderr)
        return 2
    probes = list(load_probes().probes)
    udp: list[udp_lab.UdpServer] = []
    if hand:
        return record(by_hand(a, probes, list(load_fingerprints().rules)), a)
    with Lab() as lab:
        try:
            found = [c for t in _start_all(lab, names, udp)
                     for c in captures(t, probes, list(load_fingerprints().rules))]
            return record(iter(found), a)
        finally:
            for server in udp:
                server.stop()


def record(found: Iterator[Capture], a: argparse.Namespace) -> int:
    """Print (and with --write append) an example for each capture whose rule wants one."""
    by_id = {r.id: r for r in load_fingerprints().rules}
    written: set[str] = set()
    for c in found:
        rule = by_id[c.match.fingerprint_id]
        has = any(e.captured for e in rule.examples) or rule.id in written
        if (has and not a.all) or (a.rule and rule.id not in a.rule):
            continue
        lines = example(c)
        t = c.target
        print(f"# {t.name} {t.ip}:{t.port}/{t.transport} {c.probe} -> {rule.id} ({rule.source})")
        print("\n".join(lines) + "\n", flush=True)
        if a.write:
            append_example(rule, lines)
            written.add(rule.id)
            by_id = {r.id: r for r in load_fingerprints().rules}  # line numbers moved
    if a.write:
        print(f"# appended examples to {len(written)} rule(s): {', '.join(sorted(written))}",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
