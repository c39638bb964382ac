from __future__ import annotations

import pytest

from probescan.protocols import kerberos
from probescan.protocols.errors import NeedMore, ParseError
from tests.protocols.helpers import assert_prefixes_decline, recorded, streams

UDP = [(s, m) for s, m in recorded("kerberos-sec", "udp") if m[0] >= 0x60]  # not kpasswd
TCP = [(s, m) for s, m in streams("kerberos-sec", "tcp") if m[4] >= 0x60]  # not kpasswd


def test_recorded_udp_messages_parse() -> None:
    names = [kerberos.parse_message(m).name for _, m in UDP]
    assert names == ["AS-REQ", "KRB-ERROR", "TGS-REQ", "TGS-REP", "KRB-ERROR"]
    err = kerberos.parse_message(UDP[1][1])
    assert (err.error_name, err.realm, err.cname) == (
        "KDC_ERR_PREAUTH_REQUIRED", "EXAMPLE.TEST", "alice")
    rep = kerberos.parse_message(UDP[3][1])
    assert (rep.cname, rep.sname, rep.complete) == ("alice", "host/files.example.test", True)


def test_recorded_tcp_messages_parse() -> None:
    for side, data in TCP:
        m = kerberos.parse_message(data, tcp=True)
        assert m.name == ("AS-REQ" if side == "client" else "AS-REP")
        assert m.length == len(data)


@pytest.mark.parametrize("message", [m for _, m in UDP], ids=range(len(UDP)))
def test_every_prefix_declines(message: bytes) -> None:
    assert_prefixes_decline(kerberos.parse_message, message)


def test_partial_tcp_prefix_keeps_the_header() -> None:
    data = TCP[1][1]
    for n in (30, 60, len(data) // 2):
        m = kerberos.parse_message(data[:n], tcp=True, partial=True)
        assert m.name == "AS-REP" and not m.complete
    with pytest.raises(NeedMore):
        kerberos.parse_message(data[:30], tcp=True)


def test_wrong_version_or_type_is_refused() -> None:
    msg = bytearray(UDP[0][1])
    pvno = msg.index(b"\xa1\x03\x02\x01\x05")
    msg[pvno + 4] = 4
    with pytest.raises(ParseError):
        kerberos.parse_message(bytes(msg))
    msg = bytearray(UDP[0][1])
    msg[pvno + 9] = 12  # msg-type TGS-REQ under the AS-REQ tag
    with pytest.raises(ParseError):
        kerberos.parse_message(bytes(msg))


KPASSWD = [(s, m) for s, m in streams("kerberos-sec", "tcp") if m[4] < 0x60]


def test_kpasswd_request_and_reply() -> None:
    (_, request), (_, reply) = KPASSWD
    req = kerberos.parse_kpasswd(request, tcp=True)
    assert (req.name, req.sname, req.length) == ("KPASSWD-REQ", "kadmin/changepw", len(request))
    assert kerberos.parse_kpasswd(reply, tcp=True).name == "KPASSWD-REP"
    assert kerberos.parse_kpasswd(request[4:]).name == "KPASSWD-REQ"  # over UDP
    assert_prefixes_decline(kerberos.parse_kpasswd, request[4:])
