from __future__ import annotations

import pytest

from probescan.protocols import ldap
from probescan.protocols.errors import NeedMore, ParseError
from tests.protocols.helpers import assert_prefixes_decline, recorded

TCP = recorded("ldap", "tcp")
UDP = recorded("ldap", "udp")


def test_recorded_messages_parse() -> None:
    ops = [ldap.parse_message(m).op_name for _, m in TCP]
    assert ops[:2] == ["bindRequest", "searchRequest"]
    assert "bindResponse" in ops and "searchResEntry" in ops
    bind = ldap.parse_message(TCP[0][1])
    assert bind.request and bind.message_id == 1


def test_cldap_datagram_of_two_messages() -> None:
    req, resp = (ldap.parse_message(m, cldap=True) for _, m in UDP)
    assert (req.op_name, req.dn) == ("searchRequest", "")
    assert resp.op_name == "searchResEntry" and not resp.request


@pytest.mark.parametrize("message", [m for _, m in TCP], ids=range(len(TCP)))
def test_every_prefix_declines(message: bytes) -> None:
    assert_prefixes_decline(ldap.parse_message, message)


def test_every_prefix_of_a_datagram_declines() -> None:
    assert_prefixes_decline(lambda d: ldap.parse_message(d, cldap=True), UDP[0][1])
    two = UDP[1][1]
    boundary = ldap.parse_message(two, cldap=True).length  # one whole message: a datagram
    assert_prefixes_decline(lambda d: ldap.parse_message(d, cldap=True), two[:boundary])
    for n in range(boundary + 1, len(two)):
        with pytest.raises((NeedMore, ParseError)):
            ldap.parse_message(two[:n], cldap=True)


@pytest.mark.parametrize("data", [
    "300c020101600702010004008000",  # bind version 0
    "300c02010161070a010104000400",  # bindResponse whose resultCode is made a BOOLEAN below
    "300c020100600702010304008000",  # bind with message id 0
    "3005020101420100",  # unbind carrying a byte
])
def test_bad_messages_are_refused(data: str) -> None:
    raw = bytes.fromhex(data)
    if data.startswith("300c02010161"):
        raw = raw.replace(b"\x0a\x01\x01", b"\x01\x01\x01")
    with pytest.raises(ParseError):
        ldap.parse_message(raw)
