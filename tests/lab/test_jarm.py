"""JARM of the lab's nginx (TLS) equals the one the `pyjarm` package takes.

Starts its own nginx-https from the lab's recipes on 127.0.70.42 (not the shared lab's
addresses), so it can run beside the other lab tests."""

from __future__ import annotations

import pytest

from tests.engine.test_jarm_live import ours, theirs
from tests.lab import Lab, LabError, available

pytestmark = pytest.mark.lab


def test_nginx_jarm_equals_pyjarm() -> None:
    pytest.importorskip("jarm.scanner.scanner")
    why = available("nginx-https", 18443)
    if why is not None:
        pytest.skip(why)
    with Lab() as lab:
        try:
            svc = lab.start("nginx-https", "127.0.70.42", 18443)
        except LabError as e:
            pytest.skip(str(e).splitlines()[0])
        mine, reference = ours(svc.ip, svc.port), theirs(svc.ip, svc.port)
    assert mine == reference and mine != "0" * 62
