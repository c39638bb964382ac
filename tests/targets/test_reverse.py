"""-R: names of addresses looked up together, bounded in time."""

from __future__ import annotations

import time

from probescan.targets.reverse import reverse_names


def test_names_found_are_kept_and_slow_lookups_are_left_behind() -> None:
    def lookup(ip: str) -> str | None:
        if ip.endswith(".9"):
            time.sleep(2)
            return "late.example"
        return {"192.0.2.1": "one.example"}.get(ip)

    t0 = time.monotonic()
    got = reverse_names(["192.0.2.1", "192.0.2.2", "192.0.2.9", "192.0.2.1"], timeout=0.3,
                        lookup=lookup)
    assert dict(got) == {"192.0.2.1": "one.example"}
    assert time.monotonic() - t0 < 1.5
    assert reverse_names([], lookup=lookup) == {}
