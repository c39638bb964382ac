"""JARM against real TLS servers on 127.0.70.x: probescan's fingerprint equals the one the
`pyjarm` package takes (OpenSSL's s_server with two configurations, Python's ssl server),
and a scan's record carries it."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from probescan.catalog import build_catalog
from probescan.config import Config
from probescan.engine.conn import Dialer
from probescan.engine.jarm import jarm
from probescan.engine.limits import Limits
from probescan.model import Endpoint, ServiceRecord
from probescan.protocols.jarm import ZERO

pyjarm = pytest.importorskip("jarm.scanner.scanner")


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl (scripts/install-test-deps)")
    d = tmp_path_factory.mktemp("jarm-cert")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=jarm.test", "-keyout", str(d / "key.pem"),
                    "-out", str(d / "cert.pem")], check=True, capture_output=True)
    return d / "cert.pem", d / "key.pem"


@contextlib.contextmanager
def s_server(host: str, cert: tuple[Path, Path], *extra: str) -> Iterator[int]:
    port = _free_port(host)
    proc = subprocess.Popen(["openssl", "s_server", "-accept", f"{host}:{port}", "-cert",
                             str(cert[0]), "-key", str(cert[1]), "-www", "-quiet", *extra],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex((host, port)) == 0:
                    break
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=5)


@contextlib.contextmanager
def python_tls(host: str, cert: tuple[Path, Path]) -> Iterator[int]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert[0], cert[1])
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["http/1.1"])
    srv = socket.socket()
    srv.bind((host, 0))
    srv.listen(32)
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=_handshake, args=(ctx, conn), daemon=True).start()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        t.join()
        srv.close()


def _handshake(ctx: ssl.SSLContext, conn: socket.socket) -> None:
    conn.settimeout(3)
    with contextlib.suppress(OSError, ssl.SSLError), ctx.wrap_socket(conn,
                                                                     server_side=True) as tls:
        tls.recv(100)
    conn.close()


def ours(host: str, port: int) -> str:
    config = Config()

    async def run() -> str:
        dialer = Dialer(config, Limits(config.concurrency, config.per_host, 0))
        return await jarm(dialer, Endpoint(host, port), 3.0)

    return asyncio.run(run())


def theirs(host: str, port: int) -> str:
    return str(pyjarm.Scanner.scan(host, port, timeout=5, suppress=True)[0])


@pytest.mark.parametrize("variant", ["default", "tls12-only", "python"])
def test_our_jarm_equals_pyjarm(cert: tuple[Path, Path], variant: str) -> None:
    host = "127.0.70.40"
    server = (python_tls(host, cert) if variant == "python" else
              s_server(host, cert, *(["-tls1_2", "-cipher", "AES256-SHA:ECDHE-RSA-AES128-SHA"]
                                     if variant == "tls12-only" else [])))
    with server as port:
        mine, reference = ours(host, port), theirs(host, port)
    assert mine == reference and mine != ZERO and len(mine) == 62


def test_a_closed_port_gives_zeros() -> None:
    assert ours("127.0.70.40", _free_port("127.0.70.40")) == ZERO


def test_a_scan_record_carries_the_jarm(cert: tuple[Path, Path]) -> None:
    host = "127.0.70.41"
    got: list[ServiceRecord] = []
    with s_server(host, cert) as port:
        asyncio.run(scan_one(Endpoint(host, port), got))
        reference = theirs(host, port)
    (record,) = got
    assert record.tls is not None and record.tls.jarm == reference
    assert record.to_dict()["tls"]["jarm"] == reference


async def scan_one(ep: Endpoint, got: list[ServiceRecord]) -> None:
    from probescan.engine.scan import scan

    await scan([ep], Config(banner_wait=0.5, endpoint_budget=8), build_catalog(None),
               got.append)
