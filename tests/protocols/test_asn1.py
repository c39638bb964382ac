from __future__ import annotations

import pytest

from probescan.protocols import asn1
from probescan.protocols.errors import NeedMore, ParseError


def test_short_and_long_lengths() -> None:
    t = asn1.read_tlv(b"\x30\x03\x02\x01\x05")
    assert (t.cls, t.constructed, t.tag, t.start, t.end) == (0, True, 16, 2, 5)
    t = asn1.read_tlv(b"\x04\x81\x02ab")
    assert (t.start, t.end) == (3, 5)
    assert asn1.octets(b"\x04\x81\x02ab", t) == b"ab"


def test_high_tag_numbers() -> None:
    t = asn1.read_tlv(b"\x9f\x6e\x01x")
    assert (t.cls, t.tag, t.constructed) == (asn1.CONTEXT, 110, False)
    with pytest.raises(ParseError):
        asn1.read_tlv(b"\x9f\x1e\x00")  # a low number in the high form


@pytest.mark.parametrize("data", [b"\x30\x80\x00\x00", b"\x04\x85\x00\x00\x00\x00\x01"])
def test_indefinite_and_huge_lengths_are_refused(data: bytes) -> None:
    with pytest.raises(ParseError):
        asn1.read_tlv(data, outer=True)


def test_cut_outer_value_is_need_more_inner_is_parse_error() -> None:
    with pytest.raises(NeedMore):
        asn1.read_tlv(b"\x30\x05\x02\x01", outer=True)
    with pytest.raises(ParseError):
        asn1.read_tlv(b"\x30\x05\x02\x01")
    seq = asn1.read_tlv(b"\x30\x03\x02\x05\x00")
    with pytest.raises(ParseError):  # the child claims more than its parent holds
        asn1.children(b"\x30\x03\x02\x05\x00", seq)


def test_walk_reads_a_prefix() -> None:
    data = b"\x30\x0a\xa0\x03\x02\x01\x05\xa1\x03\x02"
    seq = asn1.read_header(data, outer=True)
    found, whole = asn1.walk(data, seq.start, seq.end)
    assert [t.tag for t in found] == [0, 1] and not whole
    assert found[1].end > len(data)


def test_values() -> None:
    data = b"\x02\x02\xff\x7f\x01\x01\xff\x06\x08\x2b\x06\x01\x02\x01\x01\x01\x00"
    i = asn1.read_tlv(data, 0, len(data))
    assert asn1.integer(data, i) == -129
    b = asn1.read_tlv(data, i.end, len(data))
    assert asn1.boolean(data, b) is True
    o = asn1.read_tlv(data, b.end, len(data))
    assert asn1.oid(data, o) == "1.3.6.1.2.1.1.1.0"


def test_check_tree_finds_a_bad_nested_length() -> None:
    good = b"\x30\x05\x30\x03\x02\x01\x01"
    asn1.check_tree(good, asn1.read_tlv(good))
    bad = b"\x30\x05\x30\x03\x02\x02\x01"
    with pytest.raises(ParseError):
        asn1.check_tree(bad, asn1.read_tlv(bad))
