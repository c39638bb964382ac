"""-R: the DNS names (PTR) of addresses, looked up together, bounded in time. Shown beside
the address in the table, -oN and -oG; records keep the name the user gave (`hostname`)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait

__all__ = ["reverse_names"]

Lookup = Callable[[str], str | None]


def ptr_name(ip: str) -> str | None:
    """The name the resolver gives for `ip`, None when it has none."""
    try:
        name = socket.gethostbyaddr(ip)[0]
    except (OSError, UnicodeError):
        return None
    return name if name and name != ip else None


def reverse_names(ips: Sequence[str], timeout: float = 5.0, workers: int = 32,
                  lookup: Lookup = ptr_name) -> Mapping[str, str]:
    """Address -> name for the addresses that have one, after at most `timeout` seconds in
    all (the lookups still running then are left to finish on their own)."""
    unique = list(dict.fromkeys(ips))
    if not unique:
        return {}
    pool = ThreadPoolExecutor(max_workers=min(workers, len(unique)))
    try:
        futures = {pool.submit(lookup, ip): ip for ip in unique}
        done, _ = wait(futures, timeout=timeout)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return {futures[f]: name for f in done if (name := f.result())}
