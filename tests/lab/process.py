"""Start and stop helpers of the TCP lab: finding programs, running preparation commands,
reading logs, waiting for ports, and process groups (also leaders that left them).

No pytest dependency here.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

READY_TIMEOUT = 20.0  # seconds for a started server to accept TCP connections
SETUP_TIMEOUT = 120.0  # seconds for one preparation command (initdb, install-db, ...)
STOP_TIMEOUT = 10.0  # seconds for a server to exit after its stop signal
LOG_TAIL = 40  # lines of each log quoted in a LabError

_EXTRA_PATH = ("/usr/local/sbin", "/usr/sbin", "/sbin")


class LabError(RuntimeError):
    """A lab server could not be prepared, started or reached."""


def _is_root() -> bool:
    return os.geteuid() == 0


def _which(name: str) -> str | None:
    if name.startswith("/"):
        return name if os.access(name, os.X_OK) else None
    path = os.environ.get("PATH", os.defpath)
    extra = [d for d in _EXTRA_PATH if d not in path.split(os.pathsep)]
    return shutil.which(name, path=os.pathsep.join([path, *extra]))


def _pg_bin(name: str) -> str | None:
    """A PostgreSQL server binary from the newest /usr/lib/postgresql/N/bin."""
    found = glob.glob(f"/usr/lib/postgresql/*/bin/{name}")

    def major(p: str) -> int:
        part = p.split("/")[4]
        return int(part) if part.isdigit() else 0

    return max(found, key=major) if found else None


def _user_exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


def _chown(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def _write(path: Path, text: str, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def _tail(path: Path, lines: int = LOG_TAIL) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    text = data.decode("utf-8", "replace").rstrip("\n")
    return "\n".join(text.splitlines()[-lines:])


def _port_open(ip: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=timeout):
            return True
    except OSError:
        return False


def _run(argv: list[str], log: Path, *, user: str | None = None, cwd: Path | None = None) -> None:
    """Run a preparation command, appending its output to ``log``; raise LabError on failure."""
    with log.open("ab") as out:
        out.write(("$ " + shlex.join(argv) + "\n").encode())
        out.flush()
        try:
            proc = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                user=user,
                group=pwd.getpwnam(user).pw_gid if user else None,
                extra_groups=[] if user else None,
                timeout=SETUP_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise LabError(f"{argv[0]}: {exc}\n{_tail(log)}") from exc
    if proc.returncode != 0:
        raise LabError(f"{shlex.join(argv)} exited with {proc.returncode}\n{_tail(log)}")


def _leader_exited(proc: subprocess.Popen[bytes]) -> bool:
    """Whether the process has exited, without reaping it (so its pgid stays reserved)."""
    if proc.returncode is not None:
        return True
    try:
        res = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return res is not None


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


@dataclass
class _Launch:
    """How to run one prepared server."""

    argv: list[str]
    logs: list[Path] = field(default_factory=list)  # extra logs quoted on failure
    user: str | None = None  # run as this user (needs root)
    stop_argv: list[str] | None = None  # run before signalling (postfix)
    stop_signal: int = signal.SIGTERM
    pidfiles: list[Path] = field(default_factory=list)  # detached leaders to kill too
    env: dict[str, str] | None = None


_Prepare = Callable[[Path, str, int, Path], _Launch]  # (dir, ip, port, setup log)


@dataclass(frozen=True)
class _Detached:
    """A process group leader that left our group (postfix's master calls setsid)."""

    pid: int
    cmdline: bytes

    def still_there(self) -> bool:
        """The same process (not a recycled pid) is alive and still leads its group."""
        try:
            return _cmdline(self.pid) == self.cmdline and os.getpgid(self.pid) == self.pid
        except OSError:
            return False


def _cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def _detached_leaders(launch: _Launch) -> list[_Detached]:
    leaders = []
    for pidfile in launch.pidfiles:
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int(pidfile.read_text().split()[0])
            if pid > 1 and os.getpgid(pid) == pid:
                leaders.append(_Detached(pid, _cmdline(pid)))
    return leaders
