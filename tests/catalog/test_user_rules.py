"""Users' own rules (catalog/user.py) and `probescan fingerprints check`, which runs every
example: it must match, by its own rule first, with the fields it states (file:line: why)."""

from __future__ import annotations

from pathlib import Path

import pytest

from probescan.catalog import CatalogError, build_catalog, load_fingerprints, load_probes
from probescan.catalog.user import (
    RuleFiles,
    RulePathError,
    rule_files,
    toml_files,
    user_dir,
    with_user_rules,
)
from probescan.cli import main
from probescan.match import match_response

ACME = '''
[[fingerprint]]
id = "my.acme"
service = "acme"
pattern = '^ACME (\\d+\\.\\d+)'
product = "Acme server"
version = "$1"

  [[fingerprint.examples]]
  text = "ACME 1.2 ready\\r\\n"
  version = "{version}"
'''
BROAD = '''
[[fingerprint]]
id = "my.acme-any"
service = "acme"
pattern = '^ACME'
priority = 5

  [[fingerprint.examples]]
  text = "ACME 2.0\\r\\n"
'''
NO_MATCH = '''
[[fingerprint]]
id = "my.widget"
service = "widget"
pattern = '^WIDGET v(\\d+)'
version = "$1"

  [[fingerprint.examples]]
  text = "WIDGET v7\\n"
  version = "7"

  [[fingerprint.examples]]
  text = "GADGET v7\\n"
'''
# The shipped OpenSSH rule's id, taken over by a user's rule.
OVERRIDE = '''
[[fingerprint]]
id = "ssh.openssh"
service = "ssh"
pattern = '^SSH-2\\.0-OpenSSH_(\\S+)'
product = "my OpenSSH"
version = "$1"

  [[fingerprint.examples]]
  text = "SSH-2.0-OpenSSH_9.2p1\\r\\n"
  product = "my OpenSSH"
  version = "9.2p1"
'''
PROBE = '''
[[probe]]
name = "widget-hello"
payload = "HELLO\\r\\n"
ports = [7777]
rarity = 3
'''


def folder(tmp_path: Path, **files: str) -> Path:
    """A rules folder: `fp_NAME` files go to fingerprints/, `probe_NAME` to probes/."""
    for name, text in files.items():
        kind, _, stem = name.partition("_")
        sub = tmp_path / ("fingerprints" if kind == "fp" else "probes")
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{stem}.toml").write_text(text)
    return tmp_path


def test_user_dir_follows_xdg() -> None:
    assert user_dir({"XDG_CONFIG_HOME": "/x"}) == Path("/x/probescan")
    assert user_dir({"HOME": "/home/u"}) == Path("/home/u/.config/probescan")


def test_files_and_folders_in_order_each_once(tmp_path: Path) -> None:
    d = folder(tmp_path, fp_b=ACME.format(version="1.2"), fp_a=BROAD)
    one = d / "fingerprints" / "b.toml"
    got = toml_files([one, d / "fingerprints"], "--fingerprints")
    assert got == [one, d / "fingerprints" / "a.toml"]
    with pytest.raises(RulePathError, match=r"--fingerprints '.*nothing': no such file"):
        toml_files([tmp_path / "nothing"], "--fingerprints")


def test_user_rules_come_first_and_replace_shipped_ids(tmp_path: Path) -> None:
    d = folder(tmp_path, fp_mine=OVERRIDE + NO_MATCH, probe_widget=PROBE)
    probes, fps = with_user_rules(load_probes(), load_fingerprints(), rule_files(folder=d))
    assert [r.source for r in fps.rules if r.id == "ssh.openssh"] == ["user:mine.toml"]
    m = match_response(fps, "null", b"SSH-2.0-OpenSSH_9.2p1\r\n")
    assert m is not None and m.product == "my OpenSSH"
    widget = probes.by_name("widget-hello")
    assert widget is not None and widget.source == "user:widget.toml"
    catalog = build_catalog(None, RuleFiles(probes=(d / "probes" / "widget.toml",)))
    assert catalog.probes.by_name("widget-hello") is not None


def test_check_runs_every_example_and_names_file_and_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = folder(tmp_path, fp_my=ACME.format(version="1.3") + BROAD + NO_MATCH)
    assert main(["fingerprints", "check", str(d)]) == 1
    out = capsys.readouterr().out.splitlines()
    path = str(d / "fingerprints" / "my.toml")
    assert out == [
        f"{path}:9: example 1 of 'my.acme': version is '1.2', the example says '1.3'",
        f"{path}:19: example 1 of 'my.acme-any' is claimed first by rule 'my.acme' "
        "(user:my.toml, line 2)",
        f"{path}:32: example 2 of 'my.widget' does not match (as a reply to probe 'null')",
    ]


def test_check_passes_good_rules_from_a_file_or_the_user_folder(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    d = folder(tmp_path / "cfg" / "probescan", fp_ok=ACME.format(version="1.2"),
               probe_widget=PROBE)
    assert main(["fingerprints", "check", str(d / "fingerprints" / "ok.toml")]) == 0
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert main(["fingerprints", "check"]) == 0
    shipped = len(load_fingerprints().rules)
    last = capsys.readouterr().err.splitlines()[-1]  # the shipped rules and the user's ran
    assert f"{shipped + 1} fingerprint(s) checked" in last, last
    (d / "fingerprints" / "bad.toml").write_text(ACME.format(version="9").replace(
        "my.acme", "my.other"))
    assert main(["fingerprints", "check"]) == 1
    assert "bad.toml:9: example 1 of 'my.other'" in capsys.readouterr().out
    assert main(["fingerprints", "check", "--no-user-rules"]) == 0


def test_check_refuses_a_missing_path(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fingerprints", "check", str(tmp_path / "none.toml")]) == 2
    assert "none.toml': no such file or folder" in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"hello\nworld\n", bytes(range(256)) * 8, b""])
def test_a_garbage_nmap_db_is_refused(tmp_path: Path, content: bytes) -> None:
    db = tmp_path / "nmap-service-probes"
    db.write_bytes(content)
    with pytest.raises(CatalogError, match="not an nmap-service-probes file"):
        build_catalog(db)
