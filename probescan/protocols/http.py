"""HTTP/1.x message heads (request or response line + header fields), RFC 9112.

The head ends at the first empty line; CR LF and bare LF both end a line. A head that has
not ended within MAX_HEAD bytes is refused. The body is not looked at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from probescan.protocols.errors import NeedMore, ParseError

MAX_HEAD = 64 * 1024
MAX_LEADING_EMPTY_LINES = 4  # RFC 9112 §2.2: ignore at least one empty line before a request

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_TOKEN_BYTES = frozenset(
    b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
_REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") ([^\s]+) (HTTP/[0-9]\.[0-9])")
_STATUS_LINE = re.compile(rb"(HTTP/[0-9]\.[0-9]) ([0-9]{3})(?: (.*))?")
_HEADER = re.compile(rb"(" + _TOKEN + rb"):[ \t]*(.*?)[ \t]*")
_KNOWN_METHODS = (
    b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"CONNECT", b"OPTIONS", b"TRACE", b"PATCH",
    b"PRI", b"PROPFIND", b"PROPPATCH", b"MKCOL", b"COPY", b"MOVE", b"LOCK", b"UNLOCK",
    b"REPORT", b"SEARCH",
)  # fmt: skip


class _Headers:
    """Case-insensitive lookup over (name, value) pairs kept in the order and case sent."""

    __slots__ = ()
    headers: tuple[tuple[str, str], ...]

    def get(self, name: str) -> str | None:
        """The first value of header `name` (any case), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def get_all(self, name: str) -> tuple[str, ...]:
        wanted = name.lower()
        return tuple(value for key, value in self.headers if key.lower() == wanted)


@dataclass(frozen=True, slots=True)
class HttpRequest(_Headers):
    method: str
    target: str
    version: str  # "HTTP/1.1"
    headers: tuple[tuple[str, str], ...]
    length: int  # bytes of the head, final empty line included

    @property
    def host(self) -> str | None:
        return self.get("host")

    @property
    def user_agent(self) -> str | None:
        return self.get("user-agent")


@dataclass(frozen=True, slots=True)
class HttpResponse(_Headers):
    version: str
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    length: int

    @property
    def server(self) -> str | None:
        return self.get("server")


def _split_head(data: bytes, skip_leading_empty: bool) -> tuple[list[bytes], int]:
    """Complete lines of the head (line ends removed) and its length, or -1 if unfinished."""
    window = data[:MAX_HEAD]
    lines: list[bytes] = []
    pos = 0
    skipped = 0
    while (end := window.find(b"\n", pos)) >= 0:
        line = window[pos:end].removesuffix(b"\r")
        pos = end + 1
        if line:
            lines.append(line)
        elif lines:
            return lines, pos
        elif skip_leading_empty and skipped < MAX_LEADING_EMPTY_LINES:
            skipped += 1
        else:
            raise ParseError("HTTP head starts with an empty line")
    if len(data) >= MAX_HEAD:
        raise ParseError(f"HTTP head longer than {MAX_HEAD} bytes")
    return lines, -1


def _headers(lines: list[bytes]) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for line in lines:
        if b"\0" in line or b"\r" in line:
            raise ParseError(f"control character in HTTP header line {line[:64]!r}")
        if line[:1] in (b" ", b"\t"):  # obs-fold: continues the previous value
            if not out:
                raise ParseError("HTTP header continuation without a header")
            name, value = out[-1]
            extra = line.strip(b" \t").decode("latin-1")
            out[-1] = (name, f"{value} {extra}" if value else extra)
            continue
        match = _HEADER.fullmatch(line)
        if match is None:
            raise ParseError(f"bad HTTP header line {line[:64]!r}")
        out.append((match[1].decode("ascii"), match[2].decode("latin-1")))
    return tuple(out)


def _check_request_start(data: bytes) -> None:
    """Refuse early when the bytes cannot begin a request line (method token, then SP)."""
    start = data.lstrip(b"\r\n")
    method = start.split(b" ", 1)[0]
    if (set(method) - _TOKEN_BYTES) or len(method) > 32 or start[:1] == b" ":
        raise ParseError(f"not an HTTP request: {start[:16]!r}")


def parse_request_head(data: bytes) -> HttpRequest:
    """Request line and header fields of an HTTP/1.x request."""
    _check_request_start(data[:64])
    lines, length = _split_head(data, skip_leading_empty=True)
    if length < 0:
        if lines:  # refuse what is already complete, wait for the rest
            _request_line(lines[0])
            _headers(lines[1:])
        raise NeedMore
    method, target, version = _request_line(lines[0])
    return HttpRequest(method, target, version, _headers(lines[1:]), length)


def _request_line(line: bytes) -> tuple[str, str, str]:
    match = _REQUEST_LINE.fullmatch(line)
    if match is None:
        raise ParseError(f"bad HTTP request line {line[:64]!r}")
    return match[1].decode("ascii"), match[2].decode("latin-1"), match[3].decode("ascii")


def parse_response_head(data: bytes) -> HttpResponse:
    """Status line and header fields of an HTTP/1.x response."""
    if data[:5] != b"HTTP/"[: len(data[:5])]:
        raise ParseError(f"not an HTTP response: {data[:16]!r}")
    lines, length = _split_head(data, skip_leading_empty=False)
    if length < 0:
        if lines:
            _status_line(lines[0])
            _headers(lines[1:])
        raise NeedMore
    version, status, reason = _status_line(lines[0])
    return HttpResponse(version, status, reason, _headers(lines[1:]), length)


def _status_line(line: bytes) -> tuple[str, int, str]:
    match = _STATUS_LINE.fullmatch(line)
    if match is None or b"\0" in line:
        raise ParseError(f"bad HTTP status line {line[:64]!r}")
    reason = (match[3] or b"").decode("latin-1")
    return match[1].decode("ascii"), int(match[2]), reason


def looks_like_http_request(data: bytes) -> bool:
    """Cheap check: a known method and a space, or a complete "TOKEN target HTTP/x.y" line."""
    if any(data.startswith(method + b" ") for method in _KNOWN_METHODS):
        return True
    end = data.find(b"\n", 0, 8192)
    return end > 0 and _REQUEST_LINE.fullmatch(data[:end].removesuffix(b"\r")) is not None
