"""BOOTP / DHCP messages: captured isc-dhcp-client and dnsmasq messages, and hand-made faults.

DISCOVER: isc-dhcp-client 4.4.3-P1 (dhclient -4 with host-name "probehost" and vendor class
"probescan-test") to dnsmasq 2.90, captured in a network namespace; its samples live in
tests/data/detect/lan.toml, loaded from there.
"""

from __future__ import annotations

import pytest

from probescan.protocols import ParseError
from probescan.protocols.dhcp import COOKIE, parse_message
from tests.detect.samples import load_samples
from tests.protocols.helpers import assert_every_prefix_needs_more

_DHCP = [s for s in load_samples() if s.service == "dhcps"]
DISCOVER = _DHCP[0].msgs.client[0]
OFFER = _DHCP[1].msgs.client[0]
BOOTP = next(s for s in _DHCP if "RFC 951" in s.source).msgs.client[0]


def test_discover_options() -> None:
    m = parse_message(DISCOVER)
    assert (m.op, m.htype, m.hlen, m.cookie) == (1, 1, 6, True)
    assert m.type_name == "DISCOVER"
    assert m.hostname == "probehost"
    assert m.vendor_class == "probescan-test"
    assert m.params == (1, 3, 6, 12, 42)
    assert len(m.chaddr) == 6


def test_offer_is_a_reply_with_the_same_transaction() -> None:
    m = parse_message(OFFER)
    assert m.op == 2 and m.type_name == "OFFER"
    assert m.xid == parse_message(DISCOVER).xid


def test_plain_bootp_without_cookie() -> None:
    m = parse_message(BOOTP)
    assert not m.cookie and m.message_type is None
    assert (m.type_name, m.sname, m.file) == ("BOOTREQUEST", "boothost", "vmunix")


@pytest.mark.parametrize("data", [DISCOVER, OFFER, BOOTP])
def test_every_prefix_needs_more(data: bytes) -> None:
    end = data.index(b"\xff", 240) if data[236:240] == COOKIE else len(data)
    assert_every_prefix_needs_more(parse_message, data, end)


@pytest.mark.parametrize(("offset", "value"), [
    (0, 3),      # op neither request nor reply
    (1, 0),      # hardware type 0
    (2, 17),     # hardware address longer than chaddr
    (3, 17),     # too many hops
    (11, 1),     # reserved flag bits
    (44, 0x07),  # sname not text
])
def test_fields_no_bootp_message_has(offset: int, value: int) -> None:
    bad = bytearray(DISCOVER)
    bad[offset] = value
    with pytest.raises(ParseError):
        parse_message(bytes(bad))


def test_message_type_must_fit_op() -> None:
    pos = DISCOVER.index(b"\x35\x01\x01", 240)
    bad = bytearray(DISCOVER)
    bad[pos + 2] = 2  # an OFFER sent as a BOOTREQUEST
    with pytest.raises(ParseError):
        parse_message(bytes(bad))
    bad[pos + 2] = 99
    with pytest.raises(ParseError):
        parse_message(bytes(bad))
