"""Helpers shared by the detectors of this family: run a one-side parser on both sides.

A side parser takes one side's bytes (the first datagram over UDP, the joined stream over
TCP) and returns its facts, or raises NeedMore (a valid prefix) or ParseError (not this
protocol). `both_sides` runs it on each side that sent something and tells, per side,
what came of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from probescan.detect.base import NEED_MORE, Messages, NeedMoreType, joined
from probescan.protocols.errors import NeedMore, ParseError

T = TypeVar("T")


def first_bytes(side: tuple[bytes, ...], transport: str) -> bytes:
    """What a side parser reads: the first datagram (UDP) or the joined stream (TCP)."""
    if not side:
        return b""
    return joined(side) if transport == "tcp" else side[0]


def run(parse: Callable[[bytes], T], data: bytes) -> T | NeedMoreType | None:
    """parse(data), NEED_MORE on NeedMore, None on ParseError or when there is nothing."""
    if not data:
        return None
    try:
        return parse(data)
    except NeedMore:
        return NEED_MORE
    except (ParseError, ValueError, IndexError):
        return None


def both_sides(msgs: Messages, parse: Callable[[bytes], T]) -> tuple[
        T | NeedMoreType | None, T | NeedMoreType | None]:
    """(client outcome, server outcome) of `parse` on each side's first bytes."""
    return (run(parse, first_bytes(msgs.client, msgs.transport)),
            run(parse, first_bytes(msgs.server, msgs.transport)))


def waiting(*outcomes: object) -> NeedMoreType | None:
    """NEED_MORE when some side is a valid prefix, else None."""
    return NEED_MORE if any(o is NEED_MORE for o in outcomes) else None


def swapped(client: object, server: object, kind: type[T],
            is_request: Callable[[T], bool]) -> bool:
    """Whether the recorded client sent an answer, or the recorded server a request."""
    return ((isinstance(client, kind) and not is_request(client))
            or (isinstance(server, kind) and is_request(server)))
