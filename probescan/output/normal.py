"""-oN: nmap's "normal" text, host by host, as a sink (probescan.output.sink).

Records come in any order; the text groups them by host, so the sink keeps them and writes
everything at close(), also after an interrupted run (the last line says so):

    # probescan 0.1.0 scan initiated Sat Dec 07 10:00:00 2024 as: probescan scan -oN - db1
    probescan scan report for db1 (192.0.2.7)
    Host is up (0.00031s latency).
    Not shown: 998 closed tcp ports (conn-refused)
    PORT     STATE SERVICE    VERSION
    22/tcp   open  ssh        OpenSSH 9.2p1 (Debian-2+deb12u3)
    5432/tcp open  postgresql PostgreSQL 15.8
    Service Info: OS: Linux; CPE: cpe:/o:linux:linux_kernel

    # probescan done at Sat Dec 07 10:00:03 2024 -- 1 IP address (1 host up) scanned in 3.02 seconds

The program names itself (as masscan does in nmap's formats); the layout is nmap's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from typing import IO

from probescan.model import STATE_REASONS
from probescan.output.hosts import TOOL, Host, HostsText, Names, service_text, version_text
from probescan.output.text import safe


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def not_shown(host: Host) -> str:
    """`Not shown: 998 closed tcp ports (conn-refused), 1 filtered tcp port (no-response)`."""
    parts = [f"{_plural(n, f'{state} {proto} port')} ({STATE_REASONS.get((proto, state), '?')})"
             for n, state, proto in host.not_shown()]
    return "Not shown: " + ", ".join(parts)


def port_lines(host: Host, reason: bool) -> list[str]:
    """The PORT table of a host, columns padded as nmap pads them; TLS facts below a port."""
    rows = [["PORT", "STATE", "SERVICE", *(["REASON"] if reason else []), "VERSION"]]
    extra: dict[int, str] = {}
    for r in host.ports():
        rows.append([f"{r.endpoint.port}/{r.endpoint.transport}", r.state, service_text(r),
                     *([r.why] if reason else []), version_text(r)])
        if r.tls is not None:
            t = r.tls
            facts = [" ".join(x for x in (t.version, t.cipher) if x)]
            facts += [f"{k} {safe(v)}" for k, v in (("subject", t.subject),
                      ("issuer", t.issuer), ("not after", t.not_after)) if v]
            extra[len(rows) - 1] = "|_tls: " + "; ".join(f for f in facts if f)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    out = []
    for i, row in enumerate(rows):
        out.append(" ".join(c.ljust(w) for c, w in zip(row, widths, strict=False))
                   + " " + row[-1])
        out[-1] = out[-1].rstrip()
        if i in extra:
            out.append(extra[i])
    return out


def service_info(host: Host) -> str | None:
    """nmap's `Service Info:` line: what the services say of the host."""
    facts: dict[str, list[str]] = {"Host": [], "OS": [], "Device": [], "CPE": []}
    for r in host.ports():
        for key, value in (("Host", r.hostname), ("OS", r.os), ("Device", r.device)):
            if value and safe(value) not in facts[key]:
                facts[key].append(safe(value))
        facts["CPE"] += [safe(c) for c in r.cpe if c.startswith("cpe:/o") and
                         safe(c) not in facts["CPE"]]
    shown = [f"{k}{'s' if len(v) > 1 else ''}: {', '.join(v)}"
             for k, v in facts.items() if v]
    return "Service Info: " + "; ".join(shown) if shown else None


def host_block(host: Host, names: dict[str, str], *, reason: bool, ping: bool) -> list[str]:
    lines = [f"{TOOL} scan report for {host.title(names)}"]
    if host.up:
        rtt = f" ({min(host.rtts):.5f}s latency)" if host.rtts else ""
        lines.append(f"Host is up{rtt}.")
    else:
        lines.append("Host did not answer (no port accepted or refused a connection).")
    if ping:
        return lines
    ports = host.ports()
    hidden = sum(n for n, _, _ in host.not_shown())
    if not ports:
        if hidden:
            lines.append(f"All {hidden} scanned ports on {host.title(names)} are in ignored "
                         "states.")
            lines.append(not_shown(host))
        return lines
    if hidden:
        lines.append(not_shown(host))
    lines += port_lines(host, reason)
    info = service_info(host)
    if info:
        lines.append(info)
    return lines


class NormalText(HostsText):
    """A sink writing nmap's normal output to `stream` at close(). `listed`: the states given
    a PORT line (None: every state); the others are counted in "Not shown". `ping`: -sn, only
    whether each host is up. `names`: -R's lookup of addresses (called once, at close)."""

    def __init__(self, stream: IO[str], args: Sequence[str], *, listed: Collection[str] | None,
                 reason: bool = False, ping: bool = False, names: Names | None = None,
                 close_stream: bool = True, clock: Callable[[], float] = time.time) -> None:
        super().__init__(stream, args, listed=listed, ping=ping, names=names,
                         close_stream=close_stream, clock=clock)
        self._reason = reason

    def host_text(self, host: Host, names: dict[str, str]) -> str:
        block = "\n".join(host_block(host, names, reason=self._reason, ping=self._ping)) + "\n"
        return block if self._ping else block + "\n"
