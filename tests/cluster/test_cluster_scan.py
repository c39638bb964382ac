"""`probescan scan --cluster` end to end, against small fake servers on 127.1.0.1xx: the same
records as a one-process scan, every endpoint exactly once when a worker process is killed
mid-scan, Ctrl-C keeps what was found, and bad input is one line."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from probescan.cli import main
from probescan.cluster import client as cluster_client
from probescan.cluster.run import MISSING_DASK
from tests.cluster.fakes import EXPECTED, fake_servers

CLUSTER_HOST = "127.1.0.250"  # where the test's Dask clusters listen
ENV = {**os.environ, "PROBESCAN_CLUSTER_HOST": CLUSTER_HOST}


def probescan(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "probescan", "scan", *args], env=ENV,
                          capture_output=True, text=True, timeout=timeout, check=False)


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def by_endpoint(records: list[dict[str, Any]]) -> dict[tuple[str, int], tuple[Any, ...]]:
    counts = Counter((r["ip"], r["port"]) for r in records)
    assert max(counts.values(), default=1) == 1, counts.most_common(3)
    return {(r["ip"], r["port"]): (r["state"], r["service"], r["product"], r["version"])
            for r in records}


def test_local_cluster_gives_the_records_of_a_one_process_scan(tmp_path: Path) -> None:
    hosts = [f"127.1.0.{i}" for i in range(101, 107)]
    ports = [2222, 2121, 8080]
    entries = [(hosts[0], 2222, "ssh"), (hosts[1], 2121, "ftp"), (hosts[2], 8080, "http"),
               (hosts[3], 2222, "ssh")]
    common = [*hosts, "-p", ",".join(map(str, ports)), "--no-nmap-db", "--all-states", "-q"]
    with fake_servers(entries):
        one = probescan(*common, "-o", str(tmp_path / "one.jsonl"))
        two = probescan(*common, "--cluster", "local:2", "-o", str(tmp_path / "two.jsonl"),
                        "-oX", str(tmp_path / "two.xml"))
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    assert "Traceback" not in two.stderr
    single, cluster = by_endpoint(read(tmp_path / "one.jsonl")), by_endpoint(
        read(tmp_path / "two.jsonl"))
    assert len(cluster) == len(hosts) * len(ports)
    assert cluster == single
    for ip, port, kind in entries:
        assert cluster[(ip, port)] == ("open", *EXPECTED[kind])
    assert (tmp_path / "two.xml").read_text().count("<port ") == len(hosts) * len(ports)


@pytest.fixture
def cluster() -> Iterator[Any]:
    """A running two-worker Dask cluster (as `dask scheduler` and `dask worker` would give)."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host=CLUSTER_HOST,
                      dashboard_address=None, silence_logs=40) as lc, Client(lc) as client:
        yield client


def test_killed_worker_its_shard_runs_again_each_endpoint_once(cluster: Any,
                                                               tmp_path: Path) -> None:
    hosts = [f"127.1.0.{i}" for i in range(111, 119)]
    entries = [(ip, 2222, "ssh") for ip in hosts] + [(ip, 9001, "silent") for ip in hosts]
    out = tmp_path / "scan.jsonl"
    with fake_servers(entries):
        proc = subprocess.Popen(
            [sys.executable, "-m", "probescan", "scan", *hosts, "-p", "2222,2121,9001",
             "--cluster", cluster.scheduler.address, "--no-nmap-db", "--all-states", "-q",
             "--banner-wait", "1", "--host-timeout", "3", "--concurrency", "2", "-o", str(out)],
            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (out.exists() and out.read_text().strip()):
            time.sleep(0.05)
        # 8 hosts in 8 shards: host k is shard k + 1; kill the worker running the shard that
        # already sent a record (its silent port keeps it busy for seconds)
        shard = hosts.index(read(out)[0]["ip"]) + 1
        running = {w for w, keys in cluster.processing().items()
                   if any(str(k).endswith(f"-shard-{shard}") for k in keys)}
        assert running, "the shard should still be running"
        os.kill(cluster.run(os.getpid)[running.pop()], signal.SIGKILL)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert f"shard(s) {shard}/8 ran again" in err
    assert "Traceback" not in err
    records = by_endpoint(read(out))  # each endpoint exactly once ...
    assert set(records) == {(ip, p) for ip in hosts for p in (2222, 2121, 9001)}  # ... and all
    for ip in hosts:
        assert records[(ip, 2222)] == ("open", *EXPECTED["ssh"])
        assert records[(ip, 2121)][0] == "closed"


def test_ctrl_c_stops_the_shards_and_keeps_what_was_found(tmp_path: Path) -> None:
    hosts = [f"127.1.0.{i}" for i in range(121, 125)]
    entries = [(hosts[0], 2222, "ssh")] + [(ip, 9001, "silent") for ip in hosts]
    out = tmp_path / "scan.jsonl"
    with fake_servers(entries):
        proc = subprocess.Popen(  # a session of its own: Ctrl-C reaches its whole group
            [sys.executable, "-m", "probescan", "scan", *hosts, "-p", "2222,9001",
             "--cluster", "local:2", "--no-nmap-db", "--banner-wait", "30",
             "--host-timeout", "60", "-q", "-o", str(out)],
            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (out.exists() and out.read_text().strip()):
            time.sleep(0.1)
        assert out.read_text().strip(), "the SSH record should be written as found"
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert [(r["ip"], r["port"], r["service"]) for r in read(out)] == [(hosts[0], 2222, "ssh")]
    deadline = time.monotonic() + 10
    while live_in_group(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not live_in_group(proc.pid), "a worker process was left behind"


def live_in_group(pgid: int) -> list[int]:
    """Processes of group `pgid` still running (zombies waiting for a reaper do not count)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def one_line_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["scan", "127.1.0.130", "-p", "1", "-q", "--no-nmap-db", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


@pytest.mark.parametrize("value", ["local:0", "local:x", "remote", "tcp://host", "http://h:1"])
def test_bad_cluster_value_is_one_line(capsys: pytest.CaptureFixture[str], value: str) -> None:
    assert one_line_error(capsys, "--cluster", value) == (
        f"probescan: error: bad --cluster '{value}': expected local:N (1-1024 worker "
        "processes) or tcp://HOST:PORT (a Dask scheduler)")


def test_missing_dask_is_one_line(capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "probescan.cluster.client")
    assert one_line_error(capsys, "--cluster", "local:2") == f"probescan: error: {MISSING_DASK}"


def test_unreachable_scheduler_is_one_line(capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster_client, "CONNECT_TIMEOUT", 1.0)
    err = one_line_error(capsys, "--cluster", f"tcp://{CLUSTER_HOST}:9")
    assert err.startswith(f"probescan: error: cannot reach the Dask scheduler at "
                          f"tcp://{CLUSTER_HOST}:9: ")


def test_a_failing_shard_is_reported_and_the_others_go_on(
        capsys: pytest.CaptureFixture[str]) -> None:
    from distributed import LocalCluster

    from probescan.catalog import Catalog, load_fingerprints, load_probes
    from probescan.cluster.merge import Merger
    from probescan.cluster.plan import TargetPlan
    from probescan.cluster.run import Outcome, Where, _report
    from probescan.config import Config
    from probescan.model import ServiceRecord

    # a plan naming a host the client never resolved: expanding it fails on the worker
    plan = TargetPlan(("127.1.0.131", "unresolved.example"), (), (("tcp", 1),))
    written: list[ServiceRecord] = []
    merger, outcome = Merger(written.append), Outcome()

    async def go() -> None:
        async with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                protocol="tcp", host=CLUSTER_HOST, dashboard_address=None,
                                asynchronous=True, silence_logs=50) as lc:
            await cluster_client.session(
                Where(address=lc.scheduler_address), plan, None, Config(),
                Catalog(load_probes(), load_fingerprints()), merger, outcome)

    asyncio.run(go())
    assert outcome.threads == 2 and outcome.shards == 8
    assert len(outcome.failures) == 8 and written == []
    _report(outcome, merger)
    err = capsys.readouterr().err
    assert err == ("probescan: error: shards 1/8, 2/8, 3/8, 4/8, 5/8, 6/8, 7/8, 8/8 failed: "
                   "TargetError: bad target 'unresolved.example': not resolved by the client\n")


def test_a_lost_scheduler_is_one_line_and_keeps_the_records(tmp_path: Path) -> None:
    """With `dask scheduler` and `dask worker` as docs/cluster.md runs them."""
    root = Path(__file__).resolve().parents[2]
    env = {**ENV, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    address = f"tcp://{CLUSTER_HOST}:8791"
    dask = [sys.executable, "-m", "dask"]
    started: list[subprocess.Popen[bytes]] = []
    try:
        for cmd in ([*dask, "scheduler", "--host", CLUSTER_HOST, "--port", "8791",
                     "--no-dashboard"],
                    [*dask, "worker", address, "--host", CLUSTER_HOST, "--nthreads", "1",
                     "--no-dashboard"]):
            started.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL))
        out = tmp_path / "scan.jsonl"
        with fake_servers([("127.1.0.151", 2222, "ssh"), ("127.1.0.151", 9001, "silent")]):
            proc = subprocess.Popen(
                [sys.executable, "-m", "probescan", "scan", "127.1.0.151", "-p", "2222,9001",
                 "--cluster", address, "--no-nmap-db", "--banner-wait", "30", "-q",
                 "-o", str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not (out.exists() and out.read_text()):
                time.sleep(0.1)
            started[0].kill()  # the scheduler
            _, err = proc.communicate(timeout=60)
    finally:
        for p in started:
            p.terminate()
            p.wait(timeout=30)
    assert proc.returncode == 2, err
    assert err.startswith(f"probescan: error: lost the Dask scheduler at {address}: ")
    assert err.count("\n") == 1
    assert [(r["port"], r["service"]) for r in read(out)] == [(2222, "ssh")]
