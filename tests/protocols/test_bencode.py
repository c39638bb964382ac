"""Bencoding (BEP 3) from BEP 3's and BEP 5's own examples, and what strict decoding refuses."""

from __future__ import annotations

import pytest

from probescan.protocols import NeedMore, ParseError
from probescan.protocols.bencode import decode, decode_prefix

PING = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"  # BEP 5


def test_bep_examples() -> None:
    assert decode(b"4:spam") == b"spam"
    assert decode(b"i3e") == 3 and decode(b"i-3e") == -3 and decode(b"i0e") == 0
    assert decode(b"l4:spam4:eggse") == [b"spam", b"eggs"]
    assert decode(b"d3:cow3:moo4:spam4:eggse") == {b"cow": b"moo", b"spam": b"eggs"}
    assert decode(b"d4:spaml1:a1:bee") == {b"spam": [b"a", b"b"]}
    assert decode(b"0:") == b"" and decode(b"le") == [] and decode(b"de") == {}
    assert decode(PING) == {b"a": {b"id": b"abcdefghij0123456789"}, b"q": b"ping",
                            b"t": b"aa", b"y": b"q"}


@pytest.mark.parametrize("bad", [
    b"i03e", b"i-0e", b"i-e", b"ie", b"i1.5e", b"03:abc", b"d3:cow3:moo3:ant1:xe",
    b"d3:cow3:moo3:cow1:xe", b"di1e1:xe", b"x", b"4:spamX", b"l4:spame4:eggs", b"i9" * 30,
])
def test_strict_refusals(bad: bytes) -> None:
    with pytest.raises(ParseError):
        decode(bad)


def test_every_prefix_needs_more() -> None:
    for cut in range(len(PING)):
        with pytest.raises(NeedMore):
            decode(PING[:cut])


def test_prefix_decoding_and_depth() -> None:
    assert decode_prefix(b"i42eXYZ") == (42, 4)
    with pytest.raises(ParseError):
        decode(b"l" * 40 + b"e" * 40)
