"""``--shard I/N``: split the endpoint stream deterministically between N scanners."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator
from typing import TypeVar

from probescan.targets.errors import bad

__all__ = ["parse_shard", "shard"]

_T = TypeVar("_T")


def parse_shard(text: str) -> tuple[int, int]:
    """``--shard I/N`` -> (I, N) with 1 <= I <= N (I is 1-based)."""
    match = re.fullmatch(r"\s*([0-9]+)\s*/\s*([0-9]+)\s*", text)
    if not match:
        raise bad("shard", text, "expected I/N with 1 <= I <= N, e.g. 2/4")
    index, count = int(match[1]), int(match[2])
    _check_shard(text, index, count)
    return index, count


def _check_shard(token: str, index: int, count: int) -> None:
    if count < 1:
        raise bad("shard", token, "shard count must be at least 1")
    if not 1 <= index <= count:
        raise bad("shard", token, f"index must be between 1 and the shard count ({count})")


def shard(items: Iterable[_T], i: int, n: int) -> Iterator[_T]:
    """Shard `i` of `n` (1-based, as `parse_shard` returns): the items whose 0-based position
    k has k mod n == i - 1. Deterministic, lazy; the n shards partition the input."""
    _check_shard(f"{i}/{n}", i, n)
    return itertools.islice(items, i - 1, None, n)
