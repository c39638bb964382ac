"""tcpdump on the loopback interface for the lab's captures: its command line, waiting until it
captures, stopping it cleanly and reading how many packets the kernel dropped.

No pytest dependency here.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
from pathlib import Path

START_TIMEOUT = 10.0  # seconds for tcpdump to report that it is listening
STOP_TIMEOUT = 10.0  # seconds for tcpdump to exit after SIGINT


class CaptureFailed(RuntimeError):
    """tcpdump could not be started or did not report that it was capturing."""


def _which(name: str) -> str | None:
    path = os.environ.get("PATH", os.defpath)
    return shutil.which(name, path=os.pathsep.join([path, "/usr/sbin", "/sbin"]))


def tcpdump_argv(out: Path, bpf: str) -> list[str]:
    """The tcpdump command line that captures the lab's traffic into ``out``."""
    exe = _which("tcpdump")
    if exe is None:
        raise CaptureFailed("tcpdump not found (apt-get install tcpdump)")
    # --immediate-mode: packets reach tcpdump at once, not in ring-buffer blocks that
    # SIGINT would leave unread; -U: each one is written at once; -B: a 64 MiB kernel
    # buffer, so a busy machine drops nothing.
    argv = [exe, "-i", "lo", "--immediate-mode", "-U", "-B", "65536", "-n", "-s", "0",
            "-w", str(out)]
    if os.geteuid() == 0:
        argv += ["-Z", "root"]  # Debian's tcpdump drops to its own user before writing
    argv.append(bpf)
    return argv


class _Tcpdump:
    def __init__(self, out: Path, bpf: str) -> None:
        argv = tcpdump_argv(out, bpf)
        self.argv = argv
        self._lines: list[str] = []
        self._listening = threading.Event()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, start_new_session=True)
        self._reader = threading.Thread(target=self._read, name="tcpdump-stderr", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            self._lines.append(line)
            if "listening on" in line:
                self._listening.set()
        self._listening.set()  # EOF: tcpdump exited; wait_ready() tells

    def wait_ready(self) -> None:
        if not self._listening.wait(START_TIMEOUT) or self.proc.poll() is not None:
            self.stop()
            raise CaptureFailed("tcpdump did not start capturing: " + " | ".join(self._lines[-5:]))

    @property
    def dropped(self) -> int:
        """Packets the kernel dropped (tcpdump's closing statistics; -1 when unknown)."""
        for line in self._lines:
            m = re.match(r"(\d+) packets? dropped by kernel", line)
            if m:
                return int(m.group(1))
        return -1

    def stop(self) -> str:
        """SIGINT, wait; returns tcpdump's last stderr lines ("N packets captured")."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(2.0)
        return "\n".join(self._lines[-3:])
