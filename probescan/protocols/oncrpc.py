"""ONC RPC messages (RFC 5531): calls and replies, over UDP or TCP with record marking.

A call is xid, msg_type 0, rpcvers 2, program, version, procedure, then the credential and
the verifier (opaque_auth: a flavor and at most 400 octets, padded to 4); an AUTH_SYS
credential (RFC 5531 appendix A) must add up. A reply is xid, msg_type 1, then MSG_ACCEPTED
(a verifier and an accept_stat 0..5) or MSG_DENIED (RPC_MISMATCH with a version range, or
AUTH_ERROR with an auth_stat). Over TCP (tcp=True, §11) each message follows a 4-octet
record mark: the last-fragment bit and a 31-bit length.
"""

from __future__ import annotations

from dataclasses import dataclass

from probescan.protocols.errors import NeedMore, ParseError

CALL, REPLY = 0, 1
AUTH_NONE, AUTH_SYS, RPCSEC_GSS = 0, 1, 6
FLAVORS = frozenset({0, 1, 2, 3, 4, 6, 7})  # NONE SYS SHORT DH KERB4 RPCSEC_GSS TLS
MAX_AUTH = 400
MAX_RECORD = 1 << 24
PROGRAMS = {
    100000: "portmapper", 100001: "rstatd", 100002: "rusersd", 100003: "nfs",
    100004: "ypserv", 100005: "mountd", 100007: "ypbind", 100008: "walld",
    100009: "yppasswdd", 100011: "rquotad", 100012: "sprayd", 100021: "nlockmgr",
    100024: "status", 100026: "bootparam", 100068: "cmsd", 100083: "ttdbserverd",
    100227: "nfs_acl", 150001: "pcnfsd", 390113: "nsrexecd",
}  # fmt: skip
ACCEPT_STATS = ("SUCCESS", "PROG_UNAVAIL", "PROG_MISMATCH", "PROC_UNAVAIL", "GARBAGE_ARGS",
                "SYSTEM_ERR")


@dataclass(frozen=True, slots=True)
class RpcMessage:
    xid: int
    call: bool
    program: int | None  # calls only
    version: int | None
    procedure: int | None
    flavor: int  # the credential's (call) or verifier's (reply) flavor
    status: str | None  # replies: accept_stat name, or "MSG_DENIED"
    length: int  # octets taken (record mark included)

    @property
    def program_name(self) -> str | None:
        if self.program is None:
            return None
        return PROGRAMS.get(self.program, str(self.program))


class _Reader:
    def __init__(self, data: bytes, pos: int, end: int) -> None:
        self.data, self.pos, self.end = data, pos, end

    def u32(self) -> int:
        if self.pos + 4 > self.end:
            raise NeedMore("oncrpc: cut")
        v = int.from_bytes(self.data[self.pos:self.pos + 4], "big")
        self.pos += 4
        return v

    def opaque(self, limit: int) -> bytes:
        n = self.u32()
        if n > limit:
            raise ParseError("oncrpc: opaque too long")
        padded = (n + 3) & ~3
        if self.pos + padded > self.end:
            raise NeedMore("oncrpc: cut")
        raw = self.data[self.pos:self.pos + n]
        if any(self.data[self.pos + n:self.pos + padded]):
            raise ParseError("oncrpc: padding not zero")
        self.pos += padded
        return raw

    def auth(self) -> tuple[int, bytes]:
        flavor = self.u32()
        if flavor not in FLAVORS:
            raise ParseError("oncrpc: unknown auth flavor")
        return flavor, self.opaque(MAX_AUTH)


def _check_auth_sys(body: bytes) -> None:
    """stamp, machinename<255>, uid, gid, gids<16>: exactly the body."""
    r = _Reader(body, 0, len(body))
    try:
        r.u32()
        name = r.opaque(255)
        r.u32()
        r.u32()
        count = r.u32()
        if count > 16:
            raise ParseError("oncrpc: too many groups")
        for _ in range(count):
            r.u32()
    except NeedMore:
        raise ParseError("oncrpc: AUTH_SYS body cut") from None
    if r.pos != len(body) or any(b < 0x20 or b > 0x7E for b in name):
        raise ParseError("oncrpc: bad AUTH_SYS body")


def _record(data: bytes, tcp: bool) -> tuple[int, int]:
    if not tcp:
        return 0, len(data)
    if len(data) < 4:
        raise ParseError("oncrpc: record mark cut")  # too little to tell anything
    n = int.from_bytes(data[:4], "big") & 0x7FFFFFFF
    if not 24 <= n <= MAX_RECORD:
        raise ParseError("oncrpc: bad record length")
    return 4, 4 + n


def parse_message(data: bytes, tcp: bool = False) -> RpcMessage:
    """The RPC message at the start of `data` (a datagram, or a TCP stream); a call's
    header and a reply's status must be in, not necessarily the arguments or results."""
    start, end = _record(data, tcp)
    if len(data) >= start + 8 and data[start + 4:start + 7] != b"\0\0\0":
        raise ParseError("oncrpc: bad message type")
    r = _Reader(data, start, min(end, len(data)))
    xid, kind = r.u32(), r.u32()
    if kind == CALL:
        if r.u32() != 2:
            raise ParseError("oncrpc: rpcvers not 2")
        program, version, procedure = r.u32(), r.u32(), r.u32()
        if program >= 0x60000000 or version > 100 or procedure > 1000:
            raise ParseError("oncrpc: implausible program, version or procedure")
        flavor, body = r.auth()
        if flavor == AUTH_SYS:
            _check_auth_sys(body)
        vflavor, _ = r.auth()
        if vflavor not in (AUTH_NONE, 3, RPCSEC_GSS):
            raise ParseError("oncrpc: bad call verifier")
        return RpcMessage(xid, True, program, version, procedure, flavor, None, end)
    if kind != REPLY:
        raise ParseError("oncrpc: bad message type")
    stat = r.u32()
    if stat == 0:
        flavor, _ = r.auth()
        accept = r.u32()
        if accept >= len(ACCEPT_STATS):
            raise ParseError("oncrpc: bad accept_stat")
        if accept == 2 and r.u32() > r.u32():
            raise ParseError("oncrpc: bad version range")
        return RpcMessage(xid, False, None, None, None, flavor, ACCEPT_STATS[accept], end)
    if stat != 1:
        raise ParseError("oncrpc: bad reply_stat")
    reject = r.u32()
    if reject == 0:
        if r.u32() > r.u32():
            raise ParseError("oncrpc: bad version range")
    elif reject != 1 or r.u32() not in (*range(8), 13, 14):
        raise ParseError("oncrpc: bad rejection")
    return RpcMessage(xid, False, None, None, None, AUTH_NONE, "MSG_DENIED", end)
