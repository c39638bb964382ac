"""DNS messages from recorded bytes: dig's queries and dnsmasq's replies, over UDP and TCP.

Recorded on this machine (see tests/data/proto/README.md): dig 9.18 queried a recording
socket on 127.0.40.x that forwarded to dnsmasq 2.90 and saved both datagrams; the TCP pair
went through a recording relay (dig +tcp).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from probescan.protocols import ParseError
from probescan.protocols.dns import (
    AAAA,
    CLASS_CH,
    CLASS_IN,
    CNAME,
    NS,
    OPT,
    PTR,
    TXT,
    A,
    DnsMessage,
    DnsQuestion,
    parse_message,
    type_name,
)
from tests.protocols.helpers import assert_every_prefix_needs_more

DATA = Path(__file__).parent.parent / "data" / "proto"


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


QUERY = load("dns_query_dig_cname_a.bin")
REPLY_CNAME_A = load("dns_reply_dnsmasq_cname_a.bin")
UDP_FILES = sorted(p.name for p in DATA.glob("dns_*.bin") if "tcp" not in p.name)
TCP_FILES = ["dns_tcp_query_dig.bin", "dns_tcp_reply_dnsmasq.bin"]


def header(qd: int = 1, an: int = 0, flags: int = 0x0100) -> bytes:
    return b"\x12\x34" + flags.to_bytes(2, "big") + bytes([0, qd, 0, an, 0, 0, 0, 0])


def test_dig_query_has_one_question_recursion_desired_and_an_edns_opt_record() -> None:
    msg = parse_message(QUERY)
    assert isinstance(msg, DnsMessage)
    assert msg.id == 17169
    assert (msg.qr, msg.opcode, msg.rcode, msg.rd, msg.aa, msg.tc, msg.ra) == (
        False, 0, 0, True, False, False, False,
    )  # fmt: skip
    assert msg.questions == (DnsQuestion("www.lab.test", A, CLASS_IN),)
    assert msg.answers == msg.authority == ()
    (opt,) = msg.additional
    assert (opt.name, opt.type, opt.cls) == (".", OPT, 1232)  # EDNS: 1232-byte UDP payload
    assert opt.value is None
    assert msg.length == len(QUERY)


def test_cname_and_a_answers_follow_compression_pointers() -> None:
    msg = parse_message(REPLY_CNAME_A)
    assert msg.id == 17169
    assert (msg.qr, msg.aa, msg.rd, msg.ra, msg.rcode) == (True, True, True, True, 0)
    cname, a = msg.answers
    assert (cname.name, cname.type, cname.cls, cname.ttl) == ("www.lab.test", CNAME, CLASS_IN, 0)
    assert cname.value == "host.lab.test"
    assert (a.name, a.type, a.value) == ("host.lab.test", A, "127.0.40.9")
    assert a.rdata == bytes([127, 0, 40, 9])
    # the A owner name is a pointer into the CNAME's rdata, the CNAME owner one to the question
    assert REPLY_CNAME_A.count(b"\xc0\x0c") == 1
    assert REPLY_CNAME_A.count(b"\xc0\x2a") == 1


@pytest.mark.parametrize(
    ("name", "rrtype", "cls", "value", "texts"),
    [
        ("dns_reply_dnsmasq_aaaa.bin", AAAA, CLASS_IN, "fd00::40:9", ()),
        ("dns_reply_dnsmasq_ptr.bin", PTR, CLASS_IN, "host.lab.test", ()),
        ("dns_reply_dnsmasq_ns.bin", NS, CLASS_IN, "ns1.lab.test", ()),
        (
            "dns_reply_dnsmasq_txt.bin",
            TXT,
            CLASS_IN,
            "v=probescan labsecond string",
            ("v=probescan lab", "second string"),
        ),
        ("dns_reply_dnsmasq_version.bin", TXT, CLASS_CH, "dnsmasq-2.90", ("dnsmasq-2.90",)),
    ],
)
def test_dnsmasq_answers_are_decoded(
    name: str, rrtype: int, cls: int, value: str, texts: tuple[str, ...]
) -> None:
    msg = parse_message(load(name))
    (answer,) = msg.answers
    assert (answer.type, answer.cls, answer.value, answer.texts) == (rrtype, cls, value, texts)
    assert msg.questions[0].type == rrtype
    assert msg.length == len(load(name))


def test_version_bind_reply_is_the_chaos_txt_the_prober_asks_for() -> None:
    msg = parse_message(load("dns_reply_dnsmasq_version.bin"))
    assert msg.questions == (DnsQuestion("version.bind", TXT, CLASS_CH),)
    assert msg.answers[0].name == "version.bind"


def test_refused_reply_has_rcode_5_and_no_answers() -> None:
    msg = parse_message(load("dns_reply_dnsmasq_nx.bin"))
    assert msg.rcode == 5
    assert msg.answers == ()
    assert msg.questions[0].name == "nope.example.com"
    assert msg.additional[0].type == OPT


def test_ns_reply_is_authoritative() -> None:
    msg = parse_message(load("dns_reply_dnsmasq_ns.bin"))
    assert msg.aa
    assert msg.answers[0].ttl == 600


def test_tcp_messages_carry_a_length_prefix() -> None:
    query = parse_message(load("dns_tcp_query_dig.bin"), tcp=True)
    reply = parse_message(load("dns_tcp_reply_dnsmasq.bin"), tcp=True)
    assert query.id == reply.id == 59055
    assert [r.value for r in reply.answers] == ["host.lab.test", "127.0.40.9"]
    assert reply.length == len(load("dns_tcp_reply_dnsmasq.bin"))
    # the same bytes without the prefix are the UDP form
    assert parse_message(load("dns_tcp_reply_dnsmasq.bin")[2:]).answers == reply.answers


@pytest.mark.parametrize("name", UDP_FILES)
def test_every_truncated_udp_message_prefix_needs_more(name: str) -> None:
    data = load(name)
    assert_every_prefix_needs_more(parse_message, data, len(data))


@pytest.mark.parametrize("name", TCP_FILES)
def test_every_truncated_tcp_message_prefix_needs_more(name: str) -> None:
    data = load(name)
    assert_every_prefix_needs_more(lambda d: parse_message(d, tcp=True), data, len(data))


def test_a_whole_tcp_frame_with_a_short_message_is_a_parse_error() -> None:
    inner = REPLY_CNAME_A[:-10]
    with pytest.raises(ParseError):
        parse_message(len(inner).to_bytes(2, "big") + inner, tcp=True)
    with pytest.raises(ParseError):
        parse_message(b"\x00\x05" + bytes(5), tcp=True)


def test_compression_loop_is_refused() -> None:
    # question name: label "a", then a pointer back to the label: a.a.a.a... forever
    looping = header() + b"\x01a\xc0\x0c" + b"\x00\x01\x00\x01"
    with pytest.raises(ParseError):
        parse_message(looping)
    self_pointer = header() + b"\xc0\x0c" + b"\x00\x01\x00\x01"
    with pytest.raises(ParseError):
        parse_message(self_pointer)


def test_forward_pointer_and_reserved_label_types_are_refused() -> None:
    with pytest.raises(ParseError, match="point back"):
        parse_message(header() + b"\xc0\x20" + bytes(40))
    with pytest.raises(ParseError, match="label type"):
        parse_message(header() + b"\x41abc" + bytes(8))


def test_names_longer_than_255_octets_are_refused() -> None:
    long_name = b"".join(b"\x3f" + b"a" * 63 for _ in range(5)) + b"\x00"
    with pytest.raises(ParseError, match="255"):
        parse_message(header() + long_name + b"\x00\x01\x00\x01")


def test_labels_with_dots_or_binary_are_escaped() -> None:
    msg = parse_message(header() + b"\x03a.b\x02\x00\xff\x00" + b"\x00\x01\x00\x01")
    assert msg.questions[0].name == "a\\.b.\\000\\255"


def test_root_name_and_unknown_types() -> None:
    msg = parse_message(header() + b"\x00" + b"\x00\x63\x00\x01")
    assert msg.questions == (DnsQuestion(".", 99, CLASS_IN),)
    assert type_name(99) == "TYPE99"
    assert type_name(AAAA) == "AAAA"


def test_bad_rdata_in_a_complete_record_is_a_parse_error() -> None:
    rr = b"\xc0\x0c" + b"\x00\x01\x00\x01" + bytes(4) + b"\x00\x03" + b"\x7f\x00\x01"
    with pytest.raises(ParseError, match="A record"):
        parse_message(header(an=1, flags=0x8180) + b"\x01x\x00\x00\x01\x00\x01" + rr)


@pytest.mark.parametrize(
    "data",
    [
        load("http_request_curl.bin"),
        load("ssh_client_openssh.bin"),
        load("tls_client_hello_curl.bin"),
        b"\xff" * 40,
        header() [:3] + b"\x40" + header()[4:],  # reserved Z bit
        b"\x12\x34\x01\x00\x01\x00" + bytes(6),  # 256 questions
    ],
    ids=["http", "ssh", "tls", "ff", "z-bit", "questions"],
)  # fmt: skip
def test_other_protocols_are_not_dns(data: bytes) -> None:
    with pytest.raises(ParseError):
        parse_message(data)
