"""Property tests of every parser in probescan/protocols: arbitrary bytes, and recorded or
sample messages changed at random, give a result, NeedMore or ParseError, nothing else.

Bounded (EXAMPLES inputs a parser, derandomized so the suite is the same every run);
benchmarks/fuzz_campaign.py runs a million inputs a parser (figures: docs/fuzzing.md).
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.protocols.fuzz_targets import BY_NAME, TARGETS, Target, mutate, run_one

EXAMPLES = 120
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def inputs(target: Target) -> st.SearchStrategy[bytes]:
    """Arbitrary bytes, or one of the target's seeds mutated (hypothesis drives the edits)."""
    mutated = st.randoms(use_true_random=False).map(
        lambda rng: mutate(rng, target.seeds))  # type: ignore[arg-type]
    return st.one_of(st.binary(max_size=600), mutated, st.sampled_from(target.seeds))


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_a_parser_answers_or_declines(target: Target) -> None:
    @SETTINGS
    @given(data=inputs(target))
    def check(data: bytes) -> None:
        run_one(target, data)  # anything but a result, NeedMore or ParseError fails here

    check()


# Inputs the campaign found that broke a parser's contract, kept once fixed.
FOUND = [
    # a bind whose first context is cut inside its UUID: uuid.UUID raised ValueError
    ("dcerpc.parse_co", "05000b03100000002000000002000000b810b810000000000100ffe11f5dc911"),
]


@pytest.mark.parametrize(("name", "hex_input"), FOUND)
def test_inputs_the_campaign_found(name: str, hex_input: str) -> None:
    run_one(BY_NAME[name], bytes.fromhex(hex_input))


def test_the_mutator_is_deterministic_per_seed() -> None:
    seeds = [b"hello world", b"\x00\x01\x02"]
    a = [mutate(random.Random(7), seeds) for _ in range(5)]
    b = [mutate(random.Random(7), seeds) for _ in range(5)]
    assert a == b
