"""The rules cache (probescan/catalog/cache.py): reused while current, rebuilt when a source,
the intensity or the cache's trust changes, a damaged file ignored with one warning."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from probescan.catalog import cache
from probescan.catalog.cache import (
    cache_dir,
    load_fingerprints_cached,
    load_nmap_db_cached,
)
from probescan.catalog.fingerprints import load_fingerprints
from probescan.catalog.nmap import LazyPattern, convert, load_nmap_db
from probescan.match import match_response
from tests.catalog.test_nmap import write


def _never(*_a: object, **_k: object) -> object:
    raise AssertionError("rebuilt although the cache is current")


def _summary(loaded: tuple[object, ...]) -> tuple[object, ...]:
    probes, fps, stats = loaded  # type: ignore[misc]
    rules = [(r.id, r.service, r.pattern.pattern, r.probes, r.soft, r.priority, r.templates,
              r.cpe, r.first) for r in fps.rules]
    return (probes, rules, fps.problems, stats.match_rules, stats.fallback_rules,
            stats.skipped_rules, stats.exclude_tcp)


def test_cached_nmap_rules_equal_a_fresh_conversion_and_are_reused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db, store = write(tmp_path), tmp_path / "cache"
    fresh = load_nmap_db(db, 9)
    first = load_nmap_db_cached(db, 9, store)
    assert _summary(first) == _summary(fresh)
    assert len(list(store.glob("nmap-rules-*.pickle"))) == 1
    monkeypatch.setattr(convert, "load_nmap_db", _never)
    again = load_nmap_db_cached(db, 9, store)
    assert _summary(again) == _summary(fresh)
    assert all(isinstance(r.pattern, LazyPattern) for r in again[1].rules)
    m = match_response(again[1], "nmap:NULL", b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
    assert m is not None and (m.product, m.version) == ("OpenSSH", "9.2p1")


def test_a_changed_file_or_intensity_is_converted_again(tmp_path: Path) -> None:
    db, store = write(tmp_path), tmp_path / "cache"
    load_nmap_db_cached(db, 9, store)
    assert len(load_nmap_db_cached(db, 3, store)[0].probes) < len(load_nmap_db(db, 9)[0].probes)
    with db.open("a", encoding="utf-8") as f:
        f.write("\nProbe TCP Extra q|X|\nrarity 2\nmatch extra m|^extra| p/Extra/\n")
    probes, fps, _ = load_nmap_db_cached(db, 9, store)
    assert any(p.name == "nmap:Extra" for p in probes.probes)
    assert any(r.service == "extra" for r in fps.rules)
    stamp = os.stat(db)
    os.utime(db, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 10**9))  # same size, newer
    assert _summary(load_nmap_db_cached(db, 9, store)) == _summary(load_nmap_db(db, 9))


def test_a_changed_converter_invalidates_the_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db, store = write(tmp_path), tmp_path / "cache"
    load_nmap_db_cached(db, 9, store)
    monkeypatch.setattr(cache, "_code_digest", lambda: "another converter")
    calls: list[int] = []
    real = convert.load_nmap_db

    def counting(path: Path, intensity: int) -> object:
        calls.append(intensity)
        return real(path, intensity)

    monkeypatch.setattr(convert, "load_nmap_db", counting)
    load_nmap_db_cached(db, 9, store)
    assert calls == [9]


@pytest.mark.parametrize("damage", ["empty", "garbage", "truncated"])
def test_a_damaged_cache_is_ignored_with_one_warning_and_replaced(
        tmp_path: Path, damage: str, capsys: pytest.CaptureFixture[str]) -> None:
    db, store = write(tmp_path), tmp_path / "cache"
    load_nmap_db_cached(db, 9, store)
    (file,) = store.glob("nmap-rules-*.pickle")
    good = file.read_bytes()
    file.write_bytes({"empty": b"", "garbage": b"not a pickle at all",
                      "truncated": good[: len(good) // 2]}[damage])
    got = load_nmap_db_cached(db, 9, store)
    assert _summary(got) == _summary(load_nmap_db(db, 9))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ignoring the cache file" in err[0] and str(file) in err[0]
    load_nmap_db_cached(db, 9, store)  # replaced: read again without a word
    assert capsys.readouterr().err == ""


def test_a_cache_file_others_may_write_is_not_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db, store = write(tmp_path), tmp_path / "cache"
    load_nmap_db_cached(db, 9, store)
    (file,) = store.glob("nmap-rules-*.pickle")
    file.chmod(0o666)
    monkeypatch.setattr(pickle, "load", _never)  # never unpickled
    monkeypatch.setattr(cache, "_write", lambda *a: None)
    load_nmap_db_cached(db, 9, store)
    assert "writable by others" in capsys.readouterr().err


def test_an_unwritable_cache_folder_only_means_no_cache(tmp_path: Path) -> None:
    db = write(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    got = load_nmap_db_cached(db, 9, blocker / "cache")  # cannot be created
    assert _summary(got) == _summary(load_nmap_db(db, 9))


def test_the_cache_folder_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "probescan"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert cache_dir() == Path.home() / ".cache" / "probescan"


def test_our_fingerprints_cached_match_like_the_compiled_ones(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = load_fingerprints()
    load_fingerprints_cached(tmp_path)
    monkeypatch.setattr(cache, "load_fingerprints", _never)
    cached = load_fingerprints_cached(tmp_path)
    assert [r.id for r in cached.rules] == [r.id for r in fresh.rules]
    assert all(isinstance(r.pattern, LazyPattern) for r in cached.rules)
    for rule in fresh.rules[:: max(1, len(fresh.rules) // 60)]:
        for ex in rule.examples:
            probe = ex.probe or next(iter(sorted(rule.probes or {"null"})))
            a = match_response(fresh, probe, ex.data)
            b = match_response(cached, probe, ex.data)
            assert a == b, rule.id
