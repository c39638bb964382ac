"""JARM of a TLS endpoint: the method's ten ClientHellos (probescan/protocols/jarm.py) on ten
connections at once, the first read of each answer, the fingerprint.

Each connection holds a slot of the scan's limits like any other. A connection that fails
answers "|||" (as in the reference); one that stays silent longer than the probe wait makes
the fingerprint zeros (the reference's timeout, shortened from its 20 s to the scan's wait).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Literal

from probescan.engine.conn import ConnectFailed, Dialer
from probescan.model import Endpoint
from probescan.protocols.jarm import (
    PROBES,
    READ_SIZE,
    TIMEOUT,
    JarmProbe,
    client_hello,
    fingerprint,
)

Answer = bytes | Literal["timeout"] | None


async def _ask(dialer: Dialer, ep: Endpoint, probe: JarmProbe, wait: float) -> Answer:
    try:
        conn = await dialer.connect(ep)
    except ConnectFailed as e:
        return TIMEOUT if e.state == "filtered" else None
    try:
        conn.writer.write(client_hello(probe, ep.hostname or ep.ip))
        async with asyncio.timeout(wait):
            await conn.writer.drain()
            return await conn.reader.read(READ_SIZE)
    except TimeoutError:
        return TIMEOUT
    except OSError:
        return None
    finally:
        with contextlib.suppress(Exception):
            conn.abort()


async def jarm(dialer: Dialer, ep: Endpoint, wait: float) -> str:
    """The endpoint's JARM (62 characters; zeros when it cannot be taken)."""
    answers = await asyncio.gather(*(_ask(dialer, ep, p, wait) for p in PROBES))
    return fingerprint(answers)
