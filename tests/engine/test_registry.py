"""The prober's socket registry: the watcher ignores exactly the prober's own connections."""

from __future__ import annotations

from probescan.engine.conn import SocketRegistry


def test_a_registered_socket_is_owned_only_towards_its_own_peer() -> None:
    reg = SocketRegistry()
    reg.add("tcp", 40000, "127.0.10.1", 2222)
    assert reg.owns("tcp", 40000, "127.0.10.1", 2222)
    # Linux reuses an ephemeral port towards another peer: that flow is someone else's.
    assert not reg.owns("tcp", 40000, "127.0.10.9", 16379)
    assert not reg.owns("udp", 40000, "127.0.10.1", 2222)


def test_registrations_expire() -> None:
    reg = SocketRegistry(keep=0.0)
    reg.add("udp", 5000, "127.0.20.1", 53)
    assert not reg.owns("udp", 5000, "127.0.20.1", 53)
