from __future__ import annotations

import pytest

from probescan.protocols import snmp
from probescan.protocols.errors import ParseError
from tests.protocols.helpers import assert_prefixes_decline, recorded

MESSAGES = recorded("snmp")


def test_recorded_messages_parse() -> None:
    found = [(m.version, m.pdu_name) for m in (snmp.parse_message(d) for _, d in MESSAGES)]
    assert ("1", "GetRequest") in found and ("1", "Trap") in found
    assert ("2c", "GetBulkRequest") in found and ("2c", "SNMPv2-Trap") in found
    assert ("3", "Report") in found and ("3", "encrypted") in found
    first = snmp.parse_message(MESSAGES[0][1])
    assert (first.community, first.answer) == ("public", False)


@pytest.mark.parametrize("message", [m for _, m in MESSAGES], ids=range(len(MESSAGES)))
def test_every_prefix_declines(message: bytes) -> None:
    assert_prefixes_decline(snmp.parse_message, message)


def test_wrong_version_or_pdu_is_refused() -> None:
    v1 = bytearray(MESSAGES[0][1])
    v1[4] = 2  # version 2 is not a version SNMP uses
    with pytest.raises(ParseError):
        snmp.parse_message(bytes(v1))
    v2_trap = next(m for _, m in MESSAGES if snmp.parse_message(m).pdu_name == "SNMPv2-Trap")
    as_v1 = bytearray(v2_trap)
    as_v1[4] = 0  # an SNMPv2-Trap PDU in a v1 message
    with pytest.raises(ParseError):
        snmp.parse_message(bytes(as_v1))
