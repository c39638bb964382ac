"""Packet sources: a pcap/pcapng file or a live interface (scapy, imported lazily here only).

Both yield (timestamp, link type, frame bytes); decoding is probescan.protocols.packet's job.
"""

from __future__ import annotations

import mmap
import os
import socket
import struct
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

Frame = tuple[float, int, bytes]


class CaptureError(Exception):
    """One line for the user: a file that cannot be read, a missing privilege, a bad filter."""


def need_scapy(what: str) -> None:
    """scapy is a dependency, imported only when a capture needs it; an install without it
    (a trimmed environment) gets one line naming what needs it, not a traceback."""
    try:
        import scapy  # noqa: F401
    except ImportError:
        raise CaptureError(f"{what} needs the Python package scapy, which is not installed "
                           "(python3 -m pip install scapy)") from None


def _ts(meta: Any) -> float:
    if hasattr(meta, "sec"):
        return float(meta.sec) + float(meta.usec) / 1_000_000
    raw = (int(meta.tshigh) << 32) | int(meta.tslow)
    return raw / float(meta.tsresol or 1_000_000)


_PCAP_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
MAX_FRAME = 262144


def warn_truncated(path: Path, frames: int, whole: int, size: int) -> None:
    """A capture cut short (a copy taken while tcpdump was still writing, a download that
    stopped): its whole frames are used, and the user is told how much was read."""
    print(f"probescan: warning: capture '{path}' is truncated: read {frames} whole frame(s), "
          f"{whole} of its {size} bytes; the rest is an incomplete frame", file=sys.stderr)


def pcapng_whole_bytes(path: Path) -> int:
    """How many bytes at the start of a pcapng file are whole blocks (its size when it is
    complete); only block headers are read. Each Section Header Block states the byte order
    of the blocks after it."""
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return 0
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            pos, endian = 0, "<"
            while pos + 12 <= size:
                if mm[pos:pos + 4] == b"\x0a\x0d\x0d\x0a":  # a section starts: its byte order
                    endian = "<" if mm[pos + 8:pos + 12] == b"\x4d\x3c\x2b\x1a" else ">"
                length = struct.unpack_from(endian + "I", mm, pos + 4)[0]
                if length < 12 or length % 4 or pos + length > size:
                    return pos
                pos += length
            return pos


def read_file(path: Path) -> Iterator[Frame]:
    """Frames of a pcap or pcapng file, in file order. A file cut inside its last frame
    gives its whole frames and a warning on stderr saying how much was read.

    Classic pcap (the common case, and what tcpdump writes) is read directly from a memory
    map, which is several times faster than a general reader; pcapng goes through scapy."""
    if not path.is_file():
        raise CaptureError(f"cannot read capture '{path}': no such file")
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise CaptureError(f"cannot read capture '{path}': {e.strerror}") from e
    if magic in _PCAP_MAGIC:
        return _read_pcap(path, *_PCAP_MAGIC[magic])
    need_scapy(f"reading the capture '{path}' (not classic pcap)")
    return _read_with_scapy(path)


def _read_pcap(path: Path, endian: str, scale: float) -> Iterator[Frame]:
    with path.open("rb") as f:
        head = f.read(24)
        if len(head) < 24:
            raise CaptureError(f"capture '{path}' is damaged: short file header")
        link = struct.unpack(endian + "I", head[20:24])[0] & 0x0FFFFFFF
        size = os.fstat(f.fileno()).st_size
        if size <= 24:
            return
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            record = struct.Struct(endian + "IIII")
            pos, frames = 24, 0
            while pos + 16 <= size:
                sec, frac, incl, _orig = record.unpack_from(mm, pos)
                pos += 16
                if incl > MAX_FRAME:
                    raise CaptureError(f"capture '{path}' is damaged: a frame of {incl} bytes "
                                       f"at offset {pos - 16}")
                if pos + incl > size:  # cut inside its last frame: keep what is whole
                    warn_truncated(path, frames, pos - 16, size)
                    return
                frames += 1
                yield sec + frac * scale, link, mm[pos:pos + incl]
                pos += incl
            if pos != size:  # cut inside the last frame's header
                warn_truncated(path, frames, pos, size)


def _read_with_scapy(path: Path) -> Iterator[Frame]:
    import logging

    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)  # we say it once, below
    from scapy.error import Scapy_Exception
    from scapy.utils import RawPcapReader

    try:
        reader = RawPcapReader(str(path))
    except (Scapy_Exception, OSError, EOFError, ValueError) as e:
        raise CaptureError(f"cannot read capture '{path}': {e}") from e
    link = getattr(reader, "linktype", None)
    items = iter(reader)
    frames = 0
    try:
        while True:
            try:
                data, meta = next(items)
            except StopIteration:
                size = path.stat().st_size
                whole = pcapng_whole_bytes(path)
                if whole < size:
                    warn_truncated(path, frames, whole, size)
                return
            except (Scapy_Exception, ValueError, OSError, EOFError) as e:
                raise CaptureError(f"capture '{path}' is damaged: {e}") from e
            lt = getattr(meta, "linktype", None)
            if lt is None:
                lt = 1 if link is None else link
            frames += 1
            yield _ts(meta), int(lt), bytes(data)
    finally:
        reader.close()


def live(iface: str, bpf: str) -> Iterator[Frame]:
    """Frames from a live interface with a kernel BPF filter. Needs CAP_NET_RAW. Errors
    (privilege, interface, filter) are raised here, before any frame is read."""
    import logging

    need_scapy(f"capturing on '{iface}'")
    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
    import scapy.arch  # noqa: F401 - sets conf.L2listen for this platform
    from scapy.config import conf
    from scapy.error import Scapy_Exception

    if os.geteuid() != 0 and not _has_cap_net_raw():
        raise CaptureError(
            f"cannot capture on '{iface}': needs root or the CAP_NET_RAW capability "
            "(e.g. sudo setcap cap_net_raw+ep $(readlink -f $(which python3)))"
        )
    try:
        socket.if_nametoindex(iface)
    except OSError:
        raise CaptureError(f"cannot capture on '{iface}': no such interface") from None
    try:
        sock = conf.L2listen(iface=iface, filter=bpf or None)
    except PermissionError as e:
        raise CaptureError(f"cannot capture on '{iface}': permission denied (CAP_NET_RAW)") from e
    except (OSError, Scapy_Exception) as e:
        raise CaptureError(f"cannot capture on '{iface}': {e}") from e
    link = _linktype(sock)
    _enlarge_buffer(sock)
    raw = getattr(sock, "ins", None)
    if isinstance(raw, socket.socket) and raw.family == getattr(socket, "AF_PACKET", -1):
        return _read_packet_socket(sock, raw, iface, link)
    return _read_scapy_socket(sock, iface, link)


def _read_packet_socket(sock: Any, raw: socket.socket, iface: str, link: int
                        ) -> Iterator[Frame]:
    """Linux: read the AF_PACKET socket under scapy's directly (several times cheaper per
    frame than scapy's reader, which matters at line rate); a frame's time is when it is
    read. Our own host's outgoing copies are skipped, as scapy does."""
    outgoing = socket.PACKET_OUTGOING
    try:
        while True:
            try:
                data, addr = raw.recvfrom(65535)
            except OSError as e:
                raise CaptureError(f"capture on '{iface}' failed: {e}") from e
            if addr[2] != outgoing:
                yield time.time(), link, data
    finally:
        sock.close()


def _read_scapy_socket(sock: Any, iface: str, link: int) -> Iterator[Frame]:
    from scapy.error import Scapy_Exception

    try:
        while True:
            try:
                _cls, data, ts = sock.recv_raw(65535)
            except (OSError, Scapy_Exception) as e:
                raise CaptureError(f"capture on '{iface}' failed: {e}") from e
            if data is None:
                continue
            yield (ts if ts else time.time()), link, bytes(data)
    finally:
        sock.close()


RCVBUF = 32 << 20  # bytes of kernel buffer for bursts (loopback frames reach 64 KiB)


def _enlarge_buffer(sock: Any) -> None:
    """A burst (our own probes answer at loopback speed) must not overflow the capture
    socket before the reader thread empties it."""
    raw = getattr(sock, "ins", None)
    if raw is None:
        return
    for opt in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
        if opt is None:
            continue
        try:
            raw.setsockopt(socket.SOL_SOCKET, opt, RCVBUF)
            return
        except OSError:
            continue


def _linktype(sock: Any) -> int:
    lt = getattr(sock, "LL", None)
    name = getattr(lt, "__name__", "")
    return {"Ether": 1, "CookedLinux": 113, "CookedLinuxV2": 276, "Loopback": 0}.get(name, 1)


def _has_cap_net_raw() -> bool:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) & (1 << 13))
    return False
