"""What to scan: target, exclude, port and shard specifications, expanded lazily.

* `hostspec`: host spec syntax (nmap's: addresses, CIDRs, octet ranges, hostnames, IPv6),
  ``--exclude`` lists, name resolution;
* `addresses`: parsed specs and the interval sets that keep them;
* `hosts`: `Host` and `iter_hosts`, the lazy, de-duplicated expansion;
* `files`: ``-iL`` target files;
* `ports`: ``-p`` specs and ``--top-ports`` (the rankings are in `probescan.catalog.ports`);
* `endpoints`: (host, port) pairs; `shards`: ``--shard I/N``.

Every error is a `TargetError` (a ValueError) whose message is one line naming the bad token,
e.g. ``bad target '10.0.0.5-1': octet range end below start``.
"""

from probescan.catalog.ports import PORTS_FILE, port_names
from probescan.targets.endpoints import endpoints
from probescan.targets.errors import TargetError
from probescan.targets.files import read_target_file
from probescan.targets.hosts import Host, iter_hosts
from probescan.targets.hostspec import Resolver, resolve_name, split_exclude
from probescan.targets.ports import parse_ports, top_ports, top_ports_selection
from probescan.targets.shards import parse_shard, shard

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
    "top_ports_selection",
]
