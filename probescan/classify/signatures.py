"""Behaviour signatures: protocols that specifications pin to addresses or sizes (pure but
for `load`).

Some protocols say who they talk to or how long their messages are, and a flow whose payload
was not captured (a headers-only capture, a zero snap length) still shows both: mDNS queries
go to 224.0.0.251 / ff02::fb (RFC 6762), a WireGuard handshake is a 148-byte initiation
answered by a 92-byte response (the WireGuard paper), a client's first QUIC datagram is at
least 1200 bytes (RFC 9000 §14.1). A signature is such a rule, written as data
(profiles/signatures.toml) from the specification, with examples its tests check:

    [[signature]]
    name = "wireguard-handshake"     # unique: what the record shows
    service = "wireguard"            # the name probescan's services use
    transport = "udp"
    spec = "WireGuard paper §5.4.2, §5.4.3, §5.4.7"
    confidence = 4                   # nmap's 0..10 scale; at most 5, below payload evidence
    start = ["c 148", "s 92,64"]     # the first payload packets, in order: side, sizes
    examples = [{ sizes = [148, -92, 32] }]
    counter = [{ sizes = [148, -100] }]     # behaviours it must not match

Conditions (every one given must hold):

* `to`: the addresses one end must have (a multicast group, "255.255.255.255", or
  "broadcast": the limited broadcast or an IPv4 address ending in .255); the other end is the
  sender, whose payload `client`, `start` and `from` then read (whichever role the flow table
  gave it);
* `from`: the addresses the sender must have (DHCP's 0.0.0.0);
* `start`: the first payload packets in order, each `c SIZES` (from the client) or `s SIZES`
  (from the server); or a list of such lists, any of which may hold;
* `client`, `server`: SIZES every kept payload packet of that side must be in (a side that
  sent nothing passes);
* `packets`: SIZES the count of kept payload packets must be in.

SIZES is a comma-separated list of `N`, `N-M`, `N-` (N or more) and `A+Bn` (A, A+B, A+2B...).
Sizes are payload sizes from the IP and UDP/TCP lengths (classify/features.py). A port number
is never read. The file's order is the order tried; the first signature that matches names
the flow.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from probescan.catalog.problems import Problem, load_tables
from probescan.classify.features import Behaviour

MAX_CONFIDENCE = 5  # below any payload evidence (engine/verdict.py LABEL: 6..10)
TRANSPORTS = ("tcp", "udp")
BROADCAST = "broadcast"
_KEYS = frozenset({"name", "service", "transport", "spec", "confidence", "to", "from",
                   "start", "client", "server", "packets", "examples", "counter"})
_UNICAST_SERVER, _UNICAST_CLIENT = "192.0.2.1", "198.51.100.7"  # examples' default ends

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class SignatureError(Exception):
    """A signature file that cannot be used; `str()` is `file:line: why`."""


@dataclass(frozen=True, slots=True)
class Sizes:
    """A set of sizes: `(low, high, step)` terms; high is math.inf for `N-` and `A+Bn`."""

    terms: tuple[tuple[int, float, int], ...]
    text: str

    def __contains__(self, n: int) -> bool:
        return any(lo <= n <= hi and (n - lo) % step == 0 for lo, hi, step in self.terms)


@dataclass(frozen=True, slots=True)
class Example:
    sizes: tuple[int, ...]
    to: str = _UNICAST_SERVER
    sender: str = _UNICAST_CLIENT  # `from`


@dataclass(frozen=True, slots=True)
class Signature:
    name: str
    service: str
    transport: str
    spec: str
    confidence: int
    to: tuple[Address | str, ...] = ()  # addresses, or BROADCAST
    sender: tuple[Address, ...] = ()  # `from`
    start: tuple[tuple[tuple[int, Sizes], ...], ...] = ()  # alternatives of (side, sizes)
    client: Sizes | None = None
    server: Sizes | None = None
    packets: Sizes | None = None
    examples: tuple[Example, ...] = ()
    counter: tuple[Example, ...] = ()
    line: int = 0

    def matches(self, b: Behaviour, server_ip: str, client_ip: str) -> bool:
        """Does the flow (its behaviour and its ends' addresses) show this signature?"""
        if b.transport != self.transport or not b.sizes:
            return False
        sizes = b.sizes
        sender = client_ip
        if self.to:
            if _is_in(server_ip, self.to):
                pass
            elif _is_in(client_ip, self.to):  # the flow table made the group the client
                sizes, sender = tuple(-n for n in sizes), server_ip
            else:
                return False
        if self.sender and not _is_in(sender, self.sender):
            return False
        return self._sizes_match(sizes)

    def _sizes_match(self, sizes: Sequence[int]) -> bool:
        if self.packets is not None and len(sizes) not in self.packets:
            return False
        if self.client is not None and any(n > 0 and n not in self.client for n in sizes):
            return False
        if self.server is not None and any(n < 0 and -n not in self.server for n in sizes):
            return False
        return not self.start or any(_starts(sizes, alt) for alt in self.start)


def _starts(sizes: Sequence[int], alt: tuple[tuple[int, Sizes], ...]) -> bool:
    if len(sizes) < len(alt):
        return False
    return all((n > 0) == (side > 0) and abs(n) in want
               for n, (side, want) in zip(sizes, alt, strict=False))


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


def _is_in(ip: str, wanted: Iterable[Address | str]) -> bool:
    addr = _address(ip)
    if addr is None:
        return False
    for w in wanted:
        if w == BROADCAST:
            if addr.version == 4 and (ip.endswith(".255")):
                return True
        elif addr == w:
            return True
    return False


@dataclass(frozen=True, slots=True)
class SignatureSet:
    signatures: tuple[Signature, ...] = ()
    files: tuple[str, ...] = ()

    def match(self, b: Behaviour, server_ip: str, client_ip: str) -> Signature | None:
        """The first signature the flow shows, or None."""
        return next((s for s in self.signatures if s.matches(b, server_ip, client_ip)), None)


def match(signatures: SignatureSet, b: Behaviour, server_ip: str, client_ip: str
          ) -> Signature | None:
    return signatures.match(b, server_ip, client_ip)


def example_behaviour(transport: str, sizes: Sequence[int]) -> Behaviour:
    """The Behaviour of an example flow: its sizes (client first), a millisecond apart."""
    c = [n for n in sizes if n > 0]
    s = [-n for n in sizes if n < 0]
    first = None if not sizes else ("client" if sizes[0] > 0 else "server")
    return Behaviour(transport, tuple(sizes), tuple(i / 1000 for i in range(len(sizes))),
                     (len(c), len(s)), (sum(c), sum(s)), (0, 0), (0, 0), (False, False),
                     False, first, len(sizes) / 1000, False, None)


# ---- the file ------------------------------------------------------------------------
def parse_sizes(text: object) -> Sizes:
    """`"148"`, `"92,64"`, `"1200-"`, `"4-516"`, `"32+16n"` -> Sizes; ValueError."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"sizes must be a text like \"48,68\" or \"1200-\", not {text!r}")
    terms: list[tuple[int, float, int]] = []
    for raw in text.split(","):
        term = raw.strip()
        try:
            if term.endswith("n") and "+" in term:
                a, b = term[:-1].split("+", 1)
                lo, hi, step = int(a), math.inf, int(b)
            elif term.endswith("-"):
                lo, hi, step = int(term[:-1]), math.inf, 1
            elif "-" in term:
                a, b = term.split("-", 1)
                lo, hi, step = int(a), int(b), 1
            else:
                lo = int(term)
                hi, step = lo, 1
        except ValueError:
            raise ValueError(f"sizes {text!r}: {term!r} is not N, N-M, N- or A+Bn") from None
        if lo < 0 or hi < lo or step < 1 or lo > 65535:
            raise ValueError(f"sizes {text!r}: {term!r} is empty or out of 0..65535")
        terms.append((lo, hi, step))
    return Sizes(tuple(terms), text)


def _start(value: object) -> tuple[tuple[tuple[int, Sizes], ...], ...]:
    if not isinstance(value, list) or not value:
        raise ValueError("start must be a list like [\"c 148\", \"s 92\"] (or a list of them)")
    alternatives = value if all(isinstance(v, list) for v in value) else [value]
    out = []
    for alt in alternatives:
        steps = []
        for item in alt:
            if not isinstance(item, str) or item[:2] not in ("c ", "s "):
                raise ValueError(f"start: {item!r} must be \"c SIZES\" or \"s SIZES\"")
            steps.append((1 if item[0] == "c" else -1, parse_sizes(item[2:])))
        if not steps:
            raise ValueError("start: an empty alternative")
        out.append(tuple(steps))
    return tuple(out)


def _addresses(value: object, key: str, broadcast: bool) -> tuple[Address | str, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"{key} must be a list of addresses")
    out: list[Address | str] = []
    for v in value:
        addr = _address(v) if isinstance(v, str) else None
        if isinstance(v, str) and v == BROADCAST and broadcast:
            out.append(BROADCAST)
        elif addr is None:
            raise ValueError(f"{key}: {v!r} is not an address"
                             + (" or \"broadcast\"" if broadcast else ""))
        else:
            out.append(addr)
    return tuple(out)


def _text(t: dict[str, Any], key: str) -> str:
    value = t.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{key} must be a non-empty text")
    return value


def _examples(value: object, key: str) -> tuple[Example, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValueError(f"{key} must be a list of {{ sizes = [...] }} tables")
    out = []
    for e in value:
        if not isinstance(e, dict) or set(e) - {"sizes", "to", "from"}:
            raise ValueError(f"{key}: each is {{ sizes = [...], to = \"...\", from = \"...\" }}")
        sizes = e.get("sizes")
        if (not isinstance(sizes, list) or not sizes or not all(
                isinstance(n, int) and not isinstance(n, bool) and n != 0 for n in sizes)):
            raise ValueError(f"{key}: sizes must be non-zero integers (+ client, - server)")
        ends = [e.get(k, d) for k, d in (("to", _UNICAST_SERVER), ("from", _UNICAST_CLIENT))]
        for end in ends:
            if not isinstance(end, str) or _address(end) is None:
                raise ValueError(f"{key}: {end!r} is not an address")
        out.append(Example(tuple(sizes), ends[0], ends[1]))
    return tuple(out)


def build(t: dict[str, Any], line: int) -> Signature:
    """One [[signature]] table -> Signature, its examples checked; ValueError says why."""
    unknown = sorted(set(t) - _KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)}")
    name, service, spec = _text(t, "name"), _text(t, "service"), _text(t, "spec")
    transport = t.get("transport")
    if transport not in TRANSPORTS:
        raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}, not {transport!r}")
    confidence = t.get("confidence")
    if (isinstance(confidence, bool) or not isinstance(confidence, int)
            or not 1 <= confidence <= MAX_CONFIDENCE):
        raise ValueError(f"confidence must be an integer 1..{MAX_CONFIDENCE} (below payload "
                         f"evidence), not {confidence!r}")
    conditions = {k for k in ("to", "start", "client", "server") if k in t}
    if not conditions:
        raise ValueError("a signature needs `to`, `start`, `client` or `server`")
    sig = Signature(
        name, service, str(transport), spec, confidence,
        to=_addresses(t["to"], "to", True) if "to" in t else (),
        sender=tuple(a for a in _addresses(t["from"], "from", False)
                     if not isinstance(a, str)) if "from" in t else (),
        start=_start(t["start"]) if "start" in t else (),
        client=parse_sizes(t["client"]) if "client" in t else None,
        server=parse_sizes(t["server"]) if "server" in t else None,
        packets=parse_sizes(t["packets"]) if "packets" in t else None,
        examples=_examples(t.get("examples"), "examples"),
        counter=_examples(t.get("counter"), "counter"), line=line)
    if not sig.examples:
        raise ValueError(f"signature {name!r}: give at least one example")
    for e in sig.examples:
        if not sig.matches(example_behaviour(sig.transport, e.sizes), e.to, e.sender):
            raise ValueError(f"signature {name!r}: example {list(e.sizes)} does not match")
    for e in sig.counter:
        if sig.matches(example_behaviour(sig.transport, e.sizes), e.to, e.sender):
            raise ValueError(f"signature {name!r}: counter-example {list(e.sizes)} matches")
    return sig


def load(paths: Iterable[Path]) -> SignatureSet:
    """Signatures from TOML files, in order; SignatureError (`file:line: why`) for the
    first problem: a file that cannot be read, a bad table, a name given twice."""
    signatures: list[Signature] = []
    files: list[str] = []
    seen: dict[str, str] = {}
    for path in paths:
        built, problems = load_tables(path, "signature", build)
        if problems:
            raise SignatureError(str(problems[0]))
        if not built:
            raise SignatureError(str(Problem(str(path), 1, "no [[signature]] tables")))
        for s in built:
            if s.name in seen:
                raise SignatureError(str(Problem(str(path), s.line,
                                                 f"name {s.name!r} given twice")))
            seen[s.name] = str(path)
        signatures += built
        files.append(str(path))
    return SignatureSet(tuple(signatures), tuple(files))
