"""`--cluster` against real Debian servers (the lab's recipes, on the cluster tests' own
addresses 127.1.0.1-8): the same records as a one-process scan, and every endpoint exactly
once when a worker process is killed mid-scan."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.fakes import fake_servers
from tests.cluster.test_cluster_scan import CLUSTER_HOST, ENV, by_endpoint, probescan, read
from tests.conftest import lab_unavailable
from tests.lab import Lab, LabError, Service

HOSTS = [f"127.1.0.{i}" for i in range(1, 9)]
SERVERS = [("ssh", "127.1.0.1", 2222), ("nginx", "127.1.0.2", 18080),
           ("redis", "127.1.0.3", 16379), ("vsftpd", "127.1.0.4", 2121),
           ("redis", "127.1.0.5", 2222)]
PORTS = "2222,18080,16379,2121"

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def servers() -> Iterator[list[Service]]:
    with Lab() as lab:
        started = []
        for entry in SERVERS:
            try:
                started.append(lab.start(*entry))
            except LabError as e:
                lab_unavailable(f"lab server {entry[0]} on {entry[1]}:{entry[2]}: {e}")
        yield started


def test_local_cluster_names_the_servers_as_one_process_does(servers: list[Service],
                                                            tmp_path: Path) -> None:
    common = [*HOSTS, "-p", PORTS, "--all-states", "-q"]
    one = probescan(*common, "-o", str(tmp_path / "one.jsonl"))
    two = probescan(*common, "--cluster", "local:2", "-o", str(tmp_path / "two.jsonl"))
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    single, cluster = by_endpoint(read(tmp_path / "one.jsonl")), by_endpoint(
        read(tmp_path / "two.jsonl"))
    assert len(cluster) == len(HOSTS) * len(PORTS.split(","))
    assert cluster == single
    for svc in servers:
        state, service, product, _ = cluster[(svc.ip, svc.port)]
        assert (state, service) == ("open", svc.service)
        assert svc.product is not None and product is not None
        assert svc.product.lower() in product.lower()


@pytest.fixture
def cluster() -> Iterator[Any]:
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host=CLUSTER_HOST,
                      dashboard_address=None, silence_logs=40) as lc, Client(lc) as client:
        yield client


def test_killed_worker_still_every_endpoint_once(servers: list[Service], cluster: Any,
                                                 tmp_path: Path) -> None:
    out = tmp_path / "scan.jsonl"
    with fake_servers([(ip, 9001, "silent") for ip in HOSTS]):  # keeps every shard busy
        proc = subprocess.Popen(
            [sys.executable, "-m", "probescan", "scan", *HOSTS, "-p", f"{PORTS},9001",
             "--cluster", cluster.scheduler.address, "--all-states", "-q", "--banner-wait",
             "1", "--host-timeout", "4", "--concurrency", "2", "-o", str(out)],
            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (out.exists() and out.read_text().strip()):
            time.sleep(0.05)
        shard = HOSTS.index(read(out)[0]["ip"]) + 1  # 8 hosts, 8 shards: host k is shard k+1
        running = {w for w, keys in cluster.processing().items()
                   if any(str(k).endswith(f"-shard-{shard}") for k in keys)}
        assert running, "the shard should still be running"
        os.kill(cluster.run(os.getpid)[running.pop()], signal.SIGKILL)
        _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    assert f"shard(s) {shard}/8 ran again" in err
    records = by_endpoint(read(out))
    assert set(records) == {(ip, int(p)) for ip in HOSTS for p in [*PORTS.split(","), 9001]}
    for svc in servers:
        assert records[(svc.ip, svc.port)][:2] == ("open", svc.service)
