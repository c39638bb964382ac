"""HTTP/1.x heads from recorded bytes: curl's request, nginx's and Python's responses.

Recorded on this machine through a relay on 127.0.40.x (see tests/data/proto/README.md):
curl 7.88.1 against nginx 1.22.1 and against `python -m http.server` (Python 3.11.7).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from probescan.protocols import NeedMore, ParseError
from probescan.protocols.http import (
    MAX_HEAD,
    looks_like_http_request,
    parse_request_head,
    parse_response_head,
)
from tests.protocols.helpers import assert_every_prefix_needs_more

DATA = Path(__file__).parent.parent / "data" / "proto"
CURL_REQUEST = (DATA / "http_request_curl.bin").read_bytes()
NGINX_RESPONSE = (DATA / "http_response_nginx.bin").read_bytes()
PYTHON_RESPONSE = (DATA / "http_response_python.bin").read_bytes()
TLS_HELLO = (DATA / "tls_client_hello_curl.bin").read_bytes()
SSH_IDENT = (DATA / "ssh_client_openssh.bin").read_bytes()[:41]


def test_curl_request_head_yields_method_target_host_and_user_agent() -> None:
    req = parse_request_head(CURL_REQUEST)
    assert (req.method, req.target, req.version) == ("GET", "/", "HTTP/1.1")
    assert req.headers == (
        ("Host", "lab.test:8081"),
        ("User-Agent", "curl/7.88.1"),
        ("Accept", "*/*"),
    )
    assert req.host == "lab.test:8081"
    assert req.user_agent == "curl/7.88.1"
    assert req.length == len(CURL_REQUEST)


def test_nginx_response_head_yields_status_reason_and_server() -> None:
    resp = parse_response_head(NGINX_RESPONSE)
    assert (resp.version, resp.status, resp.reason) == ("HTTP/1.1", 200, "OK")
    assert resp.server == "nginx/1.22.1"
    assert [name for name, _ in resp.headers] == [
        "Server", "Date", "Content-Type", "Content-Length", "Last-Modified", "Connection",
        "ETag", "Accept-Ranges",
    ]  # fmt: skip
    assert resp.get("etag") == '"6b06cbfb-1d"'
    assert NGINX_RESPONSE[resp.length :] == b"hello from the probescan lab\n"


def test_python_response_keeps_header_case_and_looks_up_any_case() -> None:
    resp = parse_response_head(PYTHON_RESPONSE)
    assert (resp.version, resp.status) == ("HTTP/1.0", 200)
    assert resp.server == "SimpleHTTP/0.6 Python/3.11.7"
    assert ("Content-type", "text/html") in resp.headers  # sent with a lower-case "t"
    assert resp.get("CONTENT-TYPE") == resp.get("content-type") == "text/html"
    assert resp.get("x-missing") is None
    assert PYTHON_RESPONSE[resp.length :] == b"hello from the probescan lab\n"


def test_repeated_headers_are_all_kept() -> None:
    resp = parse_response_head(b"HTTP/1.1 302 Found\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\n\r\n")
    assert resp.get("Set-Cookie") == "a=1"
    assert resp.get_all("set-cookie") == ("a=1", "b=2")


def test_bare_lf_heads_parse_like_crlf_ones() -> None:
    lf_request = CURL_REQUEST.replace(b"\r\n", b"\n")
    req = parse_request_head(lf_request)
    assert req.headers == parse_request_head(CURL_REQUEST).headers
    assert req.length == len(lf_request)
    lf_response = NGINX_RESPONSE.replace(b"\r\n", b"\n")
    resp = parse_response_head(lf_response)
    assert resp.server == "nginx/1.22.1"
    assert lf_response[resp.length :] == b"hello from the probescan lab\n"


def test_status_line_without_reason_and_folded_header() -> None:
    resp = parse_response_head(b"HTTP/1.1 204\r\nX-Long: one\r\n  two\r\n\r\n")
    assert (resp.status, resp.reason) == (204, "")
    assert resp.get("x-long") == "one two"


def test_leading_empty_lines_before_a_request_are_skipped() -> None:
    req = parse_request_head(b"\r\n" + CURL_REQUEST)
    assert req.method == "GET"
    assert req.length == len(CURL_REQUEST) + 2


@pytest.mark.parametrize(
    ("parse", "data", "upto"),
    [
        (parse_request_head, CURL_REQUEST, len(CURL_REQUEST)),
        (parse_response_head, NGINX_RESPONSE, 236),
        (parse_response_head, PYTHON_RESPONSE, 185),
        (parse_request_head, CURL_REQUEST.replace(b"\r\n", b"\n"), 72),
    ],
    ids=["curl", "nginx", "python", "curl-lf"],
)
def test_every_truncated_head_prefix_needs_more(
    parse: Callable[[bytes], object], data: bytes, upto: int
) -> None:
    assert_every_prefix_needs_more(parse, data, upto)
    parse(data[:upto])


def test_a_head_larger_than_64_kib_is_refused() -> None:
    filler = b"X-Filler: " + b"a" * 1000 + b"\r\n"
    big = b"GET / HTTP/1.1\r\n" + filler * 70 + b"\r\n"
    with pytest.raises(ParseError, match="longer"):
        parse_request_head(big)
    with pytest.raises(ParseError, match="longer"):
        parse_request_head(big[:MAX_HEAD])  # still no end after 64 KiB: give up
    with pytest.raises(NeedMore):
        parse_request_head(big[: MAX_HEAD - 1])
    head = b"HTTP/1.1 200 OK\r\nX: "
    exact = head + b"a" * (MAX_HEAD - len(head) - 4) + b"\r\n\r\n"
    assert parse_response_head(exact).length == MAX_HEAD


@pytest.mark.parametrize(
    "data",
    [
        TLS_HELLO,
        SSH_IDENT,
        NGINX_RESPONSE,  # a response is not a request
        b"GET /\r\n\r\n",  # HTTP/0.9
        b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",  # space before the colon
        b"GET / HTTP/1.1\r\n continued\r\n\r\n",  # continuation without a header
        b"GET / HTTP/1.1\r\nX: a\x00b\r\n",  # NUL, refused before the head ends
        b"\r\n" * 6 + CURL_REQUEST,
        b"GET\t/ HTTP/1.1\r\n",
    ],
    ids=["tls", "ssh", "response", "http09", "no-colon", "space-colon", "fold", "nul",
         "empty-lines", "tab"],
)  # fmt: skip
def test_other_bytes_are_not_a_request(data: bytes) -> None:
    with pytest.raises(ParseError):
        parse_request_head(data)


@pytest.mark.parametrize(
    "data",
    [
        TLS_HELLO,
        SSH_IDENT,
        CURL_REQUEST,
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 OK\r\n\r\n",
        b"HTTP/11 200 OK\r\n\r\n",
        b"\r\nHTTP/1.1 200 OK\r\n\r\n",
    ],
    ids=["tls", "ssh", "request", "status", "no-status", "version", "empty-line"],
)
def test_other_bytes_are_not_a_response(data: bytes) -> None:
    with pytest.raises(ParseError):
        parse_response_head(data)


def test_looks_like_http_request() -> None:
    assert looks_like_http_request(CURL_REQUEST)
    assert looks_like_http_request(b"OPTIONS * HTTP/1.1\r\n")
    assert looks_like_http_request(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    assert looks_like_http_request(b"BREW /pot HTTP/1.1\r\n")  # any token, once the line is whole
    for other in (b"", b"GE", TLS_HELLO, SSH_IDENT, NGINX_RESPONSE, b"BREW /pot"):
        assert not looks_like_http_request(other), other
