"""The cyclic garbage collector set aside for a long run (a capture read, a sweep)."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

GC_YOUNG = 10_000  # allocations between the collector's young passes meanwhile


@contextlib.contextmanager
def collector_at_ease(young: int = GC_YOUNG) -> Iterator[None]:
    """Meanwhile, the cyclic garbage collector leaves out what exists now (the catalogue,
    the modules: gc.freeze) and looks at new objects only every `young` allocations: flows,
    packets, records and a sweep's per-port objects are freed by reference counting, and
    the collector's passes over them cost a tenth of the time on short flows and about 5%
    of a 65k-port sweep."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(young, threshold[0]), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()
