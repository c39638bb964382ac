"""Folding a scan's flows into its scan record (for the watcher).

The watcher offers each flow it is about to label. A flow that carried no payload (a SYN
answered by a reset, a bare handshake, a UDP probe nobody answered) whose client is part of
a flagged scan is *folded*: it is counted in the scan record (by the detector, which saw its
packets) instead of getting a flow record. When its client has failed attempts but no
threshold is reached yet, the flow is held for up to `ScanConfig.hold` seconds of capture
time (live: `live_hold`, so that records still come quickly), then folded or handed back.
Everything else is handed back at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from probescan.scans.detector import ScanDetector

T = TypeVar("T")
TICK = 1.0  # seconds (capture clock) between looks at the held flows


class ScanFold(Generic[T]):
    def __init__(self, detector: ScanDetector, release: Callable[[T], None],
                 keep_flows: bool = False) -> None:
        """`release` labels a flow the fold hands back; `keep_flows` (--all-flows) hands
        back every flow (the scan records are written all the same)."""
        self.detector = detector
        self.frame = detector.frame
        self.release = release
        self.keep_flows = keep_flows
        self.hold = detector.config.hold
        self.live_hold = detector.config.live_hold
        self.held: dict[str, list[tuple[float, T]]] = {}
        self.folded = 0
        self.final = False
        self._next = 0.0

    def offer(self, client: str, item: T, ts: float, payload_less: bool) -> bool:
        """True when the fold takes the flow (folded or held): the caller labels it not."""
        if self.keep_flows or not payload_less:
            return False
        status = self.detector.scanning(client)
        if status:
            self.folded += 1
            return True
        if status is None and not self.final:
            self.held.setdefault(client, []).append((ts, item))
            return True
        return False

    def tick(self, now: float, live: bool = False) -> None:
        """Capture clock `now`: let the detector catch up, then fold or hand back what was
        held long enough (`hold` seconds; live, `live_hold`)."""
        self.detector.tick(now)
        if now < self._next or not self.held:
            return
        self._next = now + TICK
        oldest = now - (self.live_hold if live else self.hold)
        for client in list(self.held):
            items = self.held[client]
            status = self.detector.scanning(client)
            if status:
                self.folded += len(items)
                del self.held[client]
            elif status is False or items[0][0] < oldest:
                keep = [] if status is False else [(t, i) for t, i in items if t >= oldest]
                for t, item in items:
                    if status is False or t < oldest:
                        self.release(item)
                if keep:
                    self.held[client] = keep
                else:
                    del self.held[client]

    def finish_detector(self) -> None:
        """End of capture: the detector decides everything; offers are final from now on."""
        self.detector.finish()
        self.final = True

    def finish(self) -> None:
        """Fold or hand back everything still held."""
        held, self.held = self.held, {}
        for client, items in held.items():
            if self.detector.scanning(client):
                self.folded += len(items)
            else:
                for _, item in items:
                    self.release(item)
