"""The shards of a cluster scan: what each worker scans, decided once by the client.

No endpoint list travels: the client parses the target specs and resolves every hostname once
(`make_plan`), and a `Shard` carries that plan (the specs, the exclusions, the ports and the
resolved names) with its number. Each worker expands the same endpoint stream the one-process
scan would (`probescan.targets`), lazily, and keeps its own part of it (`shards.shard`), so
the shards partition the target set whatever its size.

The unit of a shard is a host (all its ports) when there are at least as many hosts as
shards: then `--per-host` holds across the cluster, since one host is scanned by one worker.
With fewer hosts than shards (a few hosts, many ports) the unit is an endpoint.
Pure: no Dask here (a worker imports this; the property tests run it without a cluster).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from probescan.model import Endpoint
from probescan.targets import Host, TargetError, endpoints, iter_hosts, resolve_name, shard
from probescan.targets.hostspec import Resolver

__all__ = ["Shard", "TargetPlan", "make_plan", "split"]


@dataclass(frozen=True, slots=True)
class TargetPlan:
    """Everything a worker needs to expand the targets exactly as the client would."""

    specs: tuple[str, ...]
    exclude: tuple[str, ...]
    ports: tuple[tuple[str, int], ...]
    names: tuple[tuple[str, tuple[str, ...]], ...] = ()  # hostname -> addresses (client's DNS)
    outer: tuple[int, int] | None = None  # --shard I/N: this cluster scans only that part

    def hosts(self) -> Iterator[Host]:
        return iter_hosts(list(self.specs), list(self.exclude), resolve=self._resolve)

    def endpoints(self) -> Iterator[Endpoint]:
        """The whole endpoint stream, in the one-process scan's order (`--shard` applied)."""
        stream = endpoints(self.hosts(), self.ports)
        if self.outer is not None:
            stream = shard(stream, *self.outer)
        return stream

    def _resolve(self, name: str) -> list[str]:
        for known, addresses in self.names:
            if known == name:
                return list(addresses)
        raise TargetError(f"bad target '{name}': not resolved by the client")  # never: see plan


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard `index` of `count` (1-based) of the plan's endpoints, by host or by endpoint."""

    plan: TargetPlan
    index: int
    count: int
    by_host: bool = True

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def endpoints(self) -> Iterator[Endpoint]:
        if self.by_host and self.plan.outer is None:  # skip hosts, not endpoints: cheaper
            return endpoints(shard(self.plan.hosts(), self.index, self.count), self.plan.ports)
        stream = self.plan.endpoints()
        if not self.by_host:
            return shard(stream, self.index, self.count)
        groups = itertools.groupby(stream, key=lambda ep: (ep.ip, ep.hostname))
        mine = shard(groups, self.index, self.count)
        return (ep for _, group in mine for ep in group)


def make_plan(
    specs: Sequence[str],
    exclude: Sequence[str],
    ports: Sequence[tuple[str, int]],
    outer: tuple[int, int] | None = None,
    resolve: Resolver = resolve_name,
) -> TargetPlan:
    """Parse and check the specs (raises TargetError) and resolve every hostname once."""
    names: dict[str, tuple[str, ...]] = {}

    def recording(name: str) -> list[str]:
        if name not in names:
            names[name] = tuple(resolve(name))
        return list(names[name])

    iter_hosts(list(specs), list(exclude), resolve=recording)  # parses, resolves, checks
    endpoints((), ports)  # checks the transports
    return TargetPlan(tuple(specs), tuple(exclude), tuple((t, p) for t, p in ports),
                      tuple(sorted(names.items())), outer)


def split(plan: TargetPlan, wanted: int, total: int | None) -> list[Shard]:
    """About `wanted` shards of the plan (`total`: its endpoint count, None when unknown).
    By host when there are enough hosts; never more shards than units to share."""
    wanted = max(1, wanted)
    per_host = max(1, len(plan.ports))
    hosts = None if total is None else -(-total // per_host)
    by_host = hosts is None or hosts >= wanted
    units = hosts if by_host else total
    count = wanted if units is None else max(1, min(wanted, units))
    return [Shard(plan, i, count, by_host) for i in range(1, count + 1)]
