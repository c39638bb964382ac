"""probescan/bounds.py: long fields are cut to their limit with a visible marker, once."""

from __future__ import annotations

from probescan.bounds import (
    LIST_ITEMS,
    TEXT_BYTES,
    cut_facts,
    cut_items,
    cut_optional,
    cut_text,
)
from probescan.model import (
    EVIDENCE_SHOWN_BYTES,
    Endpoint,
    Evidence,
    Match,
    ServiceRecord,
    TlsInfo,
    excerpt,
)


def test_short_text_is_left_alone() -> None:
    for text in ("", "OpenSSH", "a" * TEXT_BYTES, "é" * (TEXT_BYTES // 2)):
        assert cut_text(text) is text
    assert cut_optional(None) is None


def test_long_text_is_cut_with_the_bytes_left_out() -> None:
    cut = cut_text("a" * 3000)
    assert cut == "a" * TEXT_BYTES + "…[+2744 bytes]"
    assert cut_text(cut) is cut  # once
    wide = cut_text("é" * 200)  # 400 bytes of UTF-8: cut between characters
    assert wide == "é" * 128 + "…[+144 bytes]"
    assert cut_text(wide) is wide
    assert cut_text("x" * 10, limit=4) == "xxxx…[+6 bytes]"


def test_text_that_merely_ends_like_a_marker_is_still_cut() -> None:
    text = "b" * 1000 + "…[+5 bytes]"
    assert cut_text(text).startswith("b" * TEXT_BYTES + "…[+")
    assert len(cut_text(text).encode()) < TEXT_BYTES + 20


def test_lists_keep_their_first_items_and_say_how_many_more() -> None:
    names = [f"h{i}.test" for i in range(100)]
    cut = cut_items(names)
    assert len(cut) == LIST_ITEMS + 1 and cut[-1] == "…[+36 more]"
    assert cut[:LIST_ITEMS] == tuple(names[:LIST_ITEMS])
    assert cut_items(cut) == cut
    assert cut_items(["x" * 300]) == ("x" * TEXT_BYTES + "…[+44 bytes]",)
    short = ("a", "b")
    assert cut_items(short) == short


def test_facts_are_cut_inside_lists_and_objects() -> None:
    facts = {"ua": "U" * 1000, "n": 7, "names": ["n" * 300] * 70, "inner": {"s": "s" * 300},
             "flag": True}
    cut = cut_facts(facts)
    assert cut["ua"].endswith("…[+744 bytes]") and cut["n"] == 7 and cut["flag"] is True
    assert len(cut["names"]) == LIST_ITEMS + 1 and cut["names"][-1] == "…[+6 more]"
    assert cut["names"][0].endswith("…[+44 bytes]")
    assert cut["inner"]["s"].endswith("…[+44 bytes]")


def test_records_are_bounded_where_they_are_made() -> None:
    long = "v" * 5000
    m = Match("r", "probescan:test", "ssh", product=long, version=long, info=long,
              hostname=long, os=long, device=long, cpe=(f"cpe:/a:x:{long}",))
    for value in (m.product, m.version, m.info, m.hostname, m.os, m.device, m.cpe[0]):
        assert value is not None and value.endswith("bytes]")
        assert len(value.encode()) <= TEXT_BYTES + len("…[+99999 bytes]".encode())
    r = ServiceRecord(Endpoint("127.0.81.1", 22), "open", service="ssh", product=long,
                      info=m.info, cpe=m.cpe)
    assert r.product == m.product and r.info is m.info and r.cpe == m.cpe
    tls = TlsInfo(subject="OU=" + long, issuer="CN=" + long, serial="ab" * 2000,
                  alpn=long, sans=tuple(f"h{i}.test" for i in range(200)))
    d = tls.to_dict()
    assert d["subject"].endswith("…[+4747 bytes]") and d["serial"].endswith("…[+3744 bytes]")
    assert len(d["sans"]) == LIST_ITEMS + 1 and d["sans"][-1] == "…[+136 more]"


def test_excerpts_say_how_many_bytes_were_left_out() -> None:
    assert excerpt(b"abc", 10) == "abc"
    assert excerpt(b"a\r\n" * 10, 6) == "a\\r\\na\\r\\n…[+24 bytes]"
    assert excerpt(b"x" * 4, 2, total=1000) == "xx…[+998 bytes]"
    e = Evidence("null", None, None, b"A" * 2048, size=16384)
    assert e.to_dict()["raw"] == "A" * EVIDENCE_SHOWN_BYTES + "…[+15872 bytes]"
    short = Evidence("null", None, None, b"220 ok\r\n")
    assert short.to_dict()["raw"] == "220 ok\\r\\n"
