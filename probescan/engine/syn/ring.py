"""A packet socket's receive ring (PACKET_RX_RING, TPACKET_V2): replies read from shared
memory in batches, no system call per packet.

The kernel writes each packet the socket's filter keeps into the next free frame of a ring
mapped into our memory and marks the frame as the user's; `drain` walks the frames from where
it stopped, copies out the packets and hands the frames back. When the ring is full the
kernel drops packets (the sweep's retransmissions cover them). Python's lock is never
released while reading, so a sender thread never delays the reader.
"""

from __future__ import annotations

import mmap
import socket
import struct

SOL_PACKET = 263
PACKET_RX_RING = 5
PACKET_VERSION = 10
TPACKET_V2 = 1
TP_STATUS_USER = 1
FRAME = 256  # bytes per frame: the tpacket2 header, the address, a 128-byte snap
FRAMES = 4096  # 1 MiB of ring: twice the replies a full pipeline of batches can bring
BLOCK = 1 << 16
_HEAD = struct.Struct("=IIIHH")  # tp_status, tp_len, tp_snaplen, tp_mac, tp_net
_FREE = bytes(4)


class RxRing:
    """The receive ring of packet socket `sock` (OSError when the kernel refuses one)."""

    def __init__(self, sock: socket.socket, frames: int = FRAMES) -> None:
        per_block = BLOCK // FRAME
        blocks = max(1, frames // per_block)
        self.frames = blocks * per_block
        sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V2)
        sock.setsockopt(SOL_PACKET, PACKET_RX_RING,
                        struct.pack("IIII", BLOCK, blocks, FRAME, self.frames))
        self._map = mmap.mmap(sock.fileno(), BLOCK * blocks, mmap.MAP_SHARED,
                              mmap.PROT_READ | mmap.PROT_WRITE)
        self._at = 0

    def drain(self, limit: int) -> list[bytes]:
        """Up to `limit` packets (network header first), oldest first."""
        ring, head, at, frames = self._map, _HEAD.unpack_from, self._at, self.frames
        got: list[bytes] = []
        for _ in range(limit):
            off = at * FRAME
            status, _, snap, _, net = head(ring, off)
            if not status & TP_STATUS_USER:
                break
            start = off + net
            got.append(ring[start:start + snap])
            ring[off:off + 4] = _FREE
            at = at + 1 if at + 1 < frames else 0
        self._at = at
        return got

    def close(self) -> None:
        self._map.close()
