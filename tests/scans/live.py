"""Live captures for the scan tests: `probescan scans -i lo` and `probescan watch -i lo` run as
processes while the real scanners run, on this test block only (targets 127.0.61.x, scanners
127.0.81.x; never 127.0.0.1, never port 2024), each capture filtered to the block."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _default_sigint() -> None:
    """A child started from a shell that ignores SIGINT (a background job) would inherit
    that, and Python would not turn SIGINT into KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def holds_packet_socket(pid: int) -> bool:
    """Does the process hold a packet socket (one listed in /proc/net/packet)?"""
    try:
        inodes = {line.split()[-1] for line in Path("/proc/net/packet").read_text()
                  .splitlines()[1:]}
        mine = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
    except OSError:
        return False
    return any(f"socket:[{inode}]" in mine for inode in inodes)


@contextlib.contextmanager
def probescan_live(argv: Sequence[str], timeout: float = 60.0
                   ) -> Iterator[subprocess.Popen[str]]:
    """`python -m probescan ARGV` until it captures: a loaded machine can take seconds to
    start Python (and, for watch, to load the catalogue), and a packet sent before the capture
    opens is never seen. The caller stops it (`stop`); it is killed if still running."""
    proc = subprocess.Popen([sys.executable, "-m", "probescan", *argv], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)
    try:
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            if holds_packet_socket(proc.pid):
                time.sleep(0.3)  # the filter is attached just after the socket is made
                break
            time.sleep(0.1)
        if proc.poll() is not None or not holds_packet_socket(proc.pid):
            _, err = proc.communicate(timeout=10) if proc.poll() is not None else ("", "")
            raise AssertionError(f"probescan {' '.join(argv)} did not start capturing: {err}")
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def stop(proc: subprocess.Popen[str], sig: signal.Signals = signal.SIGINT,
         timeout: float = 30.0) -> tuple[int, str, str]:
    """Send `sig`; (exit status, stdout, stderr) once the process has ended."""
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def records(path: Path) -> list[dict[str, Any]]:
    """The whole lines of a JSON Lines file written as it goes (a line still being written is
    left out)."""
    if not path.exists():
        return []
    text = path.read_text()
    return [json.loads(line) for line in text[:text.rfind("\n") + 1].splitlines()]


def wait_for(what: Callable[[], bool], timeout: float, why: str) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s: {why}")
        time.sleep(0.2)
