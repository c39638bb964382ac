"""The SYN sweep (`-sS`): crafted SYNs out, replies matched by their cookie, no handshake.

For each target host a `SynTemplate` (engine/syn/packets.py) holds the packet; each probe
fills in the port and its keyed sequence number (`Cookie`) and goes out on a raw socket
(engine/syn/rawio.py). Replies come in batches from the filtered packet socket; a reply
counts only when it acknowledges (or, for an ICMP error, quotes) the cookie of the probe it
claims to answer, so nothing is looked up to trust it and stray or forged packets are
dropped. The frame (engine/sweep.py) paces, retries and times out.

* SYN/ACK -> open (the kernel, which knows no such connection, resets it: the server sees
  a half-open connection reset, and our verdict is already taken);
* RST -> closed; ICMP destination unreachable (filtering codes) -> filtered; silence after
  every try -> filtered.

The same endpoint twice in the input (one address under two names) is probed once: the
second waits for the first's verdict and gets it too.
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Hashable

from probescan.config import Config
from probescan.engine.limits import RateLimiter
from probescan.engine.sweep import BATCH, Sweep, SweepState, Verdict
from probescan.engine.syn.packets import Cookie, SynTemplate, reply_fields
from probescan.engine.syn.rawio import RawIO, source_address
from probescan.engine.syn.sender import Address, Slot
from probescan.model import Endpoint

WINDOW_FACTOR = 16


class _Host:
    __slots__ = ("address", "dst", "ip", "packet", "prefix", "src")

    def __init__(self, ip: str, src: bytes, dst: bytes, template: SynTemplate,
                 prefix: bytes) -> None:
        self.ip, self.src, self.dst = ip, src, dst
        self.packet, self.prefix = template.packet, prefix
        self.address = Address(ip, len(dst) == 16)


def _no_slot(packet: bytes, dest: Address) -> None:
    raise RuntimeError("a probe sent outside a batch")


class SynSweep(Sweep):
    def __init__(self, config: Config, on_verdict: Verdict, pacer: RateLimiter | None = None,
                 io: RawIO | None = None) -> None:
        super().__init__(config, on_verdict, pacer)
        # A SYN holds no socket on either side: its windows are the connections' times
        # WINDOW_FACTOR (by default 8192 probes in flight, 1024 to one host).
        self.window *= WINDOW_FACTOR
        self.per_host *= WINDOW_FACTOR
        self._emit = on_verdict
        self._io = io if io is not None else RawIO()
        self._cookie = Cookie()
        self._hosts: dict[str, _Host] = {}
        self._by_addr: dict[bytes, _Host] = {}
        self._waiting: dict[tuple[bytes, int], list[Endpoint]] = {}  # the same key twice
        self._slot: Slot | None = None
        self._add = _no_slot  # the batch's Slot.add while a batch is open
        self._last: _Host | None = None
        self.sent = 0  # packets sent, retransmissions included

    def _host(self, ip: str) -> _Host:
        host = self._hosts.get(ip)
        if host is None:
            dst = ipaddress.ip_address(ip).packed
            src = source_address(ip)
            sport = self._io.sport
            template = SynTemplate(src, dst, sport, ip_id=int.from_bytes(os.urandom(2), "big"))
            host = _Host(ip, src, dst, template, self._cookie.prefix(src, dst, sport))
            self._hosts[ip] = self._by_addr[dst] = host
        return host

    def _send(self, ep: Endpoint, attempt: int) -> Hashable | None:
        host = self._last  # the host of the previous probe, usually this one's
        if host is None or host.ip != ep.ip:
            try:
                host = self._last = self._host(ep.ip)
            except (ValueError, OSError) as e:  # not an address, or no route to it
                self._emit(ep, "filtered", 0.0, getattr(e, "strerror", None) or str(e))
                return None
        port = ep.port
        key = (host.dst, port)
        if key in self._pending:  # a second name for the same address: one probe for both
            self._waiting.setdefault(key, []).append(ep)
            self.on_verdict = self._verdict  # from now on, verdicts look for those waiting
            return None
        seq = hash(host.prefix + port.to_bytes(2, "big")) & 0xFFFFFFFF  # Cookie.seq_for
        self._add(host.packet(port, seq), host.address)
        return key

    def _begin(self) -> bool:
        self._slot = self._io.sender.reserve()
        if self._slot is None:
            return False
        self._add = self._slot.add
        return True

    def _end(self) -> None:
        slot, self._slot = self._slot, None
        if slot is not None:
            self.sent += slot.n
            self._io.sender.submit(slot)

    def _verdict(self, ep: Endpoint, state: SweepState, rtt: float,
                 detail: str | None) -> None:
        self._emit(ep, state, rtt, detail)
        if self._waiting:
            host = self._hosts.get(ep.ip)
            for other in self._waiting.pop((host.dst, ep.port), ()) if host else ():
                self._emit(other, state, rtt, detail)

    def _collect(self) -> int:
        packets = self._io.drain(BATCH)
        if not packets:
            return 0
        sport, by_addr, complete = self._io.sport, self._by_addr, self._complete
        now = time.monotonic()
        for packet in packets:
            reply = reply_fields(packet)
            if reply is None:
                continue
            target, ours, oport, tport, state, echo = reply
            host = by_addr.get(target)
            if (host is None or oport != sport or ours != host.src
                    or echo != hash(host.prefix + tport.to_bytes(2, "big")) & 0xFFFFFFFF):
                continue  # not an answer to our probe: stray, late from another scan, forged
            complete((target, tport), state, None, now)
        return len(packets)

    def _fileno(self) -> int:
        return self._io.fileno()

    def _close(self) -> None:
        self._io.close()
