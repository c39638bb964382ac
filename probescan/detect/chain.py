"""Cryptocurrency networks: Stratum mining, Monero (Levin), Ethereum (devp2p) and Nano.

* Mining (Stratum v1 and its Ethereum/Monero variants): a JSON-RPC line whose method is a
  pool method (`mining.subscribe`, `mining.authorize`, `eth_submitLogin`, ... or a `login`
  with login, pass and agent).
* Monero P2P (Levin): the 8-byte signature `01 21 01 01 01 01 01 01`, request/response
  flags and protocol version 1.
* Ethereum devp2p: over TCP the RLPx handshake (EIP-8 size prefix or the 307-byte legacy
  auth), whose ECIES message starts with an uncompressed secp256k1 public key that must lie
  on the curve; over UDP a discovery v4 packet whose Keccak-256 hash covers the rest and
  whose RLP payload fills the datagram.
* Nano node protocol (docs.nano.org, "Protocol design: networking", message header): `R`,
  a network id (`A` dev, `B` beta, `C` live, `X` test), the maximum, used and minimum
  protocol versions, the message type and 16 bits of extensions; a connection opens with a
  node id handshake (a 32-byte cookie when the query flag is set, a 96-byte v1 or 160-byte
  v2 response when the response flag is) or a keepalive of eight 18-byte peers, whose size
  the header fixes.
"""

from __future__ import annotations

import json

from probescan.detect.base import BOTH, NEED_MORE, TCP, Detector, Fact, Messages, Result
from probescan.detect.framing import CLIENT, SERVER, Hit, SideResult, by_datagram, by_stream
from probescan.protocols.keccak import keccak256

# ---- Stratum mining --------------------------------------------------------------------

_MINING_CLIENT = frozenset({"mining.subscribe", "mining.authorize", "mining.submit",
                            "mining.extranonce.subscribe", "mining.configure",
                            "mining.suggest_difficulty", "mining.get_transactions",
                            "eth_submitLogin", "eth_getWork", "eth_submitWork",
                            "eth_submitHashrate"})
_MINING_SERVER = frozenset({"mining.notify", "mining.set_difficulty", "mining.set_target",
                            "mining.set_extranonce", "mining.set_version_mask"})


def _mining(d: bytes) -> SideResult:
    if d[:1] != b"{":
        return None
    end = d.find(b"\n")
    if end < 0:
        return NEED_MORE if len(d) < 4096 and b'"method"' in d[:256] else None
    try:
        obj = json.loads(d[:end])
    except ValueError:
        return None
    method = obj.get("method") if isinstance(obj, dict) else None
    if not isinstance(method, str):
        return None
    facts: dict[str, Fact] = {"mining_method": method}
    if method in _MINING_CLIENT:
        return Hit(facts, CLIENT)
    if method in _MINING_SERVER:
        return Hit(facts, SERVER)
    params = obj.get("params")
    if method == "login" and isinstance(params, dict) and {"login", "pass", "agent"} <= \
            params.keys():
        return Hit(facts, CLIENT)
    return None


def mining(msgs: Messages) -> Result:
    return by_stream(msgs, "mining", _mining)


# ---- Monero (Levin) --------------------------------------------------------------------

_LEVIN = b"\x01\x21\x01\x01\x01\x01\x01\x01"
_LEVIN_COMMANDS = {1001: "handshake", 1002: "timed sync", 1003: "ping",
                   1007: "support flags"}


def _monero(d: bytes) -> SideResult:
    if d[:8] != _LEVIN[:len(d)]:
        return None
    if len(d) < 33:
        return NEED_MORE
    flags, version = int.from_bytes(d[25:29], "little"), int.from_bytes(d[29:33], "little")
    if flags not in (1, 2) or version != 1 or int.from_bytes(d[8:16], "little") > 1 << 28:
        return None
    command = int.from_bytes(d[17:21], "little")
    facts: dict[str, Fact] = {"levin_command": _LEVIN_COMMANDS.get(command, str(command))}
    role = (CLIENT if flags == 1 else SERVER) if command == 1001 else None
    return Hit(facts, role)


def monero(msgs: Messages) -> Result:
    return by_stream(msgs, "monero", _monero)


# ---- Ethereum devp2p -------------------------------------------------------------------

_P = 2**256 - 2**32 - 977  # secp256k1 field prime


def _on_curve(point: bytes) -> bool:
    """An uncompressed secp256k1 point (0x04, X, Y) that satisfies y^2 = x^3 + 7."""
    if len(point) != 65 or point[0] != 0x04:
        return False
    x, y = int.from_bytes(point[1:33], "big"), int.from_bytes(point[33:65], "big")
    return x < _P and y < _P and (y * y - x * x * x - 7) % _P == 0


def _rlpx(d: bytes) -> SideResult:
    if len(d) < 67:
        return None
    size = int.from_bytes(d[:2], "big")
    if d[2] == 0x04 and 65 + 16 + 32 < size <= 2048 and _on_curve(d[2:67]):
        return Hit({"rlpx_handshake": "eip8"})  # framed RLPx messages follow
    if len(d) in (307, 210) and _on_curve(d[:65]):
        return Hit({"rlpx_handshake": "legacy"})
    return None


def _rlp_list_length(d: bytes, pos: int) -> int | None:
    """The total size of the RLP list at `pos`, or None if it is not a list."""
    if pos >= len(d):
        return None
    first = d[pos]
    if 0xC0 <= first <= 0xF7:
        return 1 + first - 0xC0
    if first >= 0xF8:
        n = first - 0xF7
        size = int.from_bytes(d[pos + 1:pos + 1 + n], "big")
        return 1 + n + size if len(d) >= pos + 1 + n and size >= 56 else None
    return None


_DISCV4 = {1: "ping", 2: "pong", 3: "findnode", 4: "neighbors", 5: "enrrequest",
           6: "enrresponse"}


def _discv4(d: bytes) -> SideResult:
    if len(d) < 99 or d[97] not in _DISCV4 or _rlp_list_length(d, 98) != len(d) - 98:
        return None
    if keccak256(d[32:]) != d[:32] or d[96] > 1:
        return None
    return Hit({"discv4_packet": _DISCV4[d[97]]}, CLIENT if d[97] in (1, 3, 5) else SERVER)


def ethereum(msgs: Messages) -> Result:
    if msgs.transport == "udp":
        return by_datagram(msgs, "ethereum", _discv4)
    return by_stream(msgs, "ethereum", _rlpx)


# ---- Nano --------------------------------------------------------------------------------

_NANO_NETWORKS = {0x41: "dev", 0x42: "beta", 0x43: "live", 0x58: "test"}
_NANO_KEEPALIVE, _NANO_HANDSHAKE = 0x02, 0x0A


def _nano_size(d: bytes) -> int | None:
    """The size of the keepalive / node id handshake message the header announces."""
    kind, ext = d[5], int.from_bytes(d[6:8], "little")
    if kind == _NANO_KEEPALIVE:
        return 8 + 8 * 18 if ext == 0 else None
    if kind != _NANO_HANDSHAKE or not ext & 0x3 or ext & ~0x7:
        return None
    query = 32 if ext & 0x1 else 0
    response = (160 if ext & 0x4 else 96) if ext & 0x2 else 0
    return 8 + query + response


def _nano(d: bytes) -> SideResult:
    if len(d) < 8:
        return NEED_MORE if d[:1] == b"R" and (len(d) < 2 or d[1] in _NANO_NETWORKS) else None
    if d[0] != 0x52 or d[1] not in _NANO_NETWORKS or not 1 <= d[4] <= d[3] <= d[2] <= 64:
        return None
    size = _nano_size(d)
    if size is None:
        return None
    if len(d) < size:
        return NEED_MORE
    kind = "node-id-handshake" if d[5] == _NANO_HANDSHAKE else "keepalive"
    return Hit({"nano_network": _NANO_NETWORKS[d[1]], "nano_message": kind,
                "nano_version": d[3]})


def nano(msgs: Messages) -> Result:
    return by_stream(msgs, "nano", _nano)


DETECTORS = (
    Detector("mining", TCP, mining,
             "either side: a JSON-RPC line calling a Stratum pool method",
             "Stratum mining protocol (Slush Pool docs; EthereumStratum; XMRig)"),
    Detector("monero", TCP, monero,
             "either side: Levin signature, request/response flags, version 1",
             "Monero Levin protocol (monero-project docs/LEVIN_PROTOCOL.md)"),
    Detector("ethereum", BOTH, ethereum,
             "TCP: RLPx auth/ack whose ECIES public key lies on secp256k1; UDP: discovery v4 "
             "packet whose Keccak-256 hash and RLP length hold",
             "devp2p RLPx (EIP-8) and Node Discovery Protocol v4 (github.com/ethereum/devp2p)"),
    Detector("nano", TCP, nano,
             "either side: `R` + network id, versions min <= using <= max, then a node id "
             "handshake or keepalive of the size its type and extension flags fix",
             "Nano protocol design: networking (message header, node_id_handshake)"),
)
