"""Training samples from captures: each flow that probescan's payload layers name, with its
behaviour (what `probescan profiles train` learns from: probescan/classify/profiles.py).

A capture is read by the watcher itself, passive only, in this process, with the payload
layers only (a statistical label must never teach the statistics). Flows named by a probe or
announced by another flow (FTP data: any file, any shape) teach nothing; a protocol carried
inside TLS is learnt as `tls` (its sizes are TLS's).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from probescan.catalog import Catalog
from probescan.classify.features import behaviour_of
from probescan.classify.layers import PAYLOAD_LAYERS
from probescan.classify.profiles import Sample
from probescan.config import WatchConfig
from probescan.watch.capture import read_file
from probescan.watch.label import FlowRecord, learnt_as

TEACHERS = frozenset({"rules", "parsers"})  # the layers whose labels teach


def sample_of(record: FlowRecord, capture: str) -> Sample | None:
    """The flow as a training sample, or None when no payload layer named it."""
    label = record.label
    if label.decided_by not in TEACHERS or label.service == "unknown":
        return None
    return Sample(learnt_as(label), capture, behaviour_of(record.flow, entropy=True))


def samples_from_capture(path: Path, catalog: Catalog, name: str | None = None,
                         max_flows: int = 100_000) -> list[Sample]:
    """Every named flow of one capture file (CaptureError when it cannot be read); `name`
    identifies the capture in the profiles' counts (default: the file name)."""
    from probescan.watch.watcher import Watcher  # the watcher imports this package's parsers

    capture = name or path.name
    samples: list[Sample] = []

    def keep(record: FlowRecord) -> None:
        s = sample_of(record, capture)
        if s is not None:
            samples.append(s)

    config = WatchConfig(probe=False, workers=0, max_flows=max_flows,
                         classifiers=PAYLOAD_LAYERS)
    watcher = Watcher(catalog, keep, None, None, config=config)
    frames = read_file(path)
    asyncio.run(watcher.run_offline(frames))
    return samples
