"""A behaviour signature names real software's traffic whose payload was not captured.

Two WireGuard peers (the kernel's, else wireguard-go) in network namespaces of their own
(tests/watch/debian_net.py; this test's veth link and tunnel carry 10.160.x.y), captured with
tcpdump; the capture is cut after every UDP header here (scapy: the original lengths kept, as
a short snap length would), and `probescan watch` must name the handshake's flow `wireguard`
by the signature `wireguard-handshake` (profiles/signatures.toml). Marked ``lab``: it needs
root and WireGuard; a missing program skips.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.utils import rdpcap

from tests.classify.test_watch_signatures import strip_payload
from tests.watch.debian_checks import workdir
from tests.watch.debian_net import describe, flows_on, watch
from tests.watch.debian_wireguard import wireguard_capture

pytestmark = pytest.mark.lab
PORT = 51820


@pytest.mark.allow_skip(reason="WireGuard needs its kernel module, or /dev/net/tun for "
                        "wireguard-go; a container may have neither")
def test_a_headers_only_wireguard_handshake_is_named_by_its_signature(tmp_path: Path) -> None:
    d = workdir(tmp_path)
    wireguard_capture(d, ("sa", "sb"), "10.160", PORT)
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
