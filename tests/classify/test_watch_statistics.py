"""The statistical layer inside `probescan watch`, and `probescan profiles`: trained on a
capture made here, it names the flows of a headers-only copy of another."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from probescan.cli.main import main
from probescan.schema import FLOW, mismatches
from tests.classify.synthetic import headers_only, write_capture


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("stat")
    write_capture(d / "train.pcap", seed=1)
    write_capture(d / "test.pcap", seed=2, port0=50000, ssh_port=443)
    headers_only(d / "test.pcap", d / "test-headers.pcap")
    assert main(["profiles", "train", str(d / "train.pcap"), "-o", str(d / "p.toml")]) == 0
    return d


def watch(work: Path, capture: str, *extra: str) -> list[dict[str, Any]]:
    out = work / (capture + ".jsonl")
    out.unlink(missing_ok=True)
    assert main(["watch", "-r", str(work / capture), "--no-probe", "-q", "-o", str(out),
                 "--profiles", str(work / "p.toml"), *extra]) == 0
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_profiles_are_learnt_from_what_the_payload_named(work: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles", "show", str(work / "p.toml")]) == 0
    shown = capsys.readouterr().out
    assert "http " in shown and "ssh " in shown and "6 flow(s)" in shown


def test_headers_only_flows_are_named_by_their_behaviour(work: Path) -> None:
    records = watch(work, "test-headers.pcap")
    assert len(records) == 12
    for r in records:
        assert mismatches(FLOW, r) == []
        assert r["method"] == "statistical" and r["decided_by"] == "statistics"
        assert r["passive"]["client_raw"] == "" and 1 <= r["confidence"] <= 5
        stat = r["behaviour"]["statistical"]
        assert stat["named"] and stat["profile"] == r["service"] and stat["example"]
    by_port = {r["server"]["port"]: r for r in records}
    assert by_port[80]["service"] == "http" and by_port[443]["service"] == "ssh"
    # the port was never read: SSH on 443 is an anomaly like any other
    assert by_port[443]["anomalies"] == ["ssh on 443/tcp (usually https)"]
    assert by_port[443]["behaviour"]["class"] == "chatter"
    # the six flows to each server endpoint are decided with those before them
    for port in (80, 443):
        pooled = sorted((r["first_seen"], r["behaviour"]["statistical"]["pooled"])
                        for r in records if r["server"]["port"] == port)
        assert [n for _, n in pooled] == [0, 1, 2, 3, 4, 5]
    assert "with 5 earlier flows of this endpoint" in max(
        records, key=lambda r: float(r["first_seen"]))["info"]


def test_a_statistical_label_never_replaces_a_payload_label(work: Path) -> None:
    with_stats = watch(work, "test.pcap")
    without = watch(work, "test.pcap", "--classifiers", "rules,parsers")
    assert [(r["service"], r["method"], r["decided_by"]) for r in with_stats] == [
        (r["service"], r["method"], r["decided_by"]) for r in without]
    assert {r["decided_by"] for r in with_stats} == {"rules"}
    assert all(r["behaviour"]["statistical"] is None for r in with_stats)


def test_the_layers_are_selectable(work: Path) -> None:
    only_stats = watch(work, "test.pcap", "--classifiers", "statistics")
    assert {(r["server"]["port"], r["service"], r["decided_by"]) for r in only_stats} == {
        (443, "ssh", "statistics"), (80, "http", "statistics")}
    only_parsers = watch(work, "test.pcap", "--classifiers", "parsers")
    assert {r["decided_by"] for r in only_parsers} == {"parsers"}
    nothing = watch(work, "test-headers.pcap", "--classifiers", "rules,parsers")
    assert {(r["service"], r["decided_by"]) for r in nothing} == {("unknown", None)}


@pytest.mark.parametrize(("argv", "message"), [
    (["watch", "-r", "X", "--classifiers", "rules,port"], "unknown layer 'port'"),
    (["watch", "-r", "X", "--profiles", "/nonexistent.toml"], "cannot read profiles"),
    (["profiles", "train", "/nonexistent.pcap", "-o", "/tmp/x.toml"], "cannot read capture"),
    (["profiles", "show", "/nonexistent.toml"], "cannot read profiles"),
])
def test_bad_input_is_one_line(work: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                               message: str) -> None:
    argv = [a.replace("X", str(work / "test.pcap")) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_damaged_capture_stops_training_unless_skipped(work: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    bad = work / "bad.pcap"
    bad.write_bytes(b"\xd4\xc3\xb2\xa1" + bytes(20) + b"\xff" * 20)
    assert main(["profiles", "train", str(bad), "-o", str(work / "q.toml")]) == 2
    assert main(["profiles", "train", str(bad), str(work / "train.pcap"), "--skip-bad",
                 "-o", str(work / "q.toml")]) == 0
    assert "skipped" in capsys.readouterr().err


def test_training_without_scikit_learn_is_one_line(work: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn raises ImportError
    monkeypatch.setitem(sys.modules, "sklearn.ensemble", None)
    assert main(["profiles", "train", str(work / "train.pcap"), "-o",
                 str(work / "r.toml")]) == 2
    err = capsys.readouterr().err
    assert "scikit-learn" in err and "probescan[train]" in err and err.count("\n") == 1
    # reading profiles and classifying need no scikit-learn
    assert watch(work, "test-headers.pcap")[0]["method"] == "statistical"
