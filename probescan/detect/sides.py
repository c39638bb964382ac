"""Helpers shared by the detector families: run a one-side parser on both sides, and
decide from what each side gave.

A side parser takes one side's bytes (the first datagram over UDP, the joined stream over
TCP) and returns its facts, or raises NeedMore (a valid prefix) or ParseError (not this
protocol). `both_sides` runs it on each side that sent something and tells, per side,
what came of it. `decided`, `either_stream` and `mirrored` take side checks that return a
Detection, NEED_MORE or None.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from probescan.detect.base import NEED_MORE, Detection, Messages, NeedMoreType, Result, joined
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


def decided(*outcomes: Result) -> Result:
    """The first Detection among the sides' outcomes; else NEED_MORE when some side is a
    valid prefix; else None."""
    for r in outcomes:
        if isinstance(r, Detection):
            return r
    return waiting(*outcomes)


def either_stream(msgs: Messages, check: Callable[[bytes], Result]) -> Result:
    """`check` the client's stream, then (unless it proved the protocol) the server's: as
    `decided`."""
    best: Result = None
    for stream in (msgs.client_stream, msgs.server_stream):
        r = check(stream)
        if isinstance(r, Detection):
            return r
        best = best or r
    return best


def mirrored(client: Result, server: Result) -> Result:
    """For a side check that reads each side as if the client sent it: the client side's
    Detection; else the server side's with `swapped` turned over; else as `waiting`."""
    if isinstance(client, Detection):
        return client
    if isinstance(server, Detection):
        return replace(server, swapped=not server.swapped)
    return waiting(client, server)
