"""Property tests of every loader in probescan/catalog: arbitrary bytes, generated TOML (any
key, any type: huge integers, inf, nan, deep lists) and the shipped files changed at random
give rules and `file:line: why` problems, never an exception; nmap's format, its PCRE
patterns, templates and payload escapes give a result or their documented ValueError.

Bounded and derandomized (the same inputs every run). The port table (catalog/ports.py) is
read from the shipped file only and is not fuzzed here.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import tempfile
from pathlib import Path
from typing import Any

import regex
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probescan.catalog.fingerprints import load_fingerprint_file
from probescan.catalog.nmap.convert import load_nmap_db
from probescan.catalog.nmap.parse import RawRule, parse_rule, read_nmap_file, unescape_payload
from probescan.catalog.nmap.pcre import pcre_to_regex
from probescan.catalog.paths import data_dir
from probescan.catalog.prefilter import analyse
from probescan.catalog.probes import load_probe_file
from probescan.catalog.problems import Problem
from probescan.catalog.templates import check_template, render
from tests.catalog.test_nmap import DB, SSH_RULE
from tests.protocols.fuzz_targets import mutate

SETTINGS = settings(max_examples=100, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
FINGERPRINT_KEYS = ["id", "service", "pattern", "flags", "probes", "soft", "priority", "cpe",
                    "product", "version", "info", "hostname", "os", "device", "description"]
EXAMPLE_KEYS = ["text", "hex", "probe", "service", "cpe", "product", "version"]
PROBE_KEYS = ["name", "transport", "payload", "payload_hex", "ports", "tls_ports", "rarity",
              "wait_ms", "services", "description", "tls", "reply_from_any_port"]
SHIPPED = [data_dir("fingerprints") / "ssh.toml", data_dir("fingerprints") / "http.toml",
           data_dir("probes") / "binary.toml", data_dir("probes") / "udp.toml"]


# ---- TOML built from any values -------------------------------------------------------------
def toml_str(text: str) -> str:
    """A TOML basic string (JSON's escapes, minus the surrogate pairs TOML refuses)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) \
            else repr(v)
    if isinstance(v, str):
        return toml_str(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{toml_str(k)} = {toml_value(x)}" for k, x in v.items()) + "}"


scalars = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1), st.sampled_from([0, 1, -1, 65536]),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=30),
    st.sampled_from(["1-300000000", "0-65535", "70000", "a-b", "5-1", "^(a+)+$", "$1",
                     "(" * 50, "$SUBST(1,\"a\",\"b\")", "null", "ff00"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=12)


def table(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.one_of(st.sampled_from(keys), st.text("abcxyz_", min_size=1,
                                                                   max_size=6)),
                           values, max_size=len(keys))


@st.composite
def toml_documents(draw: st.DrawFn, header: str, keys: list[str]) -> str:
    lines: list[str] = []
    for _ in range(draw(st.integers(0, 3))):
        lines.append(f"[[{header}]]")
        lines += [f"{toml_str(k)} = {toml_value(v)}" for k, v in draw(table(keys)).items()]
        if header == "fingerprint":
            for _ in range(draw(st.integers(0, 2))):
                lines.append("[[fingerprint.examples]]")
                lines += [f"{toml_str(k)} = {toml_value(v)}"
                          for k, v in draw(table(EXAMPLE_KEYS)).items()]
    return "\n".join(lines) + "\n"


def mutated_file(rng: random.Random) -> bytes:
    return mutate(rng, [p.read_bytes() for p in SHIPPED], max_len=1 << 20)


def load_both(content: bytes) -> None:
    """Both loaders over one file's content: lists and Problems, never an exception."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "x.toml"
        path.write_bytes(content)
        for load in (load_probe_file, load_fingerprint_file):
            built, problems = load(path)  # type: ignore[operator]
            assert isinstance(built, list)
            assert all(isinstance(p, Problem) and p.line >= 1 for p in problems)


@SETTINGS
@given(st.binary(max_size=2000))
def test_loaders_take_arbitrary_bytes(content: bytes) -> None:
    load_both(content)


@SETTINGS
@given(st.one_of(toml_documents("fingerprint", FINGERPRINT_KEYS),
                 toml_documents("probe", PROBE_KEYS)))
def test_loaders_take_any_toml(text: str) -> None:
    load_both(text.encode("utf-8", "surrogatepass"))


@SETTINGS
@given(st.randoms(use_true_random=False))
def test_loaders_take_the_shipped_files_changed_at_random(rng: random.Random) -> None:
    load_both(mutated_file(rng))


# ---- nmap's format ----------------------------------------------------------------------
NMAP_SEED = DB.replace("@SSH@", SSH_RULE)


@SETTINGS
@given(st.one_of(st.text(max_size=800), st.randoms(use_true_random=False).map(
    lambda rng: mutate(rng, [NMAP_SEED.encode("latin-1")]).decode("latin-1"))))
def test_nmap_reader_takes_any_text(text: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "nmap-service-probes"
        path.write_bytes(text.encode("latin-1", "replace"))
        read_nmap_file(path)
        probes, rules, stats = load_nmap_db(path, intensity=9, compile_patterns=True)
        assert stats.skipped_rules >= 0 and isinstance(rules.rules, tuple)
        assert isinstance(probes.probes, tuple)


@SETTINGS
@given(st.one_of(st.text(max_size=200), st.sampled_from(SSH_RULE.split(" ", 1)[1:]).flatmap(
    lambda rule: st.randoms(use_true_random=False).map(
        lambda rng: mutate(rng, [rule.encode()]).decode("latin-1")))))
def test_nmap_rules_patterns_and_payloads_give_a_result_or_a_value_error(text: str) -> None:
    for call in (lambda: parse_rule(RawRule(1, False, text)), lambda: pcre_to_regex(text),
                 lambda: unescape_payload(text)):
        with contextlib.suppress(ValueError):
            call()


# ---- patterns and templates ---------------------------------------------------------------
PATTERNS = [r"^SSH-([\d.]+)-OpenSSH_(\S+)", r"^HTTP/1\.[01] \d{3}.*\r\nServer: ([^\r\n]+)",
            r"(?i)^\+OK (?:POP3|Dovecot) ready", r"^..PS[\x80-\xff].{9}\x07version"]


@SETTINGS
@given(st.one_of(st.text(max_size=100), st.randoms(use_true_random=False).map(
    lambda rng: mutate(rng, [p.encode() for p in PATTERNS]).decode("latin-1"))),
    st.booleans(), st.booleans())
def test_prefilter_analysis_of_any_compilable_pattern(pattern: str, icase: bool,
                                                      multiline: bool) -> None:
    try:
        regex.compile(pattern, regex.VERSION0)
    except (regex.error, RecursionError, OverflowError, ValueError, IndexError):
        return  # the loader refuses it before any analysis
    checks = analyse(pattern, icase, multiline)
    assert checks.min_length >= 0


@SETTINGS
@given(st.text(max_size=60), st.lists(st.one_of(st.none(), st.text(max_size=20)), max_size=4),
       st.integers(0, 12))
def test_templates_render_anything_and_check_with_a_value_error(
        template: str, groups: list[str | None], count: int) -> None:
    latin = [g.encode("latin-1", "replace").decode("latin-1") if g else g for g in groups]
    assert isinstance(render(template, latin), str)
    with contextlib.suppress(ValueError):
        check_template(template, count, "product")
