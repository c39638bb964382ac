"""Part `live` of benchmarks/watch_vs_ndpi.py: connection -> flow record with probe evidence.

Starts `probescan watch -i lo --scope NETS --json` (NETS: the lab's /24s), opens one client
connection to each of several lab servers and reports, per flow, the time from just before
the client's connect() to the arrival on stdout of the flow's record with the server's probe
result in it. Prints the block `watch-live`.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from benchmarks import _blocks
from tests.lab import Service


@dataclass
class LiveFlow:
    name: str
    server: tuple[str, int]
    client: tuple[str, int] | None = None
    started: float = 0.0  # time.time() just before connect()
    arrived: float | None = None
    record: dict[str, object] | None = None


def _talk(ip: str, port: int, send: bytes | None, flow: LiveFlow) -> None:
    flow.started = time.time()
    try:
        with socket.create_connection((ip, port), timeout=3) as s:
            flow.client = s.getsockname()[:2]
            if send:
                s.sendall(send)
            s.settimeout(1.0)
            with contextlib.suppress(OSError):
                s.recv(65536)
    except OSError as e:
        print(f"  client {flow.name}: {e}")


LIVE_CLIENTS: dict[str, bytes | None] = {
    "ssh": b"SSH-2.0-OpenSSH_9.2p1 probescan-bench\r\n",
    "http": b"GET / HTTP/1.1\r\nHost: probescan-lab.test\r\nUser-Agent: bench\r\n\r\n",
    "ftp": None, "smtp": None, "imap": None, "pop3": None, "mysql": None,
    "redis": b"*1\r\n$4\r\nPING\r\n",
    "memcached": b"version\r\n",
    "mqtt": bytes.fromhex("101000044d5154540402003c0004626e6368"),
}


def _nets(services: list[Service]) -> str:
    return ",".join(sorted({s.ip.rsplit(".", 1)[0] + ".0/24" for s in services}))


def part_live(services: list[Service], flows_wanted: int, timeout: float, started: float,
              quick: bool) -> None:
    print("\n## live: connection -> record with probe evidence\n", flush=True)
    candidates = [s for s in services if s.service in LIVE_CLIENTS and not s.tls]
    seen: set[str] = set()
    chosen: list[Service] = []
    for s in candidates:  # one per service first, then more endpoints
        if s.service not in seen:
            chosen.append(s)
            seen.add(s.service)
    spare = [s for s in candidates if s not in chosen]
    chosen = (chosen + spare)[:flows_wanted]
    # The warm-up endpoint gets probed (then not again for --probe-ttl): not one measured.
    warm = next((s for s in spare if s not in chosen), chosen[0] if chosen else None)
    nets = _nets(services)
    bpf = " or ".join(f"net {n}" for n in nets.split(","))
    argv = [sys.executable, "-m", "probescan", "watch", "-i", "lo", "--scope", nets, "--bpf",
            bpf, "--json"]
    proc = subprocess.Popen(argv, cwd=_blocks.ROOT, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    records: list[tuple[float, dict[str, object]]] = []
    lock = threading.Lock()
    got_one = threading.Event()

    def reader() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            now = time.time()
            with contextlib.suppress(ValueError):
                rec = json.loads(raw)
                with lock:
                    records.append((now, rec))
                got_one.set()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        # Warm-up: connect until the watcher writes a record (it is capturing by then).
        deadline = time.monotonic() + 30
        while warm is not None and not got_one.is_set() and time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            _talk(warm.ip, warm.port, LIVE_CLIENTS[warm.service], LiveFlow("warm-up", (
                warm.ip, warm.port)))
            got_one.wait(2.0)
        if not got_one.is_set():
            err = proc.stderr.read().decode() if proc.poll() is not None and proc.stderr else ""
            raise RuntimeError(f"the watcher wrote no record within 30 s: {err[-1500:]}")
        time.sleep(1.0)
        measured = [s for s in chosen if s is not warm]
        flows = [LiveFlow(f"{s.name} {s.ip}:{s.port}", (s.ip, s.port)) for s in measured]
        for s, f in zip(measured, flows, strict=True):
            _talk(s.ip, s.port, LIVE_CLIENTS[s.service], f)
            time.sleep(0.2)
        end = time.monotonic() + timeout
        while time.monotonic() < end and not all(_match(f, records, lock) for f in flows):
            time.sleep(0.1)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    rows = ["| flow | service | method | probe of the server | latency (s) |",
            "|---|---|---|---|---:|"]
    latencies: list[float] = []
    for f in flows:
        rec = f.record
        if rec is None or f.arrived is None:
            rows.append(f"| {f.name} | (no record) | | | |")
            continue
        probes = rec.get("probes")
        server_probe = probes.get("server") if isinstance(probes, dict) else None
        lat = f.arrived - f.started
        if server_probe:
            latencies.append(lat)
        rows.append(f"| {f.name} | {rec.get('service')} {rec.get('product') or ''} | "
                    f"{rec.get('method')} | {'yes' if server_probe else 'none'} | {lat:.3f} |")
    print("\n".join(rows))
    lines = [
        _blocks.data_line(_blocks.DEVELOPMENT, f"connections to {len(flows)} server(s) of the "
                          "real-server lab of `tests/lab/` (the servers probescan's "
                          "fingerprints were captured from), one each. No peer: ndpiReader "
                          "does not probe.") + "",
        "",
        "| flows with the server's probe result | median latency (s) | max (s) |",
        "|---:|---:|---:|",
        (f"| {len(latencies)}/{len(flows)} | {statistics.median(latencies):.3f} | "
         f"{max(latencies):.3f} |") if latencies else f"| 0/{len(flows)} | - | - |",
        "",
        "Latency: from just before the client's `connect()` to the arrival on stdout of the "
        "flow's record with the server's probe result (`probes.server`), i.e. it includes "
        f"the active probe of the server. Watcher: `{shlex.join(['probescan', *argv[3:]])}`.",
        "",
        _blocks.provenance(started),
    ]
    _blocks.emit("watch-live", lines, quick)


def _match(f: LiveFlow, records: list[tuple[float, dict[str, object]]],
           lock: threading.Lock) -> bool:
    if f.record is not None:
        return True
    if f.client is None:
        return True  # the connection failed: nothing to wait for
    with lock:
        snapshot = list(records)
    for when, rec in snapshot:
        c, s = rec.get("client"), rec.get("server")
        if not isinstance(c, dict) or not isinstance(s, dict):
            continue
        if (c.get("ip"), c.get("port")) == f.client and (s.get("ip"), s.get("port")) == f.server:
            f.record, f.arrived = rec, when
            return True
    return False
