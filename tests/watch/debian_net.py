"""Private network namespaces for the Debian protocol tests (test_debian_protocols.py).

Every server and client runs inside a namespace the test creates (``ps150`` + a tag + the
pid): its loopback holds only 127.0.150.1/24 (no 127.0.0.1), and veth pairs, where a test
needs a link, carry 10.150.x.y addresses between two such namespaces. Nothing these
programs send can leave them. tcpdump captures inside the namespace; ``watch`` reads the
capture (``python3 -m probescan watch -r CAPTURE --no-probe``) and returns its flow records.

No pytest dependency here.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tests.lab.traffic_tcpdump import START_TIMEOUT, STOP_TIMEOUT, _which, tcpdump_argv

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.150.1"  # the namespace's own loopback address (its only IPv4 one)
SERVER = "127.0.150.2"  # where the servers listen (local: the whole /24 is on lo)
CLIENT = "127.0.150.3"  # a client's address, where the client can be told one
SETTLE = 0.4  # seconds for the last packets before tcpdump stops


class NetError(RuntimeError):
    """A namespace, a program or a capture could not be set up."""


def which(name: str) -> str | None:
    """The program's path (also in /usr/sbin and /sbin), or None."""
    return _which(name)


def missing(*names: str) -> str | None:
    """"no X (apt-get install PKG)" for the first program not installed, else None."""
    for name in names:
        prog, _, pkg = name.partition(":")
        if which(prog) is None:
            return f"{prog} not found (apt-get install {pkg or prog})"
    return None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)
    if check and proc.returncode != 0:
        raise NetError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc


class Netns:
    """One network namespace with its loopback up at 127.0.150.1/24 (127.0.0.1 removed)."""

    def __init__(self, tag: str) -> None:
        self.name = f"ps150{tag}{os.getpid() % 100000}"
        self._procs: list[subprocess.Popen[bytes]] = []
        _ip("netns", "del", self.name, check=False)
        _ip("netns", "add", self.name)
        self.ip("link", "set", "lo", "up")
        self.ip("addr", "del", "127.0.0.1/8", "dev", "lo")
        self.ip("addr", "add", f"{LOOPBACK}/24", "dev", "lo")

    def argv(self, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def ip(self, *args: str) -> None:
        _ip("-n", self.name, *args)

    def run(self, argv: Sequence[str], timeout: float = 20.0, *, stdin: str | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run a client to its end (or its timeout: then killed); never raises on its status."""
        try:
            return subprocess.run(self.argv(argv), input=stdin, capture_output=True, text=True,
                                  timeout=timeout, env=_env(env), start_new_session=True)
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode("utf-8", "replace") if isinstance(exc.stdout, bytes) else ""
            return subprocess.CompletedProcess(argv, -9, out, "timed out")

    def spawn(self, argv: Sequence[str], log: Path, *,
              env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start a server in the namespace (its own session); stopped by close()."""
        with log.open("ab") as out:
            proc = subprocess.Popen(self.argv(argv), stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, env=_env(env),
                                    start_new_session=True)
        self._procs.append(proc)
        return proc

    def pids(self) -> list[int]:
        out = _ip("netns", "pids", self.name, check=False).stdout
        return [int(p) for p in out.split()]

    def close(self) -> None:
        """Stop what was started here (by process id), then delete the namespace."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for proc in self._procs:
                if proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, sig)
            for pid in self.pids():  # a daemon's own children, all of them ours
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and (
                    self.pids() or any(p.poll() is None for p in self._procs)):
                time.sleep(0.05)
        for proc in self._procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(1)
        _ip("netns", "del", self.name, check=False)


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra or {})
    return env


@contextlib.contextmanager
def netns(*tags: str) -> Iterator[list[Netns]]:
    """Namespaces, deleted at the end with everything started in them."""
    made: list[Netns] = []
    try:
        for tag in tags:
            made.append(Netns(tag))
        yield made
    finally:
        for ns in reversed(made):
            ns.close()


def link(a: Netns, a_ip: str, b: Netns, b_ip: str | None, prefix: int = 24) -> tuple[str, str]:
    """A veth pair from ``a`` to ``b`` (10.150.x.y addresses; ``b_ip`` None: no address)."""
    va, vb = f"v{a.name[-10:]}a", f"v{a.name[-10:]}b"
    _ip("link", "add", va, "netns", a.name, "type", "veth", "peer", "name", vb,
        "netns", b.name)
    a.ip("addr", "add", f"{a_ip}/{prefix}", "dev", va)
    a.ip("link", "set", va, "up")
    if b_ip is not None:
        b.ip("addr", "add", f"{b_ip}/{prefix}", "dev", vb)
    b.ip("link", "set", vb, "up")
    return va, vb


class Capture:
    """tcpdump in a namespace on one interface, writing ``out`` (a context manager)."""

    def __init__(self, ns: Netns, out: Path, iface: str = "lo", bpf: str = "tcp or udp") -> None:
        argv = tcpdump_argv(out, bpf)
        argv[argv.index("-i") + 1] = iface
        self.out, self._lines, self._ready = out, list[str](), threading.Event()
        self._proc = subprocess.Popen(ns.argv(argv), stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._proc.stderr is not None
        for raw in self._proc.stderr:
            self._lines.append(raw.decode("utf-8", "replace").rstrip())
            if "listening on" in self._lines[-1]:
                self._ready.set()
        self._ready.set()

    def __enter__(self) -> Capture:
        if not self._ready.wait(START_TIMEOUT) or self._proc.poll() is not None:
            self.stop()
            raise NetError("tcpdump did not start: " + " | ".join(self._lines[-3:]))
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._proc.poll() is None:
            time.sleep(SETTLE)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGINT)
            try:
                self._proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
        self._reader.join(2.0)


def watch(capture: Path) -> list[dict[str, Any]]:
    """``python3 -m probescan watch -r CAPTURE --no-probe -o OUT.jsonl``: its flow records."""
    out = capture.with_suffix(".jsonl")
    proc = subprocess.run(
        [sys.executable, "-m", "probescan", "watch", "-r", str(capture), "--no-probe",
         "-o", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise NetError(f"watch failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    return [r for r in records if r.get("kind") == "flow"]


def flows_on(records: list[dict[str, Any]], port: int,
             transport: str | None = None) -> list[dict[str, Any]]:
    """The flow records with ``port`` at either end (UDP roles can go either way)."""
    return [r for r in records
            if port in (r["server"]["port"], r["client"]["port"])
            and (transport is None or r["transport"] == transport)]


def describe(records: list[dict[str, Any]]) -> str:
    """One line per flow, for assertion messages."""
    return "\n".join(
        f"{r['transport']} {r['client']['ip']}:{r['client']['port']} -> "
        f"{r['server']['ip']}:{r['server']['port']} {r['service']} ({r['method']}) "
        f"c2s={r['passive']['client_raw']!s:.60} s2c={r['passive']['server_raw']!s:.60}"
        for r in records) or "(no flows)"


def wait_for(pred: Any, timeout: float = 10.0, step: float = 0.1) -> bool:
    """Poll ``pred()`` until true or the time is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return bool(pred())


def udp_bound(ns: Netns, port: int) -> bool:
    """Something in the namespace listens on UDP ``port``."""
    out = ns.run(["ss", "-Hlnu", f"sport = :{port}"], timeout=5).stdout
    return bool(out.strip())


def tcp_listening(ns: Netns, port: int) -> bool:
    out = ns.run(["ss", "-Hltn", f"sport = :{port}"], timeout=5).stdout
    return bool(out.strip())
