"""What feeds a watcher (watch/watcher.py): the frames of a file, or of a live capture.

Offline (`-r FILE`): frames in batches of BATCH, flows that ended handed out after each
batch, on the capture's clock. Live (`-i IFACE`): frames come from a capture thread through
a deque; the thread wakes the event loop once per burst, not once per frame (a wake-up is a
system call); beyond LIVE_BACKLOG waiting frames, new ones are dropped and counted in
`stats.dropped`. Flows are checked every TICK seconds, on the wall clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING

from probescan.gctune import collector_at_ease
from probescan.watch.capture import Frame

if TYPE_CHECKING:
    from probescan.watch.watcher import Watcher

TICK = 0.05  # how often pending flows are checked (live)
BATCH = 512  # frames handled between yields to the event loop
LIVE_BATCH = 2048  # live: frames fed between checks and yields to the event loop
LIVE_BACKLOG = 200_000  # live: frames waiting for the loop; beyond that, dropped and counted


async def run_offline(watcher: Watcher, frames: Iterator[Frame]) -> None:
    feed = watcher.feed
    source = iter(frames)
    with collector_at_ease():
        while batch := list(itertools.islice(source, BATCH)):
            for frame in batch:
                feed(frame)
            watcher.expire(batch[-1][0])
            await asyncio.sleep(0)
        await watcher.finish_all(wait_probes=watcher.active is not None)


async def run_live(watcher: Watcher, frames: Iterator[Frame], stop: asyncio.Event) -> None:
    watcher.live = True
    loop = asyncio.get_running_loop()
    backlog: deque[Frame] = deque()
    arrived = asyncio.Event()
    ended = threading.Event()
    failure: list[BaseException] = []
    stats = watcher.stats

    def wake() -> None:
        arrived.set()

    def pump() -> None:
        try:
            for frame in frames:
                if stop.is_set():
                    break
                if len(backlog) >= LIVE_BACKLOG:
                    stats.dropped += 1
                    continue
                backlog.append(frame)
                if len(backlog) == 1:  # the loop may be asleep: one wake-up per burst
                    loop.call_soon_threadsafe(wake)
        except BaseException as e:  # handed to the event loop
            failure.append(e)
        finally:
            ended.set()
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake)

    thread = threading.Thread(target=pump, name="probescan-capture", daemon=True)
    thread.start()
    next_check = time.monotonic() + TICK
    feed = watcher.feed
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, next_check - time.monotonic())):
                await arrived.wait()
        arrived.clear()
        for _ in range(min(len(backlog), LIVE_BATCH)):
            feed(backlog.popleft())
        if backlog:
            arrived.set()  # more than a batch waits: go on after the check below
        if time.monotonic() >= next_check:
            watcher.check(time.time())
            next_check = time.monotonic() + TICK
        if ended.is_set() and not backlog:
            break
        await asyncio.sleep(0)
    if failure:
        raise failure[0]
    await watcher.finish_all(wait_probes=False)
