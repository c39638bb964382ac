"""Behaviour signatures (classify/signatures.py): the shipped file's examples, the matching
rules, and bad files refused with one `file:line: why` line."""

from __future__ import annotations

from pathlib import Path

import pytest

from probescan.classify.signatures import (
    MAX_CONFIDENCE,
    Signature,
    SignatureError,
    SignatureSet,
    build,
    example_behaviour,
    load,
    match,
    parse_sizes,
)
from probescan.cli.profiles import shipped_profile_files, shipped_signature_files
from probescan.detect.registry import DETECTORS

SHIPPED = load(shipped_signature_files())


def test_the_shipped_signatures_load_and_stay_below_payload_evidence() -> None:
    assert [p.name for p in shipped_signature_files()] == ["signatures.toml"]
    assert all(p.name != "signatures.toml" for p in shipped_profile_files())
    assert len(SHIPPED.signatures) >= 10
    for s in SHIPPED.signatures:
        assert 1 <= s.confidence <= MAX_CONFIDENCE and s.spec and s.examples


def test_the_shipped_signatures_name_services_the_payload_layers_name() -> None:
    emitted = {d.name for d in DETECTORS} | {"mdns", "llmnr"}
    assert {s.service for s in SHIPPED.signatures} <= emitted


@pytest.mark.parametrize("sig", SHIPPED.signatures, ids=lambda s: s.name)
def test_every_example_matches_and_no_counter_example_does(sig: Signature) -> None:
    for e in sig.examples:
        b = example_behaviour(sig.transport, e.sizes)
        assert sig.matches(b, e.to, e.sender), e
        # the file is tried in order: an example is named by its own signature's service
        found = match(SHIPPED, b, e.to, e.sender)
        assert found is not None and found.service == sig.service, (e, found)
    for e in sig.counter:
        assert not sig.matches(example_behaviour(sig.transport, e.sizes), e.to, e.sender), e


def test_a_group_the_flow_table_made_the_client_still_matches() -> None:
    mdns = next(s for s in SHIPPED.signatures if s.service == "mdns")
    # a responder's datagrams, with roles from the ports: the group is the "client"
    b = example_behaviour("udp", (-40, -60))
    assert mdns.matches(b, "192.168.1.5", "224.0.0.251")
    assert mdns.matches(example_behaviour("udp", (40,)), "FF02:0:0:0:0:0:0:FB%eth0", "fe80::1")
    assert not mdns.matches(example_behaviour("udp", (40,)), "192.168.1.5", "192.168.1.6")
    assert not mdns.matches(example_behaviour("tcp", (40,)), "224.0.0.251", "192.168.1.6")


def test_broadcast_means_the_limited_or_a_dot_255_address() -> None:
    nbns = next(s for s in SHIPPED.signatures if s.service == "netbios-ns")
    for to in ("255.255.255.255", "10.0.2.255", "192.168.255.255"):
        assert nbns.matches(example_behaviour("udp", (50,)), to, "10.0.2.15")
    assert not nbns.matches(example_behaviour("udp", (50,)), "10.0.2.254", "10.0.2.15")


def test_no_payload_packet_matches_nothing() -> None:
    assert SHIPPED.match(example_behaviour("udp", ()), "224.0.0.251", "10.0.0.1") is None


@pytest.mark.parametrize(("text", "inside", "outside"), [
    ("148", [148], [147, 149]),
    ("92,64", [92, 64], [78]),
    ("1200-", [1200, 9000], [1199]),
    ("4-516", [4, 100, 516], [3, 517]),
    ("32+16n", [32, 48, 1456], [16, 40]),
])
def test_sizes(text: str, inside: list[int], outside: list[int]) -> None:
    s = parse_sizes(text)
    assert all(n in s for n in inside) and not any(n in s for n in outside)


@pytest.mark.parametrize("text", ["", "x", "5-3", "-4", "10+0n", "70000", "1,,2"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(ValueError, match="sizes"):
        parse_sizes(text)


GOOD = """
[[signature]]
name = "x"
service = "wireguard"
transport = "udp"
spec = "a paper"
confidence = 4
start = ["c 148", "s 92"]
examples = [{ sizes = [148, -92] }]
"""


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


def test_a_good_file_loads(tmp_path: Path) -> None:
    sigs = load([_file(tmp_path, GOOD)])
    assert isinstance(sigs, SignatureSet) and [s.name for s in sigs.signatures] == ["x"]
    assert sigs.signatures[0].line == 2


@pytest.mark.parametrize(("text", "line", "why"), [
    (GOOD[:60], 1, "TOML syntax"),  # truncated (tomllib: "at end of document")
    ("\x00\x01garbage ][", 1, "TOML syntax"),
    ("", 1, "no [[signature]] tables"),
    ("[signature]\nname = 1\n", 1, "must be [[signature]] tables"),
    (GOOD.replace("confidence = 4", "confidence = 7"), 2, "confidence must be an integer"),
    (GOOD.replace("confidence = 4", "confidence = 4.0"), 2, "confidence must be an integer"),
    (GOOD.replace('transport = "udp"', 'transport = "sctp"'), 2, "transport must be"),
    (GOOD.replace('"s 92"', '"s 9x"'), 2, "is not N, N-M"),
    (GOOD.replace('"s 92"', '"x 92"'), 2, "must be \"c SIZES\""),
    (GOOD.replace("[148, -92]", "[148, -93]"), 2, "does not match"),
    (GOOD.replace("[148, -92]", "[0]"), 2, "non-zero integers"),
    (GOOD + 'counter = [{ sizes = [148, -92] }]\n', 2, "counter-example"),
    (GOOD.replace("examples = [{ sizes = [148, -92] }]", ""), 2, "at least one example"),
    (GOOD.replace('start = ["c 148", "s 92"]', 'to = ["224.0.0.999"]'), 2, "not an address"),
    (GOOD.replace('start = ["c 148", "s 92"]', ""), 2, "needs `to`"),
    (GOOD + "colour = 1\n", 2, "unknown key(s) colour"),
    (GOOD + GOOD, 11, "name 'x' given twice"),
    (GOOD.replace('spec = "a paper"', 'spec = ""'), 2, "spec must be"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 40 else None)
def test_a_bad_file_is_one_line_naming_file_and_line(tmp_path: Path, text: str, line: int,
                                                     why: str) -> None:
    path = _file(tmp_path, text)
    with pytest.raises(SignatureError) as err:
        load([path])
    message = str(err.value)
    assert message.startswith(f"{path}:{line}: ") and why in message and "\n" not in message


def test_build_checks_the_examples() -> None:
    table = {"name": "n", "service": "ntp", "transport": "udp", "spec": "RFC 5905",
             "confidence": 3, "start": ["c 48", "s 48"], "examples": [{"sizes": [48, -48]}]}
    assert build(table, 1).service == "ntp"
    with pytest.raises(ValueError, match="does not match"):
        build({**table, "examples": [{"sizes": [48]}]}, 1)
