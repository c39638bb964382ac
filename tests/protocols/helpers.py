"""Shared by the parser tests: every truncated prefix of a message must ask for more."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from probescan.protocols import NeedMore


def assert_every_prefix_needs_more(
    parse: Callable[[bytes], object], data: bytes, upto: int
) -> None:
    for cut in range(upto):
        try:
            result = parse(data[:cut])
        except NeedMore:
            continue
        except Exception as e:
            pytest.fail(f"prefix of {cut} bytes: {e!r} instead of NeedMore")
        pytest.fail(f"prefix of {cut} bytes returned {result!r}")

