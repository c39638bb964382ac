"""Attempts: per packet, each probe a source sends and what came back, counted for its source.

An *attempt* is a probe (a SYN, a FIN, NULL, Xmas, ACK or FIN/ACK segment of no known
connection, a UDP datagram) and what came back, keyed by the prober's (address, target,
source port, destination port):

* SYN -> SYN/ACK -> RST from the prober: half-open (`syn`), the port open;
  SYN -> SYN/ACK -> ACK, then FIN or RST with no payload either way: `connect`, open;
  SYN -> RST: closed (`syn`, or `connect` when the SYN carries an operating system's
  options); no answer within `reply_timeout`: filtered; ICMP unreachable: filtered;
* FIN, FIN+PSH+URG, no flags, FIN+ACK (`fin`, `xmas`, `null`, `maimon`): RST -> closed,
  silence -> open|filtered; ACK (`ack`): RST -> unfiltered, silence -> filtered;
* UDP: ICMP port unreachable -> closed, other unreachables -> filtered, silence ->
  open|filtered, a UDP reply -> open;
* payload either way makes the attempt a success: it is never counted as a failure, so a
  busy client whose connections carry data is never a scanner.

Each outcome is counted for the prober's source (probescan.scans.units.Source); failed and
payload-less attempts feed the thresholds of the source's unit. Which unit a new source
joins, and what becomes of the units as time passes, is the detector's
(probescan.scans.detector). Time is the capture's (packet timestamps).
"""

from __future__ import annotations

import abc
import gc
from collections.abc import Iterable
from typing import Any

from probescan.protocols.encap import ETH_IPV4, LINK_ETHERNET
from probescan.scans.asn import AsnDb
from probescan.scans.config import ScanConfig
from probescan.scans.headers import (
    FAST,
    FAST_LEN,
    ICMP,
    ICMP_CLOSED,
    OPT_NONE,
    OPT_OS,
    TCP,
    UDP,
    read,
    tcp_options,
)
from probescan.scans.tells import probe_tells
from probescan.scans.units import UDP_PORT, Source, Unit

TELLS_ALL = 256  # a source's first probes whose tells are all counted ...
TELLS_EVERY = 15  # ... then one in 16 (a mask)

FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20

# probe kinds, and the technique each one is counted as
SYN_RAW, SYN_OS, K_FIN, K_NULL, K_XMAS, K_ACK, K_MAIMON, K_OTHER, K_UDP = range(9)
T_SYN, T_CONNECT = SYN_RAW, SYN_OS  # a kind's number is its technique's
O_OPEN, O_CLOSED, O_FILTERED, O_UNFILTERED, O_OPEN_FILTERED = range(5)  # STATES' order
_STEALTH = {FIN: K_FIN, 0: K_NULL, FIN | PSH | URG: K_XMAS, ACK: K_ACK, FIN | ACK: K_MAIMON}
# what silence means for each kind
_SILENCE = (O_FILTERED, O_FILTERED, O_OPEN_FILTERED, O_OPEN_FILTERED, O_OPEN_FILTERED,
            O_FILTERED, O_OPEN_FILTERED, O_FILTERED, O_OPEN_FILTERED)

# an attempt: [source, target, port key, kind, stage, last packet time, first packet time]
SRC, TARGET, PORT, KIND, STAGE, LAST, FIRST = range(7)
SENT, SYNACK, ESTAB, DONE = range(4)
Attempt = list[Any]
Key = tuple[int, int, int, int]


class AttemptTracker(abc.ABC):
    """The attempts of every source, followed packet by packet (the hot path of `probescan
    scans -r` and of the watcher's scan fold): `frame`, `frames` and `packet` here; the
    units and their records in the subclass, ScanDetector."""

    def __init__(self, config: ScanConfig, asn: AsnDb | None = None) -> None:
        self.config = config
        self.asn = asn
        self.attempts: dict[Key, Attempt] = {}
        self.sources: dict[int, Source] = {}
        self.units: dict[int, Unit] = {}
        self.packets = 0
        self._every = min(config.reply_timeout, config.idle) / 2
        self._max_targets, self._max_attempts = config.max_targets, config.max_attempts
        self._next_sweep = 0.0

    @abc.abstractmethod
    def _source(self, ip: int, ts: float) -> Source:
        """A new source's record, in the unit it belongs to."""

    @abc.abstractmethod
    def _units(self, now: float) -> None:
        """After the attempts that timed out are decided: the units' records, and the
        forgetting of what went quiet."""

    # ---- per packet -------------------------------------------------------------------
    def frame(self, ts: float, link: int, data: bytes) -> bool:
        """One frame; True when it is a payload-less packet of a flagged scan (the watcher
        then keeps it out of its flow table).

        Most packets of a capture are TCP segments of a connection already decided (a
        `DONE` attempt): those are counted at once (what `packet` would do); other TCP and
        UDP over untagged Ethernet and IPv4 go to `packet` from the same header fields, the
        rest through `read`."""
        if link == LINK_ETHERNET and len(data) >= FAST_LEN:  # what read() does first
            (etype, vihl, total, ipid, frag, ttl, proto, src, dst, sport, dport, seq, off,
             flags, win) = FAST.unpack_from(data)
            if etype != ETH_IPV4 or vihl != 0x45 or frag & 0x1FFF:
                pass
            elif proto == UDP:
                return self.packet(ts, (UDP, src, dst, sport, dport, 0, 0, ipid, ttl, 0, 0,
                                        total - 28))
            elif proto == TCP:
                hlen = (off >> 4) * 4
                plen = total - 20 - hlen
                if ts < self._next_sweep:
                    attempts = self.attempts
                    att = attempts.get((src, dst, sport, dport))
                    if att is not None:
                        if att[STAGE] == DONE:
                            self.packets += 1
                            return self._decided(att, ts, plen)
                    elif (att := attempts.get((dst, src, dport, sport))) is not None and (
                            att[STAGE] == DONE):
                        self.packets += 1
                        att[LAST] = ts
                        return not plen and att[SRC].unit.detected_by is not None
                opts = OPT_NONE if hlen == 20 else tcp_options(data, 34, hlen)
                return self.packet(ts, (TCP, src, dst, sport, dport, flags & 0x3F, seq, ipid,
                                        ttl, win, opts, plen))
        h = read(data, link)
        return h is not None and self.packet(ts, h)

    def frames(self, frames: Iterable[tuple[float, int, bytes]]) -> None:
        """Every frame of a capture, in order (the fast loop of `probescan scans -r`).

        The cyclic garbage collector is paused meanwhile: the attempts are hundreds of
        thousands of small containers, and its passes over them cost more than all the rest
        (a run then takes half the time); they hold no reference cycles, and the few that
        sources and units make are collected once the loop ends."""
        frame = self.frame
        paused = gc.isenabled()
        gc.disable()
        try:
            for ts, link, data in frames:
                frame(ts, link, data)
        finally:
            if paused:
                gc.enable()

    @staticmethod
    def _decided(att: Attempt, ts: float, plen: int) -> bool:
        """A packet from an attempt's client that tells nothing more (a decided TCP attempt's,
        any UDP attempt's): counted for its source; True when it carries no payload and its
        source belongs to a flagged scan."""
        att[LAST] = ts
        source = att[SRC]
        if not source.dirty:
            source.touch()
        source.packets += 1
        return not plen and source.unit.detected_by is not None

    def packet(self, ts: float, h: tuple[int, ...]) -> bool:
        """One packet's header fields (the tuple of probescan.scans.headers.read); True when
        it carries no payload and belongs to an attempt of a flagged scan."""
        self.packets += 1
        if ts >= self._next_sweep:
            self.sweep(ts)
        proto, src, dst, sport, dport, flags, seq, ipid, ttl, win, opts, plen = h
        attempts = self.attempts
        if proto == TCP:
            key = (src, dst, sport, dport)
            att = attempts.get(key)
            if att is not None:
                if att[STAGE] == DONE:  # most packets: a connection's, once decided
                    return self._decided(att, ts, plen)
                self._from_prober(att, ts, flags, plen)
                return not plen and att[SRC].unit.detected_by is not None
            att = attempts.get((dst, src, dport, sport))
            if att is not None:
                if att[STAGE] == DONE:
                    att[LAST] = ts
                else:
                    self._from_target(att, ts, flags, plen)
                return not plen and att[SRC].unit.detected_by is not None
            if plen or flags & RST:
                return False  # data or a reset of no attempt: a connection seen midway
            if flags & SYN:
                if flags & ACK:
                    return False  # the answer to a SYN this capture does not hold
                kind = SYN_OS if opts == OPT_OS else SYN_RAW
            else:
                kind = _STEALTH.get(flags & 0x3F, K_OTHER)
            s = self._new(key, ts, src, dst, dport, kind)
            if s.probes <= TELLS_ALL or not s.probes & TELLS_EVERY:
                self._tells(s, probe_tells(True, kind <= SYN_OS, dst, dport, seq, ipid, ttl,
                                           win, opts), sport, seq, ttl)
            return s.unit.detected_by is not None
        elif proto == UDP:
            key = (src, dst, sport, dport | UDP_PORT)
            att = attempts.get(key)
            if att is not None:
                return self._decided(att, ts, plen)
            att = attempts.get((dst, src, dport, sport | UDP_PORT))
            if att is not None:
                att[LAST] = ts
                if att[STAGE] != DONE:
                    self._success(att, K_UDP)
                return False
            s = self._new(key, ts, src, dst, dport | UDP_PORT, K_UDP)
            if s.probes <= TELLS_ALL or not s.probes & TELLS_EVERY:
                self._tells(s, probe_tells(False, False, dst, dport, 0, ipid, ttl, 0, 0), sport,
                            -1, ttl)
            return not plen and s.unit.detected_by is not None
        elif proto == ICMP:  # src/dst/ports are those of the quoted probe
            key = (src, dst, sport, dport | (UDP_PORT if seq == UDP else 0))
            att = attempts.get(key)
            if att is not None and att[STAGE] == SENT:
                kind = att[KIND]
                self._done(att, kind, O_CLOSED if flags == ICMP_CLOSED and kind == K_UDP
                           else O_FILTERED, ts)
        return False

    def _new(self, key: Key, ts: float, src: int, dst: int, pk: int, kind: int) -> Source:
        s = self.sources.get(src)
        if s is None:
            s = self._source(src, ts)
        elif not s.dirty:
            s.touch()
        s.last = s.unit.last = ts
        s.packets += 1
        s.probes += 1
        ports = s.ports
        ports[pk] = ports.get(pk, 0) + 1
        if s.bitmap is None:
            targets = s.targets
            targets.add(dst)
            if len(targets) > self._max_targets:
                s.estimate()
        else:
            s.mark(dst)
        attempts = self.attempts
        if len(attempts) >= self._max_attempts:
            self._evict()
        attempts[key] = [s, dst, pk, kind, SENT, ts, ts]
        return s

    @staticmethod
    def _tells(s: Source, tells: int, sport: int, seq: int, ttl: int) -> None:
        """Count a probe's tells (every one of a source's first TELLS_ALL probes, then one
        in TELLS_EVERY + 1: tells are shares, and a big scan need not pay for each)."""
        s.tells[tells] = s.tells.get(tells, 0) + 1
        sports = s.sports
        if sports.get(sport, -2) == seq:
            s.same_seq += 1
        elif len(sports) < 64 or sport in sports:
            sports[sport] = seq
        if ttl < s.ttl_min:
            s.ttl_min = ttl
        if ttl > s.ttl_max:
            s.ttl_max = ttl

    def _from_prober(self, att: Attempt, ts: float, flags: int, plen: int) -> None:
        att[LAST] = ts
        source = att[SRC]
        if not source.dirty:
            source.touch()
        source.packets += 1
        stage = att[STAGE]
        if stage == DONE:
            return
        if plen:
            self._success(att, T_CONNECT)
        elif stage == SYNACK:
            if flags & RST:
                self._done(att, T_SYN, O_OPEN, ts)
            elif flags & ACK:
                att[STAGE] = ESTAB
        elif stage == ESTAB and flags & (RST | FIN):
            self._done(att, T_CONNECT, O_OPEN, ts)

    def _from_target(self, att: Attempt, ts: float, flags: int, plen: int) -> None:
        att[LAST] = ts
        stage = att[STAGE]
        if stage == DONE:
            return
        kind = att[KIND]
        if plen:
            self._success(att, T_CONNECT if kind <= SYN_OS else -1)
        elif kind <= SYN_OS:
            if stage == SENT:
                if flags & SYN and flags & ACK:
                    att[STAGE] = SYNACK
                elif flags & RST:
                    self._done(att, kind, O_CLOSED, ts)
            elif flags & RST:
                self._done(att, T_CONNECT if stage == ESTAB else T_SYN, O_OPEN, ts)
        elif flags & RST:
            self._done(att, kind, O_UNFILTERED if kind == K_ACK else O_CLOSED, ts)
        else:  # an answer that is not a reset: a connection seen midway, not a probe
            self._success(att, -1)

    def _done(self, att: Attempt, technique: int, state: int, ts: float) -> None:
        """A failed or payload-less attempt: counted, and fed to the unit's thresholds."""
        att[STAGE] = DONE
        s: Source = att[SRC]
        if not s.dirty:
            s.touch()
        s.failures += 1
        s.outcomes[technique * 5 + state] += 1
        unit = s.unit
        if unit.detected_by is None:
            unit.fail(ts, att[TARGET], att[PORT], self.config)

    def _success(self, att: Attempt, technique: int) -> None:
        """Payload went either way: a working connection (an open port when counted;
        technique -1: a connection seen midway, not counted)."""
        att[STAGE] = DONE
        if technique >= 0:
            s: Source = att[SRC]
            if not s.dirty:
                s.touch()
            s.outcomes[technique * 5 + O_OPEN] += 1

    # ---- time passing -----------------------------------------------------------------
    def tick(self, now: float) -> None:
        """Time passes without packets (live): sweep when it is due."""
        if now >= self._next_sweep:
            self.sweep(now)

    def sweep(self, now: float) -> None:
        """Decide the attempts that timed out; write and forget what went quiet."""
        self._next_sweep = now + self._every
        c = self.config
        timeout, open_timeout = now - c.reply_timeout, now - c.open_timeout
        expired = []
        # attempts are held in the order they began: those begun since `timeout` cannot
        # have expired, so the walk stops at the first of them
        for key, a in self.attempts.items():
            if a[FIRST] >= timeout:
                break
            if a[LAST] < (open_timeout if a[STAGE] == ESTAB else timeout):
                expired.append((key, a))
        for key, att in expired:
            del self.attempts[key]
            self._expire(att, now)
        self._units(now)

    def _expire(self, att: Attempt, now: float) -> None:
        stage = att[STAGE]
        if stage == SENT:
            self._done(att, att[KIND], _SILENCE[att[KIND]], now)
        elif stage == SYNACK:  # answered, never completed nor reset
            self._done(att, T_SYN, O_OPEN, now)

    def _evict(self) -> None:
        """Too many attempts wait: decide the oldest tenth now."""
        n = max(1, len(self.attempts) // 10)
        oldest = []
        for key in self.attempts:
            oldest.append(key)
            if len(oldest) >= n:
                break
        for key in oldest:
            self._expire(self.attempts.pop(key), self._next_sweep)
