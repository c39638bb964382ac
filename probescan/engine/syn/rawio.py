"""The SYN engine's sockets: crafted packets out on raw IP sockets, replies in on a packet
socket (AF_PACKET) whose BPF filter keeps only what can answer a probe.

* Sending: one `IPPROTO_RAW` socket per address family (the whole IP packet is ours, built by
  `packets.SynTemplate`), fed in batches (engine/syn/sender.py), from a thread of its own
  when a core is free (`spare_core`).
* Receiving: `AF_PACKET`/`SOCK_DGRAM` (network header first, whatever the link), read in
  batches from a ring in shared memory (engine/syn/ring.py; one recv() per packet where
  the kernel offers no ring). The kernel runs the filter before a packet is queued:
  not our own outgoing packets; TCP to our source port (IPv4 first fragments, IPv6 without
  extension headers) and ICMP/ICMPv6 destination-unreachable errors. Everything else never
  reaches Python.
* Our source port is held by bound (never listening) TCP sockets for IPv4 and IPv6, so no
  local connection gets it while the scan runs.

Linux only; needs CAP_NET_RAW (root). `raw_unavailable()` says why it cannot run here.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import ipaddress
import os
import socket
import struct
import threading

from probescan.engine.syn.ring import RxRing
from probescan.engine.syn.sender import Sender

ETH_P_ALL = 0x0003
SO_ATTACH_FILTER = 26
SNAPLEN = 128  # bytes kept of a reply: its headers (and an ICMP error's quote)
RCVBUF = 32 << 20  # the packet socket's queue: a whole sweep's replies fit
BATCH = 4096  # packets read at most per drain

# classic BPF opcodes
_LD_W_ABS, _LD_H_ABS, _LD_B_ABS = 0x20, 0x28, 0x30
_LD_H_IND, _LD_B_IND = 0x48, 0x50
_LDX_B_MSH = 0xB1
_JEQ, _JSET = 0x15, 0x45
_RET = 0x06
_AD = 0xFFFFF000  # SKF_AD_OFF: ancillary data
_AD_PROTOCOL, _AD_PKTTYPE = _AD + 0, _AD + 4
_PACKET_OUTGOING = 4


Jump = int | str  # an offset, or a label
Insn = tuple[int | str, Jump, Jump, int]  # (opcode or label, jump if true, if false, k)


def _assemble(prog: list[Insn]) -> list[tuple[int, int, int, int]]:
    """Labels resolved: each jump becomes the number of instructions it skips."""
    labels: dict[str, int] = {}
    code: list[tuple[int, Jump, Jump, int]] = []
    for op, jt, jf, k in prog:
        if isinstance(op, str):
            labels[op] = len(code)
        else:
            code.append((op, jt, jf, k))

    def rel(j: Jump, i: int) -> int:
        return labels[j] - i - 1 if isinstance(j, str) else j

    return [(op, rel(jt, i), rel(jf, i), k) for i, (op, jt, jf, k) in enumerate(code)]


def bpf_program(sport: int) -> list[tuple[int, int, int, int]]:
    """The filter (code, jump-if-true, jump-if-false, k) for replies to `sport`."""
    return _assemble([
        (_LD_W_ABS, 0, 0, _AD_PKTTYPE),
        (_JEQ, "drop", 0, _PACKET_OUTGOING),
        (_LD_W_ABS, 0, 0, _AD_PROTOCOL),
        (_JEQ, "v4", 0, 0x0800),
        (_JEQ, "v6", "drop", 0x86DD),
        ("v4", 0, 0, 0),
        (_LD_B_ABS, 0, 0, 9),
        (_JEQ, "tcp4", 0, 6),
        (_JEQ, "icmp4", "drop", 1),
        ("tcp4", 0, 0, 0),
        (_LD_H_ABS, 0, 0, 6),
        (_JSET, "drop", 0, 0x1FFF),  # not a first fragment
        (_LDX_B_MSH, 0, 0, 0),  # x = the IPv4 header's length
        (_LD_H_IND, 0, 0, 2),  # the TCP destination port
        (_JEQ, "keep", "drop", sport),
        ("icmp4", 0, 0, 0),
        (_LDX_B_MSH, 0, 0, 0),
        (_LD_B_IND, 0, 0, 0),  # the ICMP type
        (_JEQ, "keep", "drop", 3),
        ("v6", 0, 0, 0),
        (_LD_B_ABS, 0, 0, 6),  # the next header
        (_JEQ, "tcp6", 0, 6),
        (_JEQ, "icmp6", "drop", 58),
        ("tcp6", 0, 0, 0),
        (_LD_H_ABS, 0, 0, 42),
        (_JEQ, "keep", "drop", sport),
        ("icmp6", 0, 0, 0),
        (_LD_B_ABS, 0, 0, 40),
        (_JEQ, "keep", "drop", 1),
        ("keep", 0, 0, 0),
        (_RET, 0, 0, SNAPLEN),
        ("drop", 0, 0, 0),
        (_RET, 0, 0, 0),
    ])


def attach_filter(sock: socket.socket, prog: list[tuple[int, int, int, int]]) -> None:
    blob = b"".join(struct.pack("HBBI", op, jt, jf, k) for op, jt, jf, k in prog)
    buf = ctypes.create_string_buffer(blob, len(blob))
    fprog = struct.pack("HL", len(prog), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def raw_unavailable() -> str | None:
    """None when raw IP and packet sockets can be opened here, else why not."""
    if not hasattr(socket, "AF_PACKET"):
        return "raw packet sockets (AF_PACKET) need Linux"
    try:
        if not _spare:
            rx = _packet_socket()
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW):
                    pass
            except BaseException:
                rx.close()
                raise
            _spare.append(rx)  # the SYN sweep that usually follows takes it (RawIO)
    except PermissionError:
        return "raw sockets need root (CAP_NET_RAW)"
    except OSError as e:
        return f"raw sockets unavailable: {e.strerror or e}"
    return None


# Opening a packet socket is cheap, closing one is not (the kernel waits for a grace period:
# ~10 ms asleep): the one raw_unavailable() opened is kept, filtered to drop everything, for
# the sweep's RawIO.
_spare: list[socket.socket] = []
_DROP = [(_RET, 0, 0, 0)]


def _packet_socket() -> socket.socket:
    """A packet socket that receives nothing yet: every packet dropped by its filter (the few
    queued before the filter was attached are read away)."""
    rx = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
    try:
        attach_filter(rx, _DROP)
        rx.setblocking(False)
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while True:
                rx.recv(1)
    except BaseException:
        rx.close()
        raise
    return rx


def source_address(ip: str) -> bytes:
    """The packed address our probes to `ip` come from: the target itself when it is a
    loopback address (so nothing answers to another loopback address), otherwise the one
    the kernel's routing picks."""
    addr = ipaddress.ip_address(ip)
    family = socket.AF_INET6 if addr.version == 6 else socket.AF_INET
    if addr.is_loopback:
        return addr.packed
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.connect((ip, 9))  # no packet is sent: this only asks the routing table
        return socket.inet_pton(family, s.getsockname()[0])


def spare_core() -> bool:
    """Is a core free for a sender thread? (two or more cores, the last minute's load
    average below cores - 1). Sending from a thread overlaps the kernel's work with
    Python's; on a busy machine the two threads would wait for each other's turn on a
    core, and sending from the sweep's own thread is faster."""
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        return cores >= 2
    return cores >= 2 and load < cores - 1


def _hold_port() -> tuple[int, list[socket.socket]]:
    """A source port bound (not listening) for both IPv4 and IPv6."""
    for _ in range(32):
        s4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s4.bind(("0.0.0.0", 0))
        port = s4.getsockname()[1]
        s6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s6.bind(("::", port))
        except OSError:
            s4.close()
            s6.close()
            continue
        return port, [s4, s6]
    raise OSError(errno.EADDRINUSE, "no source port free for IPv4 and IPv6 at once")


class RawIO:
    """Raw send sockets, the filtered packet socket and the held source port."""

    def __init__(self) -> None:
        self.sport, self._held = _hold_port()
        try:
            self.rx = _spare.pop() if _spare else _packet_socket()
            attach_filter(self.rx, bpf_program(self.sport))  # replaces the drop-all filter
            with contextlib.suppress(OSError):
                self.rx.setsockopt(socket.SOL_SOCKET, 33, RCVBUF)  # SO_RCVBUFFORCE
            self.rx.setblocking(False)
            self._tx = {
                socket.AF_INET: socket.socket(socket.AF_INET, socket.SOCK_RAW,
                                              socket.IPPROTO_RAW),
                socket.AF_INET6: socket.socket(socket.AF_INET6, socket.SOCK_RAW,
                                               socket.IPPROTO_RAW),
            }
        except BaseException:
            self.close()
            raise
        try:
            self._ring: RxRing | None = RxRing(self.rx)
        except OSError:  # no mappable ring here: one recv() per packet
            self._ring = None
        self.sender = Sender(self._tx[socket.AF_INET], self._tx[socket.AF_INET6],
                             threaded=spare_core())
        self._recv = self.rx.recv

    def fileno(self) -> int:
        return self.rx.fileno()

    def drain(self, limit: int = BATCH) -> list[bytes]:
        """The packets waiting now (at most `limit`), without blocking."""
        if self._ring is not None:
            return self._ring.drain(limit)
        got: list[bytes] = []
        recv = self._recv
        try:
            for _ in range(limit):
                got.append(recv(SNAPLEN))
        except (BlockingIOError, InterruptedError):
            pass
        return got

    def close(self) -> None:
        sender = getattr(self, "sender", None)
        if sender is not None:
            sender.close()
        ring = getattr(self, "_ring", None)
        if ring is not None:
            ring.close()
        for s in [*self._held, *getattr(self, "_tx", {}).values()]:
            s.close()
        rx = getattr(self, "rx", None)
        if rx is not None:
            # The kernel's grace periods (~25 ms asleep) pass in a thread of their own while
            # the scan writes its outputs and ends.
            threading.Thread(target=rx.close, name="probescan-rx-close", daemon=True).start()
