"""Sockets and capture files for scripts/capture_examples.py: a probe's reply from a server,
the first bytes a client sends to a listener, the payloads of a pcap file."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from probescan.catalog import Probe

READ_IDLE = 0.6  # seconds of silence that end a reply
# UDP: take the answer from any address of the server (set by --any-source: a daemon bound to
# 0.0.0.0 answers from the machine's first loopback address, not the one asked)
ANY_SOURCE = {"on": False}
MAX_READ = 16384  # bytes read at most from one reply


@dataclass(frozen=True)
class Target:
    name: str  # "redis", "udp:dnsmasq"
    ip: str
    port: int
    transport: str


def read_reply(sock: socket.socket, wait: float, idle: float = READ_IDLE) -> bytes:
    data = b""
    deadline = time.monotonic() + wait
    sock.settimeout(wait)
    while len(data) < MAX_READ and time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, OSError):
            break
        if not chunk:
            break
        data += chunk
        sock.settimeout(idle)
    return data


def ask(target: Target, probe: Probe, idle: float = READ_IDLE) -> bytes:
    """One probe's reply ("" on silence or error)."""
    payload = probe.render(target.ip)
    wait = min(probe.wait_ms / 1000, 4.0)
    try:
        if target.transport == "udp":
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(wait)
                if probe.reply_from_any_port or ANY_SOURCE["on"]:  # TFTP: from a new port
                    s.sendto(payload, (target.ip, target.port))
                    while True:
                        data, (ip, _) = s.recvfrom(65536)
                        if ip == target.ip or ANY_SOURCE["on"]:
                            return data
                s.connect((target.ip, target.port))
                s.send(payload)
                return s.recv(65536)
        with socket.create_connection((target.ip, target.port), timeout=3) as s:
            if payload:
                s.sendall(payload)
            return read_reply(s, wait, idle)
    except OSError:
        return b""


def parse_address(text: str) -> tuple[str, int, str]:
    """ADDRESS:PORT[/udp] -> (address, port, transport)."""
    where, _, transport = text.partition("/")
    ip, _, port = where.rpartition(":")
    if not ip or not port.isdigit() or transport not in ("", "tcp", "udp"):
        raise ValueError(f"not ADDRESS:PORT[/udp]: {text!r}")
    return ip, int(port), transport or "tcp"


def listen(target: Target, run: str | None, wait: float) -> bytes:
    """The first bytes a client sends to target (b"" if none came within wait seconds)."""
    udp = target.transport == "udp"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM) as srv:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((target.ip, target.port))
        if not udp:
            srv.listen(1)
        proc = (subprocess.Popen(run, shell=True, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True) if run else None)
        srv.settimeout(wait)
        try:
            if udp:
                return srv.recvfrom(65536)[0]
            conn, _ = srv.accept()
            with conn:
                return read_reply(conn, READ_IDLE * 3)
        except OSError:
            return b""
        finally:
            if proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                proc.wait()


def pcap_payloads(path: Path, join: bool = False) -> Iterator[tuple[Target, bytes]]:
    """(sender, payload) for every TCP or UDP payload of a capture file, in file order. With
    `join`, the payload is all that sender sent on that flow so far (as `probescan watch`
    reads a flow's direction: TFTP's DATA blocks back to back)."""
    from probescan.protocols.errors import ParseError
    from probescan.protocols.packet import UDP, parse_frame
    from probescan.watch.capture import read_file
    sent: dict[tuple[str, int, str, int, int], bytes] = {}
    for ts, link, frame in read_file(path):
        try:
            pkt = parse_frame(frame, link, ts)
        except ParseError:
            continue
        if pkt.payload:
            proto = "udp" if pkt.proto == UDP else "tcp"
            data = pkt.payload
            if join:
                key = (pkt.src, pkt.sport, pkt.dst, pkt.dport, pkt.proto)
                data = sent[key] = (sent.get(key, b"") + data)[:MAX_READ]
            yield Target("", pkt.src, pkt.sport, proto), data
