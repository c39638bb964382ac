"""What the scan and watch commands share: output files, stop signals. Errors are
`InputError`: one line for the user, exit status 2 (so is the catalog's `CatalogError`)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from pathlib import Path
from typing import IO


class InputError(Exception):
    """A bad argument or input: one line, exit status 2."""


def open_output(path: str | Path) -> IO[str]:
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as e:
        raise InputError(f"cannot write output file '{path}': {e.strerror}") from e


def on_stop_signals(callback: Callable[[], None]) -> None:
    """Call `callback` on SIGINT or SIGTERM (from the running event loop)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, callback)
