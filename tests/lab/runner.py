"""The TCP lab: real Debian servers on loopback addresses, for tests and benchmarks.

Each server runs from a fresh temporary directory, in its own process group, bound to
one 127.x address and port. ``Lab.start(kind, ip, port)`` returns once the TCP port
accepts connections (or raises :class:`LabError` with the tail of the server's logs);
``Lab.stop_all()`` (or leaving the ``with`` block) stops everything and removes the
temporary directories.

``python -m tests.lab`` runs :func:`main`: it starts :data:`DEFAULT_LAB`, prints one line
per service (``ip port service product``) and waits for Ctrl-C. No pytest dependency here.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from tests.lab.process import (
    _EXTRA_PATH,
    READY_TIMEOUT,
    STOP_TIMEOUT,
    LabError,
    _detached_leaders,
    _killpg,
    _Launch,
    _leader_exited,
    _port_open,
    _tail,
)
from tests.lab.servers_tcp import DEFAULT_LAB, KINDS, Service, available


@dataclass
class _Running:
    service: Service
    dir: Path
    proc: subprocess.Popen[bytes]
    launch: _Launch
    log: Path


class Lab:
    """Starts lab servers and stops every one of them on ``stop_all`` or on exit."""

    def __init__(self, root: str | Path | None = None) -> None:
        self._root = Path(root) if root is not None else None
        self._lock = threading.Lock()
        self._running: list[_Running] = []
        self.failures: dict[tuple[str, str, int], str] = {}  # filled by start_default_lab
        atexit.register(self.stop_all)  # a safety net if the owner forgets or crashes

    def __enter__(self) -> Lab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()

    @property
    def services(self) -> list[Service]:
        with self._lock:
            return [r.service for r in self._running]

    def start(self, kind: str, ip: str, port: int) -> Service:
        """Start ``kind`` on ip:port and return once the port accepts connections."""
        reason = available(kind, port)
        if reason is not None:
            raise LabError(reason)
        spec = KINDS[kind]
        if not 0 < port < 65536:
            raise LabError(f"{kind}: invalid port {port}")
        if _port_open(ip, port, timeout=0.3):
            raise LabError(f"{kind}: something already accepts connections on {ip}:{port}")
        d = Path(tempfile.mkdtemp(prefix=f"probescan-lab-{kind}-{port}-", dir=self._root))
        log = d / "server.log"
        try:
            log.touch()
            launch = spec.prepare(d, ip, port, log)
            proc = self._spawn(launch, log, d)
        except BaseException:
            shutil.rmtree(d, ignore_errors=True)
            raise
        service = Service(kind, ip, port, spec.service, spec.product, spec.tls)
        running = _Running(service, d, proc, launch, log)
        with self._lock:
            self._running.append(running)
        try:
            self._wait_ready(running)
        except BaseException:
            self.stop(service)
            raise
        return service

    def stop(self, service: Service) -> None:
        with self._lock:
            found = [r for r in self._running if r.service == service]
            self._running = [r for r in self._running if r.service != service]
        for running in found:
            _stop(running)

    def stop_all(self) -> None:
        """Stop every server this lab started (in parallel) and remove their directories."""
        with self._lock:
            running, self._running = self._running, []
        if not running:
            return
        with ThreadPoolExecutor(max_workers=len(running)) as pool:
            list(pool.map(_stop, reversed(running)))

    @staticmethod
    def _spawn(launch: _Launch, log: Path, d: Path) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env.update(launch.env or {})
        env["PATH"] = os.pathsep.join([env.get("PATH", os.defpath), *_EXTRA_PATH])
        user = launch.user
        with log.open("ab") as out:
            out.write(("$ " + shlex.join(launch.argv) + "\n").encode())
            out.flush()
            try:
                return subprocess.Popen(
                    launch.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=d,
                    env=env,
                    start_new_session=True,
                    user=user,
                    group=pwd.getpwnam(user).pw_gid if user else None,
                    extra_groups=[] if user else None,
                )
            except OSError as exc:
                raise LabError(f"{launch.argv[0]}: {exc}") from exc

    @staticmethod
    def _wait_ready(running: _Running) -> None:
        svc = running.service
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if _port_open(svc.ip, svc.port, timeout=0.5):
                return
            if _leader_exited(running.proc):
                problem = "exited before accepting connections"
                break
            if time.monotonic() >= deadline:
                problem = f"did not accept connections within {READY_TIMEOUT:.0f} s"
                break
            time.sleep(0.05)
        raise LabError(f"{svc.name} on {svc.ip}:{svc.port} {problem}\n{_logs(running)}")


def _logs(running: _Running) -> str:
    parts = []
    for path in [running.log, *running.launch.logs]:
        tail = _tail(path)
        if tail:
            parts.append(f"--- {path.name}\n{tail}")
    return "\n".join(parts) or "(no log output)"


def _stop(running: _Running) -> None:
    proc, launch = running.proc, running.launch
    pgid = proc.pid  # start_new_session: the leader's pid is the group id
    try:
        detached = _detached_leaders(launch)  # before stop_argv removes the pid files
        if launch.stop_argv is not None:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                subprocess.run(
                    launch.stop_argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    timeout=STOP_TIMEOUT,
                    check=False,
                )
        _killpg(pgid, launch.stop_signal)
        for leader in detached:
            if leader.still_there():
                _killpg(leader.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and (
            not _leader_exited(proc) or any(leader.still_there() for leader in detached)
        ):
            time.sleep(0.05)
        # The unreaped leader keeps the group id reserved, so this cannot hit a stranger.
        _killpg(pgid, signal.SIGKILL)
        proc.wait()
        for leader in detached:
            if leader.still_there():
                _killpg(leader.pid, signal.SIGKILL)
    finally:
        shutil.rmtree(running.dir, ignore_errors=True)


def start_default_lab(
    lab: Lab, entries: list[tuple[str, str, int]] | None = None
) -> list[Service]:
    """Start every entry (default: DEFAULT_LAB) in parallel; return the ones that run.

    Entries that cannot start are recorded in ``lab.failures`` (key (kind, ip, port),
    value the reason) instead of raising.
    """
    todo = list(DEFAULT_LAB if entries is None else entries)

    def one(entry: tuple[str, str, int]) -> Service | None:
        try:
            return lab.start(*entry)
        except LabError as exc:
            lab.failures[entry] = str(exc)
        except Exception as exc:  # a broken recipe should not take the whole lab down
            lab.failures[entry] = f"{type(exc).__name__}: {exc}"
        return None

    with ThreadPoolExecutor(max_workers=max(1, len(todo))) as pool:
        results = list(pool.map(one, todo))
    return [svc for svc in results if svc is not None]


def _iter_lines(services: list[Service]) -> Iterator[str]:
    for svc in services:
        product = svc.product or "-"
        tunnel = " (tls)" if svc.tls else ""
        yield f"{svc.ip} {svc.port} {svc.service} {product}{tunnel}"


def main() -> int:
    started = time.monotonic()
    with Lab() as lab:
        services = start_default_lab(lab)
        for line in _iter_lines(services):
            print(line, flush=True)
        for (kind, ip, port), reason in lab.failures.items():
            first = reason.splitlines()[0] if reason else ""
            print(f"# FAILED {kind} {ip} {port}: {first}", file=sys.stderr, flush=True)
        print(f"# {len(services)}/{len(services) + len(lab.failures)} services up in "
              f"{time.monotonic() - started:.1f} s; Ctrl-C to stop", file=sys.stderr, flush=True)
        # Ctrl-C, SIGTERM or SIGHUP stop the lab; set explicitly because a shell starts
        # background jobs with SIGINT ignored.
        stop = threading.Event()
        stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in stops}
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            print("# stopping", file=sys.stderr, flush=True)
    return 0
