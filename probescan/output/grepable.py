"""-oG: nmap's "grepable" lines, one host per line, as a sink (probescan.output.sink).

    # probescan 0.1.0 scan initiated Sat Dec 07 10:00:00 2024 as: probescan scan -oG - db1
    Host: 192.0.2.7 (db1)	Status: Up
    Host: 192.0.2.7 (db1)	Ports: 22/open/tcp//ssh//OpenSSH 9.2p1 (Debian-2)/, 443/open/tcp//
    ssl|http//nginx 1.22.1/	Ignored State: closed (998)
    (one line, cut here)
    # probescan done at Sat Dec 07 10:00:03 2024 -- 1 IP address (1 host up) scanned in 3.02 seconds

A port is `port/state/protocol/owner/service/rpc info/version/`; a `/` inside a field
becomes `|` (as nmap writes `ssl|http`). Written at close(), like -oN.
"""

from __future__ import annotations

from probescan.model import ServiceRecord
from probescan.output.hosts import Host, HostsText, service_text, version_text
from probescan.output.text import safe


def _field(text: str) -> str:
    return safe(text).replace("/", "|")


def port_field(r: ServiceRecord) -> str:
    return (f"{r.endpoint.port}/{r.state}/{r.endpoint.transport}//"
            f"{_field(service_text(r))}//{_field(version_text(r))}/")


def host_lines(host: Host, names: dict[str, str], ping: bool) -> list[str]:
    lead = f"Host: {host.ip} ({_field(names.get(host.ip) or (host.names or [''])[0])})"
    lines = [f"{lead}\tStatus: {'Up' if host.up else 'Down'}"]
    ports = host.ports()
    if ping or not ports:
        return lines
    line = f"{lead}\tPorts: " + ", ".join(port_field(r) for r in ports)
    hidden = host.not_shown()
    if hidden:  # nmap names the most common state left out
        state = hidden[0][1]
        line += f"\tIgnored State: {state} ({sum(c for c, s, _ in hidden if s == state)})"
    return [*lines, line]


class GrepableText(HostsText):
    """A sink writing nmap's grepable output to `stream` at close(). `listed`, `ping` and
    `names` as for NormalText."""

    def host_text(self, host: Host, names: dict[str, str]) -> str:
        return "".join(line + "\n" for line in host_lines(host, names, self._ping))
