"""The capture filters of `watch` and `scans`: the watched flows (TCP and UDP, and the user's
`--bpf`), plus the ICMP and ICMPv6 errors that answer a packet of one of them.

A UDP probe to a closed port is answered by an ICMP port unreachable, a probe that cannot
get through by another destination unreachable: without them a UDP scan reads as
unanswered. Such an error does not itself match a filter written for the flows (`udp`,
`port 53`, `src net 10.0.0.0/8`): it is an ICMP packet, often from another address, with no
ports. So:

* live (`-i`), the kernel filter passes every ICMP error, then the user's expression and
  the transports: ``ERRORS or ((USER) and (tcp or udp or (vlan and (tcp or udp or
  ERRORS))))``. The errors come first: BPF's `vlan` shifts the offsets of every term after
  it, so it must come last. With a `--bpf`, an ICMP error the user's expression does not
  take itself is kept only when the packet it quotes (its IP header and the first bytes of
  its transport header) matches ``(USER) and (tcp or udp)``: the error answers a watched
  flow. Libpcap runs that test in the capture thread (pcap_offline_filter, a C call), only on
  ICMP errors.
* on a file (`-r` with `--bpf`), a frame is kept when the user's expression takes it, or
  when it is such an ICMP error about a watched flow.

ERRORS are ICMP destination unreachable, time exceeded and parameter problem (types 3, 11,
12) and ICMPv6 destination unreachable, packet too big, time exceeded and parameter problem
(types 1 to 4).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from probescan.protocols.encap import (
    ETH_IPV4,
    ETH_IPV6,
    ETH_VLAN,
    LINK_ETHERNET,
    LINK_IPV4,
    LINK_IPV6,
    LINK_LINUX_SLL,
    LINK_LINUX_SLL2,
    LINK_LOOP,
    LINK_NULL,
    LINK_RAW,
)
from probescan.watch.bpf import Keep, file_filter, filtered
from probescan.watch.capture import CaptureError, Frame, live

ERRORS = ("(icmp[icmptype] == icmp-unreach or icmp[icmptype] == icmp-timxceed"
          " or icmp[icmptype] == icmp-paramprob)"
          " or (icmp6 and ip6[40] >= 1 and ip6[40] <= 4)")
TRANSPORTS = "tcp or udp"
_V4_ERRORS = frozenset({3, 11, 12})
_V6_ERRORS = frozenset({1, 2, 3, 4})
_ICMP, _ICMPV6 = 1, 58


def kernel_expression(user: str = "") -> str:
    """The live capture's kernel filter: the watched flows and the ICMP errors."""
    base = f"{TRANSPORTS} or (vlan and ({TRANSPORTS} or {ERRORS}))"
    if not user:
        return f"{ERRORS} or {base}"
    return f"{ERRORS} or (({user}) and ({base}))"


def quoted(link: int, data: bytes) -> bytes | None:
    """The IP packet an ICMP or ICMPv6 error in this frame quotes (from its IP header on),
    or None when the frame is no such error. Ethernet (with VLAN tags), Linux cooked capture
    v1 and v2, BSD loopback and raw IP; an IPv6 error is read only right after the fixed
    header, as the kernel filter reads it."""
    if link == LINK_ETHERNET:
        if len(data) < 14:
            return None
        etype, off = struct.unpack_from("!H", data, 12)[0], 14
        while etype in ETH_VLAN and len(data) >= off + 4:
            etype, off = struct.unpack_from("!H", data, off + 2)[0], off + 4
    elif link == LINK_LINUX_SLL:
        if len(data) < 16:
            return None
        etype, off = struct.unpack_from("!H", data, 14)[0], 16
    elif link == LINK_LINUX_SLL2:
        if len(data) < 20:
            return None
        etype, off = struct.unpack_from("!H", data, 0)[0], 20
    elif link in (LINK_NULL, LINK_LOOP):
        if len(data) < 5:
            return None
        etype, off = (ETH_IPV4 if data[4] >> 4 == 4 else ETH_IPV6), 4
    elif link in (LINK_RAW, LINK_IPV4, LINK_IPV6):
        if not data:
            return None
        etype, off = (ETH_IPV4 if data[0] >> 4 == 4 else ETH_IPV6), 0
    else:
        return None
    if etype == ETH_IPV4:
        if len(data) < off + 20 or data[off + 9] != _ICMP:
            return None
        ihl = (data[off] & 0x0F) * 4
        total, frag = struct.unpack_from("!H2xH", data, off + 2)
        at = off + ihl
        end = min(len(data), off + total) if total >= ihl else len(data)
        if ihl < 20 or frag & 0x1FFF or end < at + 8 + 20 or data[at] not in _V4_ERRORS:
            return None
        return data[at + 8:end]
    if etype == ETH_IPV6:
        if len(data) < off + 40 or data[off + 6] != _ICMPV6:
            return None
        plen = struct.unpack_from("!H", data, off + 4)[0]
        at = off + 40
        end = min(len(data), at + plen) if plen else len(data)
        if end < at + 8 + 40 or data[at] not in _V6_ERRORS:
            return None
        return data[at + 8:end]
    return None


class _QuotedTest:
    """``(USER) and (tcp or udp)`` on a quoted packet (raw IP). An expression libpcap cannot
    compile for raw IP (one naming Ethernet addresses), or one that takes no TCP or UDP
    packet (`icmp`), matches no quoted packet."""

    def __init__(self, user: str) -> None:
        self.usable = True
        try:
            self.keep: Keep | None = file_filter(f"({user}) and ({TRANSPORTS})")
        except CaptureError:
            self.keep = None

    def __call__(self, packet: bytes) -> bool:
        if not self.usable or self.keep is None:
            return False
        try:
            return self.keep(LINK_RAW, packet)
        except CaptureError:
            self.usable = False
            return False


def live_keep(user: str) -> Keep | None:
    """The test on what the kernel filter passed (None: every frame is kept): frames that are
    no ICMP error passed the user's expression in the kernel already."""
    if not user:
        return None
    own = file_filter(user)
    about_watched = _QuotedTest(user)

    def keep(link: int, data: bytes) -> bool:
        inner = quoted(link, data)
        return inner is None or own(link, data) or about_watched(inner)

    return keep


def file_keep(user: str) -> Keep:
    """`--bpf` on a file: the user's expression, or an ICMP error about a watched flow."""
    own = file_filter(user)
    about_watched = _QuotedTest(user)

    def keep(link: int, data: bytes) -> bool:
        if own(link, data):
            return True
        inner = quoted(link, data)
        return inner is not None and about_watched(inner)

    return keep


def live_frames(iface: str, user: str = "") -> Iterator[Frame]:
    """Frames of a live interface: the watched flows and the ICMP errors about them. Errors
    (privilege, interface, a filter libpcap refuses) are raised here, before any frame."""
    frames = live(iface, kernel_expression(user))
    keep = live_keep(user)
    return frames if keep is None else filtered(frames, keep)
