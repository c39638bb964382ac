"""Parsed host specs and sets of them.

A parsed spec is a `Span`, contiguous addresses of one IP version (an address, a network, a
simple octet range), or an `Octets` pattern, a non-contiguous IPv4 octet product such as
``10.0-1.0.1-3``. An `AddressSet` holds many specs as merged intervals per IP version,
searched by bisection, plus the patterns, tested one by one.
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

__all__ = ["AddressSet", "Octets", "Span", "Target", "ip_str"]


@dataclass(frozen=True, slots=True)
class Span:
    """Contiguous addresses first..last of one IP version; `named` carries `hostname`."""

    version: int
    first: int
    last: int
    scope: str | None = None
    hostname: str | None = None
    named: int | None = None


@dataclass(frozen=True, slots=True)
class Octets:
    """A non-contiguous IPv4 octet pattern: the product of four sorted value lists."""

    octets: tuple[tuple[int, ...], ...]

    def __contains__(self, value: int) -> bool:
        return all(
            (value >> shift) & 0xFF in allowed
            for shift, allowed in zip((24, 16, 8, 0), self.octets, strict=True)
        )


Target = Span | Octets


def ip_str(version: int, value: int, scope: str | None = None) -> str:
    if version == 4:
        return str(ipaddress.IPv4Address(value))
    text = str(ipaddress.IPv6Address(value))
    return f"{text}%{scope}" if scope else text


class AddressSet:
    """Addresses of many specs: merged intervals per IP version plus octet patterns."""

    def __init__(self) -> None:
        self._starts: dict[int, list[int]] = {4: [], 6: []}
        self._ends: dict[int, list[int]] = {4: [], 6: []}
        self._patterns: list[Octets] = []

    def add(self, target: Target, *, except_named: bool = False) -> None:
        """Add all addresses of `target`; with `except_named`, not its hostname's address."""
        if isinstance(target, Octets):
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

