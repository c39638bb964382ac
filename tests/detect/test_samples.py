"""Every detector against every sample: right name on its own, no claim on the others'.

* each sample is named by the registry as its service, with the facts it states;
* no detector claims another service's sample (unless the sample lists it in `also`);
* every truncated prefix of a sample (the last message cut) gives its own service,
  NEED_MORE or nothing, never another service and never an exception;
* 100,000 random payloads of 1-1,500 bytes (one message, either side, TCP and UDP) and
  10,000 random flows of two to four messages are claimed by no detector.
"""

from __future__ import annotations

import dataclasses
import random

import pytest

from probescan.detect import NEED_MORE, Detection, Messages
from probescan.detect.registry import DETECTORS, detect
from tests.detect.samples import Sample, load_samples

SAMPLES = load_samples()
IDS = [s.id for s in SAMPLES]


def test_every_detector_has_a_sample() -> None:
    named = {s.service for s in SAMPLES}
    missing = sorted({d.name for d in DETECTORS} - named)
    assert not missing, f"detectors without a sample: {missing}"


def test_every_sample_names_its_source() -> None:
    assert [s.id for s in SAMPLES if not s.source] == []


@pytest.mark.parametrize("sample", SAMPLES, ids=IDS)
def test_sample_is_named_as_its_service(sample: Sample) -> None:
    r = detect(sample.msgs)
    assert isinstance(r, Detection), f"{sample.id}: {r!r}"
    assert r.service == sample.service
    for key, value in sample.facts.items():
        got = r.facts.get(key)
        got = list(got) if isinstance(got, tuple) else got
        assert got == value, f"{sample.id}: fact {key}: {got!r} != {value!r}"


@pytest.mark.parametrize("sample", SAMPLES, ids=IDS)
def test_no_detector_claims_another_services_sample(sample: Sample) -> None:
    allowed = {sample.service, *sample.also}
    for d in DETECTORS:
        r = d(sample.msgs)
        if isinstance(r, Detection):
            assert r.service in allowed, f"{d.name} claims {sample.id} as {r.service}"


def _cut(msgs: Messages, side: str, index: int, length: int) -> Messages:
    kept = (*getattr(msgs, side)[:index], getattr(msgs, side)[index][:length])
    other = "server" if side == "client" else "client"
    return dataclasses.replace(msgs, **{side: kept, other: getattr(msgs, other)})


@pytest.mark.parametrize("sample", SAMPLES, ids=IDS)
def test_truncated_samples_are_never_misnamed(sample: Sample) -> None:
    allowed = {sample.service, *sample.also}
    for side in ("client", "server"):
        for index, message in enumerate(getattr(sample.msgs, side)):
            for length in range(len(message)):
                cut = _cut(sample.msgs, side, index, length)
                for d in DETECTORS:
                    r = d(cut)  # an exception fails the test
                    if isinstance(r, Detection):
                        assert r.service in allowed, (
                            f"{d.name} names {sample.id} cut to {length} bytes of "
                            f"{side} message {index} as {r.service}")


def _random_flows(seed: int, count: int, messages: tuple[int, int]) -> list[Messages]:
    rng = random.Random(seed)
    flows = []
    for i in range(count):
        n = rng.randint(*messages)
        payloads = tuple(rng.randbytes(rng.randint(1, 1500)) for _ in range(n))
        transport = "tcp" if i % 2 else "udp"
        if (i // 2) % 2:
            flows.append(Messages(transport, client=payloads, first="client"))
        else:
            flows.append(Messages(transport, server=payloads, first="server"))
    return flows


@pytest.mark.parametrize(("seed", "count", "messages"), [
    (1, 100_000, (1, 1)),
    (2, 10_000, (2, 4)),
])
def test_random_payloads_are_claimed_by_no_detector(
    seed: int, count: int, messages: tuple[int, int]
) -> None:
    claims: dict[str, int] = {}
    for msgs in _random_flows(seed, count, messages):
        for d in DETECTORS:
            if isinstance(d(msgs), Detection):
                claims[d.name] = claims.get(d.name, 0) + 1
    assert claims == {}


def test_need_more_only_while_a_detector_waits() -> None:
    half = Messages("tcp", client=(b"\x13BitTorrent",))
    assert detect(half) is NEED_MORE
    assert detect(Messages("tcp", client=(b"\x00\x01",))) is None
