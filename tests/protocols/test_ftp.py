"""FTP lines that announce data connections: recorded replies and commands, cut anywhere."""

from __future__ import annotations

import pytest

from probescan.protocols.ftp import data_endpoint_from_command, data_endpoint_from_reply

# vsftpd 3.0.3 (Debian 12) in the lab, captured.
PASV = b"227 Entering Passive Mode (127,0,10,5,43,174).\r\n"
EPSV = b"229 Entering Extended Passive Mode (|||11182|)\r\n"
# PORT in the form clients send (made by hand); the EPRT lines are RFC 2428's examples.
PORT = b"PORT 127,0,0,1,181,23\r\n"
EPRT4 = b"EPRT |1|132.235.1.2|6275|\r\n"
EPRT6 = b"EPRT |2|1080::8:800:200C:417A|5282|\r\n"


def test_pasv_and_epsv_replies_name_the_servers_data_endpoint() -> None:
    assert data_endpoint_from_reply(PASV, "127.0.10.5") == ("127.0.10.5", 43 * 256 + 174)
    assert data_endpoint_from_reply(EPSV, "127.0.10.5") == ("127.0.10.5", 11182)


def test_port_and_eprt_commands_name_the_clients_data_endpoint() -> None:
    assert data_endpoint_from_command(PORT) == ("127.0.0.1", 181 * 256 + 23)
    assert data_endpoint_from_command(EPRT4) == ("132.235.1.2", 6275)
    assert data_endpoint_from_command(EPRT6) == ("1080::8:800:200c:417a", 5282)


@pytest.mark.parametrize("line", [
    b"227 Entering Passive Mode (300,0,10,5,43,174).\r\n",  # not an address
    b"227 Entering Passive Mode (127,0,10,5,0,0).\r\n",  # port 0
    b"229 Entering Extended Passive Mode (|||99999|)\r\n",
    b"200 PORT command successful.\r\n",
    b"EPRT |1|::1|5282|\r\n",  # an IPv6 address said to be IPv4
    b"EPRT |3|10.0.0.1|5282|\r\n",
    b"\xff\xfe\x00garbage\n",
])
def test_malformed_lines_announce_nothing(line: bytes) -> None:
    assert data_endpoint_from_reply(line, "10.0.0.1") is None
    assert data_endpoint_from_command(line) is None


@pytest.mark.parametrize("line", [PASV, EPSV, PORT, EPRT4, EPRT6])
def test_every_truncated_prefix_gives_nothing_or_the_same_endpoint(line: bytes) -> None:
    whole = data_endpoint_from_reply(line, "10.0.0.1") or data_endpoint_from_command(line)
    assert whole is not None
    for cut in range(len(line)):
        part = data_endpoint_from_reply(line[:cut], "10.0.0.1") or \
            data_endpoint_from_command(line[:cut])
        assert part is None or part == whole, (cut, part)
