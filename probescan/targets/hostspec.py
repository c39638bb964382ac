"""Host spec tokens (nmap syntax) -> parsed specs; hostnames resolved on the way.

One spec per whitespace-separated token:

* IPv4 and IPv6 addresses: ``10.0.0.1``, ``::1``, ``[::1]``, ``fe80::1%eth0``;
* CIDR networks, v4 and v6: ``10.0.0.0/30``, ``2001:db8::/126``, ``scanme.example/28``
  (like nmap, every address of the network is included, network and broadcast too; host bits
  of the address are ignored: ``10.0.0.7/30`` is ``10.0.0.4/30``);
* IPv4 octet ranges and lists in any octet: ``10.0.0.1-20``, ``10.0-1.0.1-3``,
  ``10.0.0.1,3,5``, ``10.0.0.-``/``10.0.0.*`` (0-255), ``10.0.0.-9`` (0-9), ``10.0.0.250-``
  (250-255); octet numbers are plain decimal (a leading zero is rejected as ambiguous);
* hostnames, resolved through an injectable ``resolve`` function (default: `resolve_name`,
  i.e. ``socket.getaddrinfo``). As in nmap, a target hostname scans its FIRST address; an
  exclude hostname removes ALL of its addresses.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable

from probescan.targets.addresses import Octets, Span, Target
from probescan.targets.errors import bad, quote

__all__ = ["Resolver", "SpecParser", "resolve_name", "spec_tokens", "split_exclude"]

Resolver = Callable[[str], list[str]]
"""Name -> its addresses, best first; [] (or an OSError) when it does not resolve."""

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_BITS = {4: 32, 6: 128}


def resolve_name(name: str) -> list[str]:
    """Default resolver: the addresses `socket.getaddrinfo` gives for `name`, in its order."""
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    out: list[str] = []
    for info in infos:
        ip = str(info[4][0])
        if ip not in out:
            out.append(ip)
    return out


_V4_SHAPE = re.compile(r"[0-9*,-]+(?:\.[0-9*,-]+){3}")
_LABEL = r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
_DIGITS = re.compile(r"[0-9]+")
_NOT_A_TARGET = "not an address, network or hostname"


def _octet_number(kind: str, token: str, text: str) -> int:
    if not _DIGITS.fullmatch(text):
        raise bad(kind, token, f"{_NOT_A_TARGET} (octet item {quote(text)})")
    if len(text) > 1 and text[0] == "0":
        raise bad(kind, token, f"octet {quote(text)} has a leading zero (ambiguous)")
    value = int(text)
    if value > 255:
        raise bad(kind, token, f"{_NOT_A_TARGET} (octet {value} out of range 0-255)")
    return value


def _parse_octet(kind: str, token: str, part: str) -> tuple[int, ...]:
    values: set[int] = set()
    for item in part.split(","):
        if not item:
            raise bad(kind, token, f"empty item in octet {quote(part)}")
        if item in ("*", "-"):
            low, high = 0, 255
        elif "-" in item:
            left, _, right = item.partition("-")
            low = _octet_number(kind, token, left) if left else 0
            high = _octet_number(kind, token, right) if right else 255
            if high < low:
                raise bad(kind, token, f"octet range end below start ({item})")
        else:
            low = high = _octet_number(kind, token, item)
        values.update(range(low, high + 1))
    return tuple(sorted(values))


def _octet_target(kind: str, token: str, text: str) -> Target:
    octets = tuple(_parse_octet(kind, token, part) for part in text.split("."))
    multi = [i for i, values in enumerate(octets) if len(values) > 1]
    if not multi:  # one address written as a pattern: 10.0.0.1,1 or 10.0.0.1-1
        value = int(ipaddress.IPv4Address(".".join(str(v[0]) for v in octets)))
        return Span(4, value, value)
    k = multi[0]
    run = octets[k]
    contiguous = run[-1] - run[0] == len(run) - 1 and all(
        len(values) == 256 for values in octets[k + 1 :]
    )
    if not contiguous:
        return Octets(octets)
    first = int(ipaddress.IPv4Address(".".join(str(v[0]) for v in octets)))
    last = int(ipaddress.IPv4Address(".".join(str(v[-1]) for v in octets)))
    return Span(4, first, last)


def _parse_prefix(kind: str, token: str, text: str, version: int) -> int:
    if not _DIGITS.fullmatch(text):
        raise bad(kind, token, f"prefix length {quote(text)} is not a number")
    prefix = int(text)
    if prefix > _BITS[version]:
        raise bad(
            kind,
            token,
            f"prefix length /{prefix} out of range for IPv{version} (0-{_BITS[version]})",
        )
    return prefix


def _network_span(
    kind: str, token: str, addr: _IPAddress, prefix_text: str, hostname: str | None = None
) -> Span:
    prefix = _parse_prefix(kind, token, prefix_text, addr.version)
    try:
        net = ipaddress.ip_network(f"{addr}/{prefix}", strict=False)
    except ValueError as exc:  # pragma: no cover - prefix already checked
        raise bad(kind, token, str(exc).splitlines()[0]) from None
    scope = getattr(addr, "scope_id", None)
    return Span(
        addr.version,
        int(net.network_address),
        int(net.broadcast_address),
        scope=scope,
        hostname=hostname,
        named=int(addr) if hostname else None,
    )


def _single_span(addr: _IPAddress, hostname: str | None = None) -> Span:
    value = int(addr)
    scope = getattr(addr, "scope_id", None)
    named = value if hostname else None
    return Span(addr.version, value, value, scope=scope, hostname=hostname, named=named)


def _ascii_hostname(text: str) -> str | None:
    """The ASCII (IDNA) form of a syntactically valid hostname, else None."""
    try:
        name = text if text.isascii() else text.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    if not _HOSTNAME.fullmatch(name) or len(name.rstrip(".")) > 253:
        return None
    if name.rstrip(".").rsplit(".", 1)[-1].isdigit():  # 10.0.0.300, 10.0.0: no TLD is numeric
        return None
    return name


class SpecParser:
    def __init__(self, resolve: Resolver, kind: str, all_addresses: bool) -> None:
        self.resolve = resolve
        self.kind = kind
        self.all_addresses = all_addresses
        self.cache: dict[str, list[_IPAddress]] = {}

    def lookup(self, token: str, name: str) -> list[_IPAddress]:
        if name in self.cache:
            return self.cache[name]
        try:
            answers = self.resolve(name)
        except OSError:
            answers = []
        addrs: list[_IPAddress] = []
        for answer in answers:
            try:
                addrs.append(ipaddress.ip_address(answer))
            except ValueError:
                raise bad(
                    self.kind, token, f"resolver returned a non-address {quote(str(answer))}"
                ) from None
        if not addrs:
            raise bad(self.kind, token, "hostname does not resolve")
        self.cache[name] = addrs
        return addrs

    def parse(self, token: str) -> list[Target]:
        kind = self.kind
        if token.count("/") > 1:
            raise bad(kind, token, _NOT_A_TARGET)
        text, slash, prefix = token.partition("/")
        if slash and not prefix:
            raise bad(kind, token, "missing prefix length after '/'")
        bracketed = text.startswith("[") and text.endswith("]")
        if bracketed:
            text = text[1:-1]
        try:
            addr = ipaddress.ip_address(text)
        except ValueError:
            pass
        else:
            if bracketed and addr.version != 6:
                raise bad(kind, token, "brackets are only for IPv6 addresses")
            return [_network_span(kind, token, addr, prefix) if slash else _single_span(addr)]
        if bracketed:
            raise bad(kind, token, "not an IPv6 address")
        if _V4_SHAPE.fullmatch(text):
            target = _octet_target(kind, token, text)
            if slash:
                raise bad(kind, token, "octet ranges cannot be combined with a /prefix")
            return [target]
        name = _ascii_hostname(text)
        if name is None:
            raise bad(kind, token, _NOT_A_TARGET)
        addrs = self.lookup(token, name)
        if not self.all_addresses:
            addrs = addrs[:1]
        if slash:
            return [_network_span(kind, token, addr, prefix, hostname=text) for addr in addrs]
        return [_single_span(addr, hostname=text) for addr in addrs]


def spec_tokens(specs: str | Iterable[str], kind: str) -> list[str]:
    if isinstance(specs, str):
        specs = [specs]
    tokens: list[str] = []
    for spec in specs:
        words = spec.split()
        if not words:
            raise bad(kind, spec, "empty")
        tokens.extend(words)
    return tokens


def split_exclude(text: str) -> list[str]:
    """Split an ``--exclude`` value into specs: commas and whitespace separate specs, but a
    comma followed by a bare octet item continues an IPv4 octet list, so
    ``10.0.0.1,3,5,192.168.0.0/24`` is ``['10.0.0.1,3,5', '192.168.0.0/24']``."""
    out: list[str] = []
    for word in text.split():
        for item in word.split(","):
            if not item:
                raise bad("exclude list", text, "empty item")
            continues_octets = (
                out
                and re.fullmatch(r"[0-9*-]+", item)
                and "." in out[-1]
                and "/" not in out[-1]
                and ":" not in out[-1]
            )
            if continues_octets:
                out[-1] = f"{out[-1]},{item}"
            else:
                out.append(item)
    return out

