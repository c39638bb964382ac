"""What to scan: target, exclude, port and shard specifications, expanded lazily.

Host specs (nmap syntax), one per whitespace-separated token:

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

Every spec (targets and excludes) is parsed, and every hostname resolved, when `iter_hosts` is
called, so a bad token fails before anything is scanned; the addresses themselves are produced
lazily (a /8 or an IPv6 /64 is never materialised).

Duplicates: each (ip, hostname) pair is yielded once. An address without hostname that an
earlier spec already produced is skipped. This stays cheap because specs are not expanded to
check it: contiguous specs (addresses, networks, simple ranges) are kept as merged intervals
searched by bisection, and runs of addresses covered by an earlier or excluded interval are
jumped over wholesale; only non-contiguous octet patterns (``10.0-1.0.1-3``) are tested one by
one, so the cost per host is O(log S + P) for S contiguous and P non-contiguous specs.
An address reached through two different hostnames is scanned once per hostname (virtual hosts
may differ), and once more when also given as a plain address.

Ports (`parse_ports`): ``22,80,8000-8100``, ``-`` (1-65535, what ``-p-`` passes), ``-1024``
(1-1024), ``60000-`` (60000-65535), ``T:22,80,U:53,161`` (a prefix holds until the next one),
service names from ``probes/ports.tsv`` (``http`` = every port of that transport named http).
Port 0 is allowed only when written explicitly.

Every error is a `TargetError` (a ValueError) whose message is one line naming the bad token,
e.g. ``bad target '10.0.0.5-1': octet range end below start``.
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
import re
import socket
import sys
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from probescan.catalog.paths import data_dir
from probescan.model import Endpoint, Transport

__all__ = [
    "PORTS_FILE",
    "Host",
    "Resolver",
    "TargetError",
    "endpoints",
    "iter_hosts",
    "parse_ports",
    "parse_shard",
    "port_names",
    "read_target_file",
    "resolve_name",
    "shard",
    "split_exclude",
    "top_ports",
]

Resolver = Callable[[str], list[str]]
"""Name -> its addresses, best first; [] (or an OSError) when it does not resolve."""

PORTS_FILE = "ports.tsv"
MAX_PORT = 65535

_T = TypeVar("_T")
_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_BITS = {4: 32, 6: 128}


class TargetError(ValueError):
    """A bad target, exclude, port or shard spec; the message is one line naming the token."""


def _quote(token: str) -> str:
    return f"'{token}'" if token.isprintable() else repr(token)


def _bad(kind: str, token: str, reason: str) -> TargetError:
    return TargetError(f"bad {kind} {_quote(token)}: {reason}")


@dataclass(frozen=True, slots=True)
class Host:
    """One address to scan; `hostname` is set when the user named it by hostname."""

    ip: str
    hostname: str | None = None

    def __str__(self) -> str:
        return f"{self.hostname} ({self.ip})" if self.hostname else self.ip


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


# --------------------------------------------------------------------------- parsed specs


@dataclass(frozen=True, slots=True)
class _Span:
    """Contiguous addresses first..last of one IP version; `named` carries `hostname`."""

    version: int
    first: int
    last: int
    scope: str | None = None
    hostname: str | None = None
    named: int | None = None


@dataclass(frozen=True, slots=True)
class _Octets:
    """A non-contiguous IPv4 octet pattern: the product of four sorted value lists."""

    octets: tuple[tuple[int, ...], ...]

    def __contains__(self, value: int) -> bool:
        return all(
            (value >> shift) & 0xFF in allowed
            for shift, allowed in zip((24, 16, 8, 0), self.octets, strict=True)
        )


_Target = _Span | _Octets


def _ip_str(version: int, value: int, scope: str | None = None) -> str:
    if version == 4:
        return str(ipaddress.IPv4Address(value))
    text = str(ipaddress.IPv6Address(value))
    return f"{text}%{scope}" if scope else text


class _AddressSet:
    """Addresses of many specs: merged intervals per IP version plus octet patterns."""

    def __init__(self) -> None:
        self._starts: dict[int, list[int]] = {4: [], 6: []}
        self._ends: dict[int, list[int]] = {4: [], 6: []}
        self._patterns: list[_Octets] = []

    def add(self, target: _Target, *, except_named: bool = False) -> None:
        """Add all addresses of `target`; with `except_named`, not its hostname's address."""
        if isinstance(target, _Octets):
            self._patterns.append(target)
        elif target.named is None or not except_named:
            self.add_interval(target.version, target.first, target.last)
        else:  # the named address was yielded with its hostname, the rest without
            if target.first < target.named:
                self.add_interval(target.version, target.first, target.named - 1)
            if target.named < target.last:
                self.add_interval(target.version, target.named + 1, target.last)

    def add_interval(self, version: int, first: int, last: int) -> None:
        starts, ends = self._starts[version], self._ends[version]
        lo = bisect_left(ends, first - 1)  # first interval touching or after `first`
        hi = bisect_right(starts, last + 1)  # intervals before `hi` start at most at last + 1
        if lo < hi:
            first = min(first, starts[lo])
            last = max(last, ends[hi - 1])
        starts[lo:hi] = [first]
        ends[lo:hi] = [last]

    def interval_end(self, version: int, value: int) -> int | None:
        """End of the stored interval holding `value`, or None."""
        starts = self._starts[version]
        k = bisect_right(starts, value) - 1
        if k >= 0 and self._ends[version][k] >= value:
            return self._ends[version][k]
        return None

    def in_patterns(self, version: int, value: int) -> bool:
        return version == 4 and any(value in pattern for pattern in self._patterns)

    def contains(self, version: int, value: int) -> bool:
        return self.interval_end(version, value) is not None or self.in_patterns(version, value)


# --------------------------------------------------------------------------- host specs

_V4_SHAPE = re.compile(r"[0-9*,-]+(?:\.[0-9*,-]+){3}")
_LABEL = r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
_DIGITS = re.compile(r"[0-9]+")
_NOT_A_TARGET = "not an address, network or hostname"


def _octet_number(kind: str, token: str, text: str) -> int:
    if not _DIGITS.fullmatch(text):
        raise _bad(kind, token, f"{_NOT_A_TARGET} (octet item {_quote(text)})")
    if len(text) > 1 and text[0] == "0":
        raise _bad(kind, token, f"octet {_quote(text)} has a leading zero (ambiguous)")
    value = int(text)
    if value > 255:
        raise _bad(kind, token, f"{_NOT_A_TARGET} (octet {value} out of range 0-255)")
    return value


def _parse_octet(kind: str, token: str, part: str) -> tuple[int, ...]:
    values: set[int] = set()
    for item in part.split(","):
        if not item:
            raise _bad(kind, token, f"empty item in octet {_quote(part)}")
        if item in ("*", "-"):
            low, high = 0, 255
        elif "-" in item:
            left, _, right = item.partition("-")
            low = _octet_number(kind, token, left) if left else 0
            high = _octet_number(kind, token, right) if right else 255
            if high < low:
                raise _bad(kind, token, f"octet range end below start ({item})")
        else:
            low = high = _octet_number(kind, token, item)
        values.update(range(low, high + 1))
    return tuple(sorted(values))


def _octet_target(kind: str, token: str, text: str) -> _Target:
    octets = tuple(_parse_octet(kind, token, part) for part in text.split("."))
    multi = [i for i, values in enumerate(octets) if len(values) > 1]
    if not multi:  # one address written as a pattern: 10.0.0.1,1 or 10.0.0.1-1
        value = int(ipaddress.IPv4Address(".".join(str(v[0]) for v in octets)))
        return _Span(4, value, value)
    k = multi[0]
    run = octets[k]
    contiguous = run[-1] - run[0] == len(run) - 1 and all(
        len(values) == 256 for values in octets[k + 1 :]
    )
    if not contiguous:
        return _Octets(octets)
    first = int(ipaddress.IPv4Address(".".join(str(v[0]) for v in octets)))
    last = int(ipaddress.IPv4Address(".".join(str(v[-1]) for v in octets)))
    return _Span(4, first, last)


def _parse_prefix(kind: str, token: str, text: str, version: int) -> int:
    if not _DIGITS.fullmatch(text):
        raise _bad(kind, token, f"prefix length {_quote(text)} is not a number")
    prefix = int(text)
    if prefix > _BITS[version]:
        raise _bad(
            kind,
            token,
            f"prefix length /{prefix} out of range for IPv{version} (0-{_BITS[version]})",
        )
    return prefix


def _network_span(
    kind: str, token: str, addr: _IPAddress, prefix_text: str, hostname: str | None = None
) -> _Span:
    prefix = _parse_prefix(kind, token, prefix_text, addr.version)
    try:
        net = ipaddress.ip_network(f"{addr}/{prefix}", strict=False)
    except ValueError as exc:  # pragma: no cover - prefix already checked
        raise _bad(kind, token, str(exc).splitlines()[0]) from None
    scope = getattr(addr, "scope_id", None)
    return _Span(
        addr.version,
        int(net.network_address),
        int(net.broadcast_address),
        scope=scope,
        hostname=hostname,
        named=int(addr) if hostname else None,
    )


def _single_span(addr: _IPAddress, hostname: str | None = None) -> _Span:
    value = int(addr)
    scope = getattr(addr, "scope_id", None)
    named = value if hostname else None
    return _Span(addr.version, value, value, scope=scope, hostname=hostname, named=named)


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


class _Parser:
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
                raise _bad(
                    self.kind, token, f"resolver returned a non-address {_quote(str(answer))}"
                ) from None
        if not addrs:
            raise _bad(self.kind, token, "hostname does not resolve")
        self.cache[name] = addrs
        return addrs

    def parse(self, token: str) -> list[_Target]:
        kind = self.kind
        if token.count("/") > 1:
            raise _bad(kind, token, _NOT_A_TARGET)
        text, slash, prefix = token.partition("/")
        if slash and not prefix:
            raise _bad(kind, token, "missing prefix length after '/'")
        bracketed = text.startswith("[") and text.endswith("]")
        if bracketed:
            text = text[1:-1]
        try:
            addr = ipaddress.ip_address(text)
        except ValueError:
            pass
        else:
            if bracketed and addr.version != 6:
                raise _bad(kind, token, "brackets are only for IPv6 addresses")
            return [_network_span(kind, token, addr, prefix) if slash else _single_span(addr)]
        if bracketed:
            raise _bad(kind, token, "not an IPv6 address")
        if _V4_SHAPE.fullmatch(text):
            target = _octet_target(kind, token, text)
            if slash:
                raise _bad(kind, token, "octet ranges cannot be combined with a /prefix")
            return [target]
        name = _ascii_hostname(text)
        if name is None:
            raise _bad(kind, token, _NOT_A_TARGET)
        addrs = self.lookup(token, name)
        if not self.all_addresses:
            addrs = addrs[:1]
        if slash:
            return [_network_span(kind, token, addr, prefix, hostname=text) for addr in addrs]
        return [_single_span(addr, hostname=text) for addr in addrs]


def _tokens(specs: str | Iterable[str], kind: str) -> list[str]:
    if isinstance(specs, str):
        specs = [specs]
    tokens: list[str] = []
    for spec in specs:
        words = spec.split()
        if not words:
            raise _bad(kind, spec, "empty")
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
                raise _bad("exclude list", text, "empty item")
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


def iter_hosts(
    specs: str | Iterable[str],
    exclude: str | Iterable[str] = (),
    resolve: Resolver = resolve_name,
) -> Iterator[Host]:
    """Hosts of `specs` minus `exclude`, in spec order, each (ip, hostname) once.

    `specs` are nmap target tokens (a string is split on whitespace). `exclude` is a list of
    specs of the same syntax or one ``--exclude`` string (split by `split_exclude`). Everything
    is validated (hostnames resolved) before this returns; raises TargetError. The returned
    iterator is lazy. No specs gives an empty iterator.
    """
    exclude_specs = split_exclude(exclude) if isinstance(exclude, str) else list(exclude)
    parser = _Parser(resolve, "target", all_addresses=False)
    targets = [t for token in _tokens(specs, "target") for t in parser.parse(token)]
    excluded = _AddressSet()
    exclude_parser = _Parser(resolve, "exclude", all_addresses=True)
    for token in _tokens(exclude_specs, "exclude") if exclude_specs else []:
        for target in exclude_parser.parse(token):
            excluded.add(target)
    return _expand(targets, excluded)


def _expand(targets: list[_Target], excluded: _AddressSet) -> Iterator[Host]:
    seen = _AddressSet()  # addresses already yielded without hostname
    seen_named: set[tuple[int, int, str]] = set()
    for target in targets:
        if isinstance(target, _Octets):
            for octets in itertools.product(*target.octets):
                a, b, c, d = octets
                value = (a << 24) | (b << 16) | (c << 8) | d
                if not excluded.contains(4, value) and not seen.contains(4, value):
                    yield Host(_ip_str(4, value))
        else:
            yield from _expand_span(target, excluded, seen, seen_named)
        seen.add(target, except_named=True)


def _expand_span(
    span: _Span,
    excluded: _AddressSet,
    seen: _AddressSet,
    seen_named: set[tuple[int, int, str]],
) -> Iterator[Host]:
    version, value = span.version, span.first
    while value <= span.last:
        if value == span.named and span.hostname is not None:
            key = (version, value, span.hostname)
            if key not in seen_named and not excluded.contains(version, value):
                seen_named.add(key)
                yield Host(_ip_str(version, value, span.scope), span.hostname)
            value += 1
            continue
        end = excluded.interval_end(version, value)
        if end is None:
            end = seen.interval_end(version, value)
        if end is not None:  # jump over the whole covered run (but stop at the named one)
            after = end + 1
            if span.named is not None and value < span.named < after:
                after = span.named
            value = after
            continue
        if not excluded.in_patterns(version, value) and not seen.in_patterns(version, value):
            yield Host(_ip_str(version, value, span.scope))
        value += 1


def read_target_file(path: str | Path) -> list[str]:
    """Target tokens of an ``-iL`` file (``-`` = standard input): whitespace-separated specs,
    any number per line; ``#`` starts a comment; blank lines are ignored. Tokens are checked
    later, by `iter_hosts`. An unreadable file raises TargetError naming it."""
    name = str(path)
    try:
        text = sys.stdin.read() if name == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise _bad("target file", name, exc.strerror or type(exc).__name__) from None
    except UnicodeDecodeError as exc:
        raise _bad("target file", name, f"not UTF-8 text (byte {exc.start})") from None
    tokens: list[str] = []
    for line in text.splitlines():
        tokens.extend(line.split("#", 1)[0].split())
    return tokens


# --------------------------------------------------------------------------- ports


def _transport(name: str, kind: str = "transport") -> Transport:
    if name == "tcp":
        return "tcp"
    if name == "udp":
        return "udp"
    raise _bad(kind, name, "expected 'tcp' or 'udp'")


@dataclass(frozen=True, slots=True)
class _PortTable:
    ranked: dict[str, tuple[int, ...]]  # transport -> ports, most often open first
    names: dict[tuple[str, int], str]


def _load_port_table(path: Path) -> _PortTable:
    rows: dict[str, list[tuple[int, int]]] = {"tcp": [], "udp": []}
    names: dict[tuple[str, int], str] = {}
    ranks: set[tuple[str, int]] = set()
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        where = f"{path}:{lineno}"
        if len(fields) != 4:
            raise ValueError(f"{where}: expected 4 TAB-separated columns, got {len(fields)}")
        rank_text, port_text, transport, service = (f.strip() for f in fields)
        if not (rank_text.isdigit() and port_text.isdigit()) or int(port_text) > MAX_PORT:
            raise ValueError(f"{where}: bad rank or port")
        if transport not in rows or not service:
            raise ValueError(f"{where}: bad transport or empty service")
        rank, port = int(rank_text), int(port_text)
        if (transport, port) in names or (transport, rank) in ranks:
            raise ValueError(f"{where}: duplicate port or rank for {transport}")
        names[(transport, port)] = service
        ranks.add((transport, rank))
        rows[transport].append((rank, port))
    ranked = {t: tuple(port for _, port in sorted(r)) for t, r in rows.items()}
    return _PortTable(ranked, names)


@functools.cache
def _port_table() -> _PortTable:
    return _load_port_table(data_dir("probes") / PORTS_FILE)


def port_names() -> dict[tuple[str, int], str]:
    """(transport, port) -> service name from ``probes/ports.tsv`` (a fresh dict)."""
    return dict(_port_table().names)


def top_ports(n: int, transport: str = "tcp") -> list[int]:
    """The `n` ports of `transport` most often found open, by probescan's ``ports.tsv`` rank.

    When `n` exceeds the ranked list, the remaining ports 1-65535 follow in ascending order
    (so ``top_ports(65535)`` is every port but 0; larger n is capped there)."""
    table = _port_table().ranked[_transport(transport)]
    if n < 0:
        raise _bad("top-ports count", str(n), "must be 0 or more")
    if n <= len(table):
        return list(table[:n])
    ranked = set(table)
    rest = (port for port in range(1, MAX_PORT + 1) if port not in ranked)
    return list(table) + list(itertools.islice(rest, n - len(table)))


_PREFIX = re.compile(r"([A-Za-z]):(.*)", re.DOTALL)
_RANGE = re.compile(r"([0-9]*)-([0-9]*)")
_SERVICE = re.compile(r"[A-Za-z][A-Za-z0-9_.+-]*")
_PREFIXES: dict[str, Transport] = {"T": "tcp", "U": "udp"}


def _port_number(item: str, text: str) -> int:
    value = int(text)
    if value > MAX_PORT:
        raise _bad("port spec", item, f"port {value} out of range 0-{MAX_PORT}")
    return value


def _ports_of_item(item: str, body: str, transport: Transport) -> Iterable[int]:
    if _DIGITS.fullmatch(body):
        return (_port_number(item, body),)
    match = _RANGE.fullmatch(body)
    if match:
        low = _port_number(item, match[1]) if match[1] else 1
        high = _port_number(item, match[2]) if match[2] else MAX_PORT
        if high < low:
            raise _bad("port spec", item, "range end below start")
        return range(low, high + 1)
    if _SERVICE.fullmatch(body):
        table = _port_table()
        wanted = body.lower()
        ports = [p for p in table.ranked[transport] if table.names[(transport, p)] == wanted]
        if ports:
            return ports
    raise _bad("port spec", item, "not a port number, range or known service name")


def parse_ports(spec: str, default: str = "tcp") -> list[tuple[str, int]]:
    """(transport, port) pairs of an nmap ``-p`` spec, de-duplicated, in the order given.

    Items are comma-separated: ``N``, ``N-M``, ``-M`` (from 1), ``N-`` (to 65535), ``-``
    (1-65535), or a service name of ``probes/ports.tsv``. ``T:``/``U:`` switch the transport
    for this and the following items; before any prefix `default` applies."""
    transport = _transport(default)
    if not spec.strip():
        raise _bad("port spec", spec, "empty")
    out: list[tuple[str, int]] = []
    seen: set[tuple[str, int]] = set()
    for raw in spec.split(","):
        item = raw.strip()
        body = item
        prefix = _PREFIX.fullmatch(item)
        if prefix:
            letter = prefix[1].upper()
            if letter not in _PREFIXES:
                raise _bad("port spec", item, f"unknown protocol prefix '{prefix[1]}:' (T: or U:)")
            transport = _PREFIXES[letter]
            body = prefix[2].strip()
        if not body:
            raise _bad("port spec", item or spec, "empty item")
        for port in _ports_of_item(item, body, transport):
            key = (transport, port)
            if key not in seen:
                seen.add(key)
                out.append(key)
    return out


# --------------------------------------------------------------------------- endpoints


def endpoints(hosts: Iterable[Host], ports: Iterable[tuple[str, int]]) -> Iterator[Endpoint]:
    """Every (host, port) endpoint, host-major (all ports of a host, then the next host);
    lazy in `hosts`. Transports are checked before this returns."""
    checked = [(_transport(t), port) for t, port in ports]
    return _endpoints(hosts, checked)


def _endpoints(hosts: Iterable[Host], ports: Sequence[tuple[Transport, int]]) -> Iterator[Endpoint]:
    for host in hosts:
        for transport, port in ports:
            yield Endpoint(host.ip, port, transport, host.hostname)


def parse_shard(text: str) -> tuple[int, int]:
    """``--shard I/N`` -> (I, N) with 1 <= I <= N (I is 1-based)."""
    match = re.fullmatch(r"\s*([0-9]+)\s*/\s*([0-9]+)\s*", text)
    if not match:
        raise _bad("shard", text, "expected I/N with 1 <= I <= N, e.g. 2/4")
    index, count = int(match[1]), int(match[2])
    _check_shard(text, index, count)
    return index, count


def _check_shard(token: str, index: int, count: int) -> None:
    if count < 1:
        raise _bad("shard", token, "shard count must be at least 1")
    if not 1 <= index <= count:
        raise _bad("shard", token, f"index must be between 1 and the shard count ({count})")


def shard(items: Iterable[_T], i: int, n: int) -> Iterator[_T]:
    """Shard `i` of `n` (1-based, as `parse_shard` returns): the items whose 0-based position
    k has k mod n == i - 1. Deterministic, lazy; the n shards partition the input."""
    _check_shard(f"{i}/{n}", i, n)
    return itertools.islice(items, i - 1, None, n)
