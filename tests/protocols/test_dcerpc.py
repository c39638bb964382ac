from __future__ import annotations

import pytest

from probescan.protocols import dcerpc
from probescan.protocols.errors import NeedMore, ParseError
from tests.protocols.helpers import assert_prefixes_decline, recorded

TCP = recorded("msrpc", "tcp")
UDP = recorded("msrpc", "udp")


def test_connection_oriented_pdus() -> None:
    bind = dcerpc.parse_co(TCP[0][1])
    assert (bind.type_name, bind.interface_name, bind.request) == ("bind", "epmapper", True)
    request = dcerpc.parse_co(TCP[0][1], bind.length)
    assert request.type_name == "request"
    ack = dcerpc.parse_co(TCP[1][1])
    assert (ack.type_name, ack.request) == ("bind_ack", False)


def test_connectionless_pdus() -> None:
    req, resp = (dcerpc.parse_cl(m) for _, m in UDP)
    assert (req.type_name, req.interface_name) == ("request", "PNIO-Device")
    assert resp.type_name == "response" and not resp.request


@pytest.mark.parametrize("message", [m for _, m in TCP[1:]])
def test_every_prefix_declines(message: bytes) -> None:
    assert_prefixes_decline(dcerpc.parse_co, message)


@pytest.mark.parametrize("message", [m for _, m in UDP])
def test_every_prefix_of_a_datagram_declines(message: bytes) -> None:
    assert_prefixes_decline(dcerpc.parse_cl, message)


def test_bad_headers_are_refused() -> None:
    pdu = bytearray(TCP[1][1])
    pdu[4] = 0x20  # an undefined data representation
    with pytest.raises(ParseError):
        dcerpc.parse_co(bytes(pdu))
    pdu = bytearray(TCP[1][1])
    pdu[8] = 8  # fragment shorter than its header
    with pytest.raises(ParseError):
        dcerpc.parse_co(bytes(pdu))
    with pytest.raises(NeedMore):
        dcerpc.parse_cl(UDP[0][1][:79])
