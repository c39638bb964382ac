"""Detector samples: recorded or specification-built messages, kept as data.

Each `tests/data/detect/*.toml` file holds `[[sample]]` tables:

    service = "bittorrent"          # what the registry must name
    transport = "tcp"
    client = ["13426974..."]        # hex, one string per message, in order
    server = []
    first = "client"                # optional: who spoke first
    ports = [51413, 6881]           # optional: client port, server port
    server_ip = "192.0.2.1"         # optional
    facts = { bt_info_hash = "..." }  # optional: facts the detection must carry
    also = ["rtp"]                  # optional: other services that may claim it too
    source = "built from BEP 3"     # where the bytes come from (captured: program/version)
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from probescan.detect import Messages

DATA = Path(__file__).resolve().parent.parent / "data" / "detect"


@dataclass(frozen=True)
class Sample:
    id: str
    service: str
    msgs: Messages
    facts: dict[str, Any]
    also: frozenset[str]
    source: str


def _hex(values: list[str], where: str) -> tuple[bytes, ...]:
    try:
        return tuple(bytes.fromhex("".join(v.split())) for v in values)
    except ValueError as e:
        raise AssertionError(f"{where}: bad hex: {e}") from None


def load_samples() -> list[Sample]:
    samples: list[Sample] = []
    for path in sorted(DATA.glob("*.toml")):
        with path.open("rb") as f:
            tables = tomllib.load(f).get("sample", [])
        for i, t in enumerate(tables):
            where = f"{path.name}#{i}:{t.get('service')}"
            ports = t.get("ports", [0, 0])
            msgs = Messages(
                transport=t["transport"],
                client=_hex(t.get("client", []), where),
                server=_hex(t.get("server", []), where),
                client_port=ports[0],
                server_port=ports[1],
                server_ip=t.get("server_ip", ""),
                first=t.get("first"),
            )
            samples.append(Sample(where, t["service"], msgs, dict(t.get("facts", {})),
                                  frozenset(t.get("also", [])), t.get("source", "")))
    return samples
