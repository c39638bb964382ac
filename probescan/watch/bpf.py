"""`--bpf EXPR` on a capture file (`-r`): the expression compiled by libpcap (through scapy),
once per link type met, and each frame run through it (libpcap's pcap_offline_filter), so a
file is filtered as a live capture is. An expression libpcap refuses is one line for the user
before anything is read."""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterator
from typing import Any

from probescan.watch.capture import CaptureError, Frame, need_scapy

Keep = Callable[[int, bytes], bool]  # (link type, frame) -> does the filter accept it?


def _compile(expr: str, link: int) -> Any:
    from scapy.arch.common import compile_filter
    from scapy.error import Scapy_Exception

    try:
        return compile_filter(expr, linktype=link)
    except (Scapy_Exception, ImportError, OSError) as e:
        why = str(e)
        if "(" in why and why.endswith(")"):  # "Failed to compile filter expression ... (why)"
            why = why[why.rindex("(") + 1:-1]
        raise CaptureError(f"bad --bpf '{expr}': {why}") from None


def file_filter(expr: str) -> Keep:
    """A test for the frames of a file; the expression is checked now (for Ethernet)."""
    need_scapy("--bpf")
    from scapy.libs.winpcapy import _lib, pcap_pkthdr

    programs: dict[int, Any] = {1: _compile(expr, 1)}
    offline = _lib.pcap_offline_filter
    offline.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p]
    offline.restype = ctypes.c_int
    header = pcap_pkthdr()

    def keep(link: int, data: bytes) -> bool:
        program = programs.get(link)
        if program is None:
            program = programs[link] = _compile(expr, link)
        header.caplen = header.len = len(data)
        return bool(offline(ctypes.byref(program), ctypes.byref(header), data))

    return keep


def filtered(frames: Iterator[Frame], keep: Keep) -> Iterator[Frame]:
    """The frames the filter accepts."""
    for frame in frames:
        if keep(frame[1], frame[2]):
            yield frame
