"""NetBIOS name, datagram and session packets: captured Samba 4.17.12 traffic (nmblookup,
nmbd, smbclient and smbd in a pair of network namespaces; the samples of
tests/data/detect/lan.toml) and hand-made faults."""

from __future__ import annotations

import pytest

from probescan.protocols import ParseError
from probescan.protocols.netbios import decode_name, parse_dgm, parse_ns, parse_ssn
from tests.detect.samples import load_samples
from tests.protocols.helpers import assert_every_prefix_needs_more

_SAMPLES = load_samples()
_NS = [s for s in _SAMPLES if s.service == "netbios-ns"]
QUERY, ANSWER = _NS[0].msgs.client[0], _NS[0].msgs.server[0]
NBSTAT, STATUS = _NS[1].msgs.client[0], _NS[1].msgs.server[0]
DGM = next(s for s in _SAMPLES if s.service == "netbios-dgm").msgs.client[0]
SSN = next(s for s in _SAMPLES if s.service == "netbios-ssn")
REQUEST, POSITIVE = SSN.msgs.client[0], SSN.msgs.server[0]


def test_name_query_and_answer() -> None:
    q = parse_ns(QUERY)
    assert (q.response, q.opcode, len(q.questions)) == (False, 0, 1)
    assert str(q.questions[0][0]) == "DLBHOST<00>" and q.questions[0][1] == 0x20
    a = parse_ns(ANSWER)
    assert a.response and a.id == q.id and a.rcode == 0
    assert a.records[0][1] == 0x20


def test_node_status_for_the_wildcard() -> None:
    q = parse_ns(NBSTAT)
    assert q.questions[0][0].name == "*" and q.questions[0][1] == 0x21
    assert parse_ns(STATUS).records[0][1] == 0x21


def test_browser_datagram() -> None:
    d = parse_dgm(DGM)
    assert d.type_name == "DIRECT_GROUP" and d.source_port == 138
    assert str(d.source) == "DLBHOST<00>" and str(d.destination) == "PROBEGRP<1d>"


def test_session_request_and_positive_response() -> None:
    p = parse_ssn(REQUEST)
    assert p.type_name == "SESSION_REQUEST" and p.length == 68
    assert str(p.called) == "DLBHOST<20>" and str(p.calling) == "DLAHOST<00>"
    assert parse_ssn(POSITIVE).type_name == "POSITIVE_RESPONSE"


def test_msbrowse_name_keeps_its_control_bytes() -> None:
    raw = b"\x01\x02__MSBROWSE__\x02\x01"
    enc = b"\x20" + bytes(x for c in raw for x in (0x41 + (c >> 4), 0x41 + (c & 15))) + b"\0"
    name, end = decode_name(enc, 0)
    assert end == len(enc) and name.name == "\\x01\\x02__MSBROWSE__\\x02" and name.suffix == 1


@pytest.mark.parametrize(("parse", "data"), [
    (parse_ns, QUERY), (parse_ns, ANSWER), (parse_ns, NBSTAT), (parse_ns, STATUS),
    (parse_dgm, DGM), (parse_ssn, REQUEST), (parse_ssn, POSITIVE),
])
def test_every_prefix_needs_more(parse: object, data: bytes) -> None:
    assert callable(parse)
    assert_every_prefix_needs_more(parse, data, len(data))


@pytest.mark.parametrize(("parse", "data", "offset", "value"), [
    (parse_ns, QUERY, 2, 0x18),    # opcode 3
    (parse_ns, QUERY, 3, 0x40),    # reserved flag bit
    (parse_ns, QUERY, 12, 0x1F),   # not a 32-letter label
    (parse_ns, QUERY, 13, 0x5A),   # letter outside A-P
    (parse_ns, QUERY, 47, 0x05),   # question type neither NB nor NBSTAT
    (parse_dgm, DGM, 0, 0x17),     # datagram type
    (parse_dgm, DGM, 1, 0x12),     # reserved flag bits
    (parse_dgm, DGM, 11, 0x00),    # length does not cover the datagram
    (parse_ssn, REQUEST, 0, 0x86), # packet type
    (parse_ssn, REQUEST, 3, 0x45), # length does not match the two names
    (parse_ssn, POSITIVE, 3, 0x01),  # a positive response has no trailer
])
def test_fields_no_netbios_packet_has(parse: object, data: bytes, offset: int,
                                     value: int) -> None:
    assert callable(parse)
    bad = bytearray(data)
    bad[offset] = value
    with pytest.raises(ParseError):
        parse(bytes(bad))
