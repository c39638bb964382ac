from __future__ import annotations

import pytest

from probescan.protocols import oncrpc
from probescan.protocols.errors import ParseError
from tests.protocols.helpers import assert_prefixes_decline, recorded

UDP = [m for svc in ("rpcbind", "nfs", "sunrpc") for m in recorded(svc, "udp")]
TCP = [m for svc in ("rpcbind", "nfs") for m in recorded(svc, "tcp")]


def test_calls_and_replies() -> None:
    parsed = [oncrpc.parse_message(m) for _, m in UDP]
    calls = [m for m in parsed if m.call]
    assert {m.program_name for m in calls} == {"portmapper", "mountd", "ypbind"}
    assert all(m.status == "SUCCESS" for m in parsed if not m.call)
    for side, m in TCP:
        msg = oncrpc.parse_message(m, tcp=True)
        assert msg.call == (side == "client") and msg.length == len(m)


@pytest.mark.parametrize("message", [m for _, m in UDP if _ == "client"])
def test_every_prefix_of_a_call_declines(message: bytes) -> None:
    assert_prefixes_decline(oncrpc.parse_message, message[:40])


@pytest.mark.parametrize("message", [m for _, m in TCP])
def test_every_prefix_of_a_record_declines(message: bytes) -> None:
    assert_prefixes_decline(lambda d: oncrpc.parse_message(d, tcp=True), message[:28])


def test_bad_calls_are_refused() -> None:
    call = bytearray(next(m for side, m in UDP if side == "client"))
    call[11] = 3  # rpcvers 3
    with pytest.raises(ParseError):
        oncrpc.parse_message(bytes(call))
    call = bytearray(next(m for side, m in UDP if side == "client"))
    call[27] = 9  # credential flavor 9
    with pytest.raises(ParseError):
        oncrpc.parse_message(bytes(call))
