"""Shared helpers of the target tests: a fake resolver and one-line error messages."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from probescan.targets import TargetError, iter_hosts

FAKE_DNS = {
    "web.example": ["192.0.2.10", "2001:db8::10"],
    "mail.example": ["192.0.2.25"],
    "alias.example": ["192.0.2.10"],
    "v6only.example": ["2001:db8::53"],
}


def fake_resolve(name: str) -> list[str]:
    return list(FAKE_DNS.get(name, []))


def ips(*specs: str, exclude: str | Sequence[str] = ()) -> list[str]:
    return [h.ip for h in iter_hosts(list(specs), exclude, resolve=fake_resolve)]


def error_of(call: object, *args: object) -> str:
    assert callable(call)
    with pytest.raises(TargetError) as info:
        result = call(*args)
        if isinstance(result, Iterator):
            list(result)
    message = str(info.value)
    assert "\n" not in message
    return message
