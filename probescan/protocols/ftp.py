"""FTP control lines that announce a data connection (pure).

RFC 959 PASV reply and PORT command, RFC 2428 EPSV reply and EPRT command. The watcher reads
them off FTP control flows to recognise the data connections that follow, which run between
ports that tell nothing and carry arbitrary file bytes.

* `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)`: the server listens on h1.h2.h3.h4, port
  p1*256+p2 (the text around the numbers varies by server; only the numbers count);
* `229 Entering Extended Passive Mode (|||port|)`: the server listens on the control
  connection's server address;
* `PORT h1,h2,h3,h4,p1,p2` and `EPRT |1|addr|port|` / `EPRT |2|addr|port|`: the client
  listens there and the server connects to it (the data flow's server is the FTP client).
"""

from __future__ import annotations

import ipaddress
import re

Endpoint = tuple[str, int]

_SIX_NUMBERS = re.compile(rb"(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})")
_EPSV = re.compile(rb"\((.)\1\1(\d{1,5})\1\)")
_EPRT = re.compile(rb"(.)([12])\1([0-9A-Fa-f:.]{2,45})\1(\d{1,5})\1")
MAX_LINE = 512


def _line(data: bytes) -> bytes | None:
    end = data.find(b"\n", 0, MAX_LINE)
    return data[:end] if end >= 0 else None


def _six(text: bytes) -> Endpoint | None:
    m = _SIX_NUMBERS.search(text)
    if m is None:
        return None
    nums = [int(g) for g in m.groups()]
    if any(n > 255 for n in nums):
        return None
    port = nums[4] * 256 + nums[5]
    return (".".join(map(str, nums[:4])), port) if port else None


def data_endpoint_from_reply(data: bytes, server_ip: str) -> Endpoint | None:
    """The endpoint a server's PASV (227) or EPSV (229) reply announces, from the start of
    the server's bytes; None for anything else or an unfinished line."""
    line = _line(data)
    if line is None:
        return None
    if line.startswith(b"227 "):
        return _six(line[4:])
    if line.startswith(b"229 "):
        m = _EPSV.search(line)
        if m is None:
            return None
        port = int(m.group(2))
        return (server_ip, port) if 0 < port < 65536 else None
    return None


def data_endpoint_from_command(data: bytes) -> Endpoint | None:
    """The endpoint a client's PORT or EPRT command announces (the client listens there)."""
    line = _line(data)
    if line is None:
        return None
    verb = line[:5].upper()
    if verb == b"PORT ":
        return _six(line[5:])
    if verb == b"EPRT ":
        m = _EPRT.match(line[5:].strip())
        if m is None:
            return None
        try:
            addr = ipaddress.ip_address(m.group(3).decode("ascii"))
        except ValueError:
            return None
        if addr.version != int(m.group(2)) * 2 + 2:  # 1 -> IPv4, 2 -> IPv6
            return None
        port = int(m.group(4))
        return (str(addr), port) if 0 < port < 65536 else None
    return None
