"""nmap's flags on `probescan scan` (cli/nmapflags.py): times with units, -T0..-T5 onto
probescan's limits, the flags it maps, and those it refuses in one line."""

from __future__ import annotations

import pytest

from probescan.cli.main import build_parser
from probescan.cli.nmapflags import TIMINGS, check_argv, duration, scan_config, timing
from probescan.config import Config


def config(*argv: str) -> Config:
    return scan_config(build_parser().parse_args(["scan", *argv, "127.0.80.1"]))


@pytest.mark.parametrize(("text", "secs"), [
    ("500ms", 0.5), ("10s", 10.0), ("2m", 120.0), ("1h", 3600.0), ("1.5", 1.5), ("2M", 120.0),
])
def test_times_with_units(text: str, secs: float) -> None:
    assert duration(text) == pytest.approx(secs)


@pytest.mark.parametrize("text", ["", "10x", "-1s", "0", "inf", "nan", "s", "1e999"])
def test_bad_times(text: str) -> None:
    with pytest.raises(ValueError):
        duration(text)


def test_timing_templates_by_number_and_name() -> None:
    assert timing("4") is timing("aggressive") is TIMINGS[4]
    with pytest.raises(ValueError):
        timing("9")


def test_t3_is_the_defaults_and_explicit_options_win() -> None:
    defaults = Config()
    assert config() == config("-T3") == config("-T", "normal") == defaults
    t5 = config("-T5")
    assert (t5.concurrency, t5.connect_timeout, t5.retries) == (2048, 0.5, 0)
    t0 = config("-T0")
    assert (t0.concurrency, t0.per_host, t0.parallel_probes) == (1, 1, 1)
    assert t0.rate == pytest.approx(1 / 300)
    mixed = config("--host-timeout", "30s", "-T4", "--retries", "3")
    assert (mixed.endpoint_budget, mixed.retries, mixed.concurrency) == (30.0, 3, 1024)


def test_the_flags_that_map_onto_probescans_own() -> None:
    assert config("--version-all").intensity == 9
    assert config("--version-light").intensity == 2
    assert config("--max-retries", "4").retries == 4
    assert config("--max-rate", "50").rate == 50
    assert config("--min-rate", "2000").concurrency == 2000
    assert config("-T1", "--min-rate", "10").rate == 0  # the template's pace gives way
    assert config("-sn").version_scan is False
    assert config("-sV", "-Pn", "-n", "-6", "-A", "--open").version_scan is True
    assert config("--connect-timeout", "250ms").connect_timeout == 0.25


@pytest.mark.parametrize(("argv", "said"), [
    (["--rate", "5", "--max-rate", "6"], "give --rate or --max-rate, not both"),
    (["--version-all", "--version-light"], "give --version-all or --version-light"),
    (["--open", "--all-states"], "give --open or --all-states, not both"),
    (["-sV", "--no-version"], "give -sV or --no-version, not both"),
    (["--min-rate", "10", "--max-rate", "5"], "--min-rate 10 is above --max-rate 5"),
    (["--concurrency", "0"], "--concurrency must be at least 1"),
])
def test_conflicts_are_refused(argv: list[str], said: str) -> None:
    with pytest.raises(ValueError, match=said):
        config(*argv)


@pytest.mark.parametrize(("token", "said"), [
    ("-O", "OS detection"), ("--script=vuln", "NSE scripts"),
    ("--script-args", "NSE scripts"), ("-sC", "NSE scripts"), ("-PS22,80", "ping"),
    ("-sA", "-sA scans"), ("--traceroute", "trace routes"), ("-D", "decoys"),
    ("-oS", "not an output"), ("-oNscan.txt", "write -oN FILE, with a space"),
])
def test_what_probescan_does_not_do_is_refused_in_one_line(token: str, said: str) -> None:
    with pytest.raises(ValueError, match=said) as info:
        check_argv(["127.0.80.1", token])
    assert "\n" not in str(info.value)


def test_values_after_dashdash_and_output_flags_pass() -> None:
    check_argv(["-oN", "x", "-oG", "-", "-oA", "base", "-oX", "y", "-o", "N", "-p", "-1024"])
    check_argv(["--", "-O"])


def test_port_specs_that_look_like_negative_numbers_stay_values() -> None:
    args = build_parser().parse_args(["scan", "-p", "-1024", "-6", "127.0.80.1"])
    assert (args.ports, args.ipv6) == ("-1024", True)
