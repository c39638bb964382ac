"""A behaviour signature names real software's traffic whose payload was not captured.

Two WireGuard peers (the kernel's, else wireguard-go) in network namespaces of their own
(tests/watch/debian_net.py; this test's veth link and tunnel carry 10.160.x.y), captured with
tcpdump; the capture is cut after every UDP header here (scapy: the original lengths kept, as
a short snap length would), and `probescan watch` must name the handshake's flow `wireguard`
by the signature `wireguard-handshake` (profiles/signatures.toml). Marked ``lab``: it needs
root and WireGuard; a missing program skips.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from scapy.utils import rdpcap

from tests.classify.test_watch_signatures import strip_payload
from tests.watch import debian_setup as setup
from tests.watch.debian_checks import needs, started, workdir
from tests.watch.debian_net import Capture, describe, flows_on, link, netns, wait_for, watch

pytestmark = pytest.mark.lab
PORT = 51820


@pytest.mark.allow_skip(reason="WireGuard needs its kernel module, or /dev/net/tun for "
                        "wireguard-go; a container may have neither")
def test_a_headers_only_wireguard_handshake_is_named_by_its_signature(tmp_path: Path) -> None:
    d = workdir(tmp_path)
    needs("wg:wireguard-tools")
    with netns("sa", "sb") as (a, b):
        va, _ = link(a, "10.160.3.1", b, "10.160.3.2")
        kernel = setup.wg_kernel(a)
        if not kernel:
            if not Path("/dev/net/tun").exists():
                pytest.skip("no WireGuard kernel module and no /dev/net/tun for wireguard-go")
            needs("wireguard-go")
        keys = {n: setup.wg_keys(d, n) for n in "ab"}
        for ns, me, peer in ((a, "a", "b"), (b, "b", "a")):
            dev, log = f"ws{me}{os.getpid() % 100000}", d / f"wg-{me}.log"
            started(setup.wg_device(ns, dev, kernel, log), "wireguard-go", log)
            error = setup.wg_configure(
                ns, dev, keys[me][0], f"10.160.4.{ord(me) - 96}", keys[peer][1],
                f"10.160.4.{ord(peer) - 96}", PORT if me == "a" else None,
                f"10.160.3.1:{PORT}" if me == "b" else None)
            assert not error, error
        with Capture(a, d / "wg.pcap", iface=va):
            sent = b.run([sys.executable, "-c", setup.SEND_UDP, "10.160.4.1"])
            assert sent.returncode == 0, sent.stderr
            assert wait_for(lambda: "latest handshake" in a.run(["wg", "show"]).stdout, 5)
    strip_payload(list(rdpcap(str(d / "wg.pcap"))), d / "wg-headers.pcap")
    records = watch(d / "wg-headers.pcap")
    flows = flows_on(records, PORT, "udp")
    assert flows, describe(records)
    for r in flows:
        assert r["passive"]["client_raw"] == "" and r["passive"]["server_raw"] == ""
        assert (r["service"], r["method"], r["decided_by"]) == (
            "wireguard", "signature", "statistics"), describe([r])
        assert r["behaviour"]["signature"]["name"] == "wireguard-handshake"
        assert r["behaviour"]["sizes"][:2] == [148, -92]
