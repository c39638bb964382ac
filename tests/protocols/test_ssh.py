"""SSH identification and KEXINIT from recorded bytes; HASSH against Salesforce's example.

Recorded on this machine through a relay on 127.0.40.x (see tests/data/proto/README.md):
the OpenSSH 9.2p1 client (ssh -o BatchMode=yes), OpenSSH 9.2p1 sshd and dropbear 2022.83.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from probescan.protocols import NeedMore, ParseError
from probescan.protocols.ssh import KexInit, hassh, hassh_server, parse_ident, parse_kexinit
from tests.protocols.helpers import assert_every_prefix_needs_more

DATA = Path(__file__).parent.parent / "data" / "proto"
CLIENT_OPENSSH = (DATA / "ssh_client_openssh.bin").read_bytes()
SERVER_OPENSSH = (DATA / "ssh_server_openssh.bin").read_bytes()
SERVER_DROPBEAR = (DATA / "ssh_server_dropbear.bin").read_bytes()
TLS_HELLO = (DATA / "tls_client_hello_curl.bin").read_bytes()


def kexinit_packet(lists: list[list[str]], follows: bool = False, msg: int = 20) -> bytes:
    payload = bytes([msg]) + bytes(range(16))
    for names in lists:
        raw = ",".join(names).encode()
        payload += len(raw).to_bytes(4, "big") + raw
    payload += bytes([follows]) + bytes(4)
    padding = 8 - (len(payload) + 5) % 8
    padding += 8 if padding < 4 else 0
    body = bytes([padding]) + payload + bytes(padding)
    return len(body).to_bytes(4, "big") + body


# --- identification -----------------------------------------------------------------------


def test_openssh_client_ident_splits_version_software_and_comments() -> None:
    ident = parse_ident(CLIENT_OPENSSH)
    assert ident.protoversion == "2.0"
    assert ident.softwareversion == "OpenSSH_9.2p1"
    assert ident.comments == "Debian-2+deb12u10"
    assert ident.preamble == ()
    assert ident.line == "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10"
    assert ident.length == 41


def test_dropbear_server_ident_has_no_comments() -> None:
    ident = parse_ident(SERVER_DROPBEAR, server=True)
    assert (ident.protoversion, ident.softwareversion, ident.comments) == (
        "2.0",
        "dropbear_2022.83",
        None,
    )
    assert ident.length == 26


def test_server_lines_before_the_ident_are_kept_as_preamble() -> None:
    data = b"Welcome to the lab\r\nauthorised users only\n" + SERVER_OPENSSH
    ident = parse_ident(data, server=True)
    assert ident.preamble == ("Welcome to the lab", "authorised users only")
    assert ident.softwareversion == "OpenSSH_9.2p1"
    assert parse_kexinit(data[ident.length :]).server_host_key_algorithms[0] == "ssh-ed25519"


def test_a_client_may_not_send_lines_before_its_ident() -> None:
    with pytest.raises(ParseError):
        parse_ident(b"hello\r\n" + CLIENT_OPENSSH)


@pytest.mark.parametrize(
    ("line", "proto", "software", "comments"),
    [
        (b"SSH-2.0-Foo\n", "2.0", "Foo", None),  # bare LF
        (b"SSH-1.99-OpenSSH_3.9p1\r\n", "1.99", "OpenSSH_3.9p1", None),
        (b"SSH-2.0-Cisco-1.25\r\n", "2.0", "Cisco-1.25", None),  # '-' seen in the wild
        (b"SSH-2.0-X a b  c\r\n", "2.0", "X", "a b  c"),
    ],
)
def test_ident_variants(line: bytes, proto: str, software: str, comments: str | None) -> None:
    ident = parse_ident(line)
    assert (ident.protoversion, ident.softwareversion, ident.comments) == (
        proto,
        software,
        comments,
    )
    assert ident.length == len(line)


@pytest.mark.parametrize(
    "data", [CLIENT_OPENSSH, SERVER_OPENSSH, SERVER_DROPBEAR], ids=["client", "sshd", "dropbear"]
)
def test_every_truncated_ident_prefix_needs_more(data: bytes) -> None:
    length = parse_ident(data, server=True).length
    assert_every_prefix_needs_more(lambda d: parse_ident(d, server=True), data, length)
    assert_every_prefix_needs_more(parse_ident, data, length)


@pytest.mark.parametrize(
    ("data", "server"),
    [
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", False),
        (TLS_HELLO, False),
        (TLS_HELLO, True),  # binary before any identification
        (b"SSH-x.y-Foo\r\n", False),
        (b"SSH-2.0-\r\n", False),
        (b"SSH-2.0\r\n", False),
        (b"SSH-2.0-Foo\x00bar\r\n", False),
        (b"SSH-2.0-" + b"A" * 300, False),
        (b"line\r\n" * 40 + b"SSH-2.0-Foo\r\n", True),  # more preamble than we wait for
        (b"\xff\xfe\r\nSSH-2.0-Foo\r\n", True),
    ],
    ids=["http", "tls", "tls-server", "proto", "no-software", "no-dash", "nul", "long", "chatty",
         "binary-preamble"],
)  # fmt: skip
def test_other_bytes_are_not_an_ident(data: bytes, server: bool) -> None:
    with pytest.raises(ParseError):
        parse_ident(data, server=server)


# --- KEXINIT ------------------------------------------------------------------------------


def test_openssh_client_kexinit_lists_all_ten_name_lists() -> None:
    ident = parse_ident(CLIENT_OPENSSH)
    kex = parse_kexinit(CLIENT_OPENSSH[ident.length :])
    assert isinstance(kex, KexInit)
    assert len(kex.cookie) == 16
    assert kex.kex_algorithms[0] == "sntrup761x25519-sha512"
    assert kex.kex_algorithms[-2:] == ("ext-info-c", "kex-strict-c-v00@openssh.com")
    assert len(kex.kex_algorithms) == 13
    assert kex.server_host_key_algorithms[0] == "ssh-ed25519-cert-v01@openssh.com"
    assert kex.encryption_algorithms_c2s == (
        "chacha20-poly1305@openssh.com",
        "aes128-ctr",
        "aes192-ctr",
        "aes256-ctr",
        "aes128-gcm@openssh.com",
        "aes256-gcm@openssh.com",
    )
    assert kex.encryption_algorithms_s2c == kex.encryption_algorithms_c2s
    assert kex.mac_algorithms_c2s[0] == "umac-64-etm@openssh.com"
    assert kex.compression_algorithms_c2s == ("none", "zlib@openssh.com", "zlib")
    assert (kex.languages_c2s, kex.languages_s2c) == ((), ())
    assert not kex.first_kex_packet_follows
    assert kex.reserved == 0
    assert (kex.packet_length, kex.padding_length, kex.length) == (1556, 8, 1560)
    assert ident.length + kex.length == len(CLIENT_OPENSSH)


def test_openssh_client_hassh_string_and_md5() -> None:
    kex = parse_kexinit(CLIENT_OPENSSH[41:])
    text, digest = hassh(kex)
    parts = text.split(";")
    assert parts == [
        ",".join(kex.kex_algorithms),
        ",".join(kex.encryption_algorithms_c2s),
        ",".join(kex.mac_algorithms_c2s),
        ",".join(kex.compression_algorithms_c2s),
    ]
    assert parts[3] == "none,zlib@openssh.com,zlib"
    assert digest == hashlib.md5(text.encode()).hexdigest() == "472b5de333ad665af5cbf10ff892c4df"


def test_sshd_and_dropbear_server_kexinit_and_hassh_server() -> None:
    sshd = parse_kexinit(SERVER_OPENSSH[41:])
    assert sshd.server_host_key_algorithms == ("ssh-ed25519", "rsa-sha2-512", "rsa-sha2-256")
    assert sshd.kex_algorithms[-1] == "kex-strict-s-v00@openssh.com"
    assert sshd.compression_algorithms_s2c == ("none", "zlib@openssh.com")
    assert hassh_server(sshd)[1] == "425d29fe50d8e4f5e37efb6e24bcf660"
    dropbear = parse_kexinit(SERVER_DROPBEAR[26:])
    assert "kexguess2@matt.ucc.asn.au" in dropbear.kex_algorithms
    assert dropbear.mac_algorithms_s2c == ("hmac-sha1", "hmac-sha2-256")
    assert hassh_server(dropbear) == (
        "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp521,ecdh-sha2-nistp384,"
        "ecdh-sha2-nistp256,diffie-hellman-group14-sha256,diffie-hellman-group14-sha1,"
        "kexguess2@matt.ucc.asn.au,kex-strict-s-v00@openssh.com;"
        "chacha20-poly1305@openssh.com,aes128-ctr,aes256-ctr;hmac-sha1,hmac-sha2-256;"
        "zlib@openssh.com,none",
        "e1a0b5f8d334ec70fe937b2d5ff8d0b6",
    )


# github.com/salesforce/hassh README, example 1: the hasshAlgorithms of the Cyberduck 6.7.1
# client and its hassh.
CYBERDUCK_ALGORITHMS = (
    "curve25519-sha256@libssh.org,diffie-hellman-group-exchange-sha256,ecdh-sha2-nistp521,"
    "ecdh-sha2-nistp384,ecdh-sha2-nistp256,diffie-hellman-group-exchange-sha1,"
    "diffie-hellman-group1-sha1,diffie-hellman-group14-sha1,diffie-hellman-group14-sha256,"
    "diffie-hellman-group15-sha512,diffie-hellman-group16-sha512,diffie-hellman-group17-sha512,"
    "diffie-hellman-group18-sha512,diffie-hellman-group14-sha256@ssh.com,"
    "diffie-hellman-group15-sha256,diffie-hellman-group15-sha256@ssh.com,"
    "diffie-hellman-group15-sha384@ssh.com,diffie-hellman-group16-sha256,"
    "diffie-hellman-group16-sha384@ssh.com,diffie-hellman-group16-sha512@ssh.com,"
    "diffie-hellman-group18-sha512@ssh.com;"
    "aes128-cbc,aes128-ctr,aes192-cbc,aes192-ctr,aes256-cbc,aes256-ctr,blowfish-cbc,blowfish-ctr,"
    "cast128-cbc,cast128-ctr,idea-cbc,idea-ctr,serpent128-cbc,serpent128-ctr,serpent192-cbc,"
    "serpent192-ctr,serpent256-cbc,serpent256-ctr,3des-cbc,3des-ctr,twofish128-cbc,"
    "twofish128-ctr,twofish192-cbc,twofish192-ctr,twofish256-cbc,twofish256-ctr,twofish-cbc,"
    "arcfour,arcfour128,arcfour256;"
    "hmac-sha1,hmac-sha1-96,hmac-md5,hmac-md5-96,hmac-sha2-256,hmac-sha2-512;"
    "zlib@openssh.com,zlib,none"
)
CYBERDUCK_HASSH = "8a8ae540028bf433cd68356c1b9e8d5b"
CYBERDUCK_KEX, CYBERDUCK_ENC, CYBERDUCK_MAC, CYBERDUCK_CMP = (
    part.split(",") for part in CYBERDUCK_ALGORITHMS.split(";")
)


def test_hassh_matches_the_salesforce_published_example() -> None:
    other = ["other"]
    packet = kexinit_packet(
        [CYBERDUCK_KEX, ["ssh-rsa"], CYBERDUCK_ENC, other, CYBERDUCK_MAC, other,
         CYBERDUCK_CMP, other, [], []]
    )  # fmt: skip
    kex = parse_kexinit(packet)
    assert hassh(kex) == (CYBERDUCK_ALGORITHMS, CYBERDUCK_HASSH)
    assert hassh_server(kex)[1] != CYBERDUCK_HASSH


def test_hassh_server_takes_the_server_to_client_lists() -> None:
    other = ["other"]
    packet = kexinit_packet(
        [CYBERDUCK_KEX, ["ssh-rsa"], other, CYBERDUCK_ENC, other, CYBERDUCK_MAC,
         other, CYBERDUCK_CMP, [], []],
        follows=True,
    )  # fmt: skip
    kex = parse_kexinit(packet)
    assert hassh_server(kex)[1] == CYBERDUCK_HASSH
    assert kex.first_kex_packet_follows


@pytest.mark.parametrize(
    "data", [CLIENT_OPENSSH, SERVER_OPENSSH, SERVER_DROPBEAR], ids=["client", "sshd", "dropbear"]
)
def test_every_truncated_kexinit_prefix_needs_more(data: bytes) -> None:
    after = data[parse_ident(data, server=True).length :]
    assert_every_prefix_needs_more(parse_kexinit, after, len(after))
    assert parse_kexinit(after + b"\x00\x00\x00\x2c\x06\x1e").length == len(after)


GOOD = kexinit_packet(
    [["curve25519-sha256"], ["ssh-ed25519"], ["aes128-ctr"], ["aes128-ctr"], ["hmac-sha2-256"],
     ["hmac-sha2-256"], ["none"], ["none"], [], []]
)  # fmt: skip


@pytest.mark.parametrize(
    "data",
    [
        b"SSH-2.0-OpenSSH_9.2p1\r\n",  # the ident was not taken off
        TLS_HELLO,
        b"\x00\x00\x00\x0c\x0a\x15" + bytes(10),  # SSH_MSG_NEWKEYS, not KEXINIT
        b"\x00\x00\x00\x05",  # shorter than any packet
        b"\x00\x10\x00\x00",  # longer than any KEXINIT
        GOOD[:4] + b"\x02" + GOOD[5:],  # padding below 4
        GOOD[:22] + b"\xff\xff\xff\xff" + GOOD[26:],  # name-list runs past the packet
        GOOD[:26] + b"curve\x80" + GOOD[32:],  # non-ASCII name
        GOOD[:26] + b"," + GOOD[27:],  # empty name
    ],
    ids=["ident", "tls", "newkeys", "short", "huge", "padding", "overrun", "ascii", "empty-name"],
)
def test_other_bytes_are_not_a_kexinit(data: bytes) -> None:
    with pytest.raises(ParseError):
        parse_kexinit(data)


def test_padding_content_is_not_checked() -> None:
    assert parse_kexinit(GOOD[:-1] + b"\x01").kex_algorithms == ("curve25519-sha256",)


def test_trailing_bytes_inside_the_kexinit_payload_are_refused() -> None:
    # one byte more payload, one byte less padding: payload no longer ends after `reserved`
    padding = GOOD[4]
    bad = GOOD[:4] + bytes([padding - 1]) + GOOD[5:]
    with pytest.raises(ParseError, match="trailing"):
        parse_kexinit(bad)


def test_server_text_before_an_ident_is_waited_on_within_the_preamble_budget() -> None:
    # RFC 4253 §4.2 lets a server send any text lines first, so an HTTP reply is only
    # refused once it exceeds the preamble budget (or holds binary); a client's is refused at once.
    reply = b"HTTP/1.1 400 Bad Request\r\nServer: x\r\n\r\n"
    with pytest.raises(NeedMore):
        parse_ident(reply, server=True)
    with pytest.raises(ParseError):
        parse_ident(reply * 20, server=True)
    with pytest.raises(ParseError):
        parse_ident(reply)
