"""Two real WireGuard peers (the kernel's, else wireguard-go) in namespaces the test
creates, one handshake and some transport data between them, captured on the first peer."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.watch import debian_setup as setup
from tests.watch.debian_checks import needs, started
from tests.watch.debian_net import Capture, link, netns, wait_for


def wireguard_capture(d: Path, names: tuple[str, str], net: str, port: int) -> Path:
    """`d/wg.pcap`: peers `names` on veth `net`.3.1/.2 and tunnel `net`.4.1/.2 (`net` is
    "10.x"), the first listening on `port`/udp; skips where neither the kernel module nor
    /dev/net/tun is there."""
    needs("wg:wireguard-tools")
    with netns(*names) as (a, b):
        va, _ = link(a, f"{net}.3.1", b, f"{net}.3.2")
        kernel = setup.wg_kernel(a)
        if not kernel:
            if not Path("/dev/net/tun").exists():
                pytest.skip("no WireGuard kernel module and no /dev/net/tun for wireguard-go")
            needs("wireguard-go")
        keys = {n: setup.wg_keys(d, n) for n in "ab"}
        for ns, me, peer in ((a, "a", "b"), (b, "b", "a")):
            dev, log = f"{names[0][:1]}g{me}{os.getpid() % 100000}", d / f"wg-{me}.log"
            started(setup.wg_device(ns, dev, kernel, log), "wireguard-go", log)
            error = setup.wg_configure(
                ns, dev, keys[me][0], f"{net}.4.{ord(me) - 96}", keys[peer][1],
                f"{net}.4.{ord(peer) - 96}", port if me == "a" else None,
                f"{net}.3.1:{port}" if me == "b" else None)
            assert not error, error
        with Capture(a, d / "wg.pcap", iface=va):
            sent = b.run([sys.executable, "-c", setup.SEND_UDP, f"{net}.4.1"])
            assert sent.returncode == 0, sent.stderr
            assert wait_for(lambda: "latest handshake" in a.run(["wg", "show"]).stdout, 5)
    return d / "wg.pcap"
