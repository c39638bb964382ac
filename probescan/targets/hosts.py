"""Hosts to scan: `iter_hosts` expands target specs minus exclude specs, lazily.

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
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from probescan.targets.addresses import AddressSet, Octets, Span, Target, ip_str
from probescan.targets.hostspec import (
    Resolver,
    SpecParser,
    resolve_name,
    spec_tokens,
    split_exclude,
)

__all__ = ["Host", "iter_hosts"]


@dataclass(frozen=True, slots=True)
class Host:
    """One address to scan; `hostname` is set when the user named it by hostname."""

    ip: str
    hostname: str | None = None

    def __str__(self) -> str:
        return f"{self.hostname} ({self.ip})" if self.hostname else self.ip


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
    parser = SpecParser(resolve, "target", all_addresses=False)
    targets = [t for token in spec_tokens(specs, "target") for t in parser.parse(token)]
    excluded = AddressSet()
    exclude_parser = SpecParser(resolve, "exclude", all_addresses=True)
    for token in spec_tokens(exclude_specs, "exclude") if exclude_specs else []:
        for target in exclude_parser.parse(token):
            excluded.add(target)
    return _expand(targets, excluded)


def _expand(targets: list[Target], excluded: AddressSet) -> Iterator[Host]:
    seen = AddressSet()  # addresses already yielded without hostname
    seen_named: set[tuple[int, int, str]] = set()
    for target in targets:
        if isinstance(target, Octets):
            for octets in itertools.product(*target.octets):
                a, b, c, d = octets
                value = (a << 24) | (b << 16) | (c << 8) | d
                if not excluded.contains(4, value) and not seen.contains(4, value):
                    yield Host(ip_str(4, value))
        else:
            yield from _expand_span(target, excluded, seen, seen_named)
        seen.add(target, except_named=True)


def _expand_span(
    span: Span,
    excluded: AddressSet,
    seen: AddressSet,
    seen_named: set[tuple[int, int, str]],
) -> Iterator[Host]:
    version, value = span.version, span.first
    while value <= span.last:
        if value == span.named and span.hostname is not None:
            key = (version, value, span.hostname)
            if key not in seen_named and not excluded.contains(version, value):
                seen_named.add(key)
                yield Host(ip_str(version, value, span.scope), span.hostname)
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
            yield Host(ip_str(version, value, span.scope))
        value += 1

