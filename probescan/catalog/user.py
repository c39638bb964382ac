"""Users' own rules: probe and fingerprint files beside the shipped ones, without editing the
installed package (docs/fingerprint-format.md, "Your own rules").

* `--probes PATH` and `--fingerprints PATH` (scan, watch): a TOML file or a folder of them,
  repeatable;
* the user folder, read by default: `$XDG_CONFIG_HOME/probescan/` (`~/.config/probescan/`
  without XDG_CONFIG_HOME), its `probes/*.toml` and `fingerprints/*.toml`.

Users' rules run before the shipped ones of the same priority, and a user's rule or probe
with the id (name) of a shipped one replaces it. Their evidence names them `user:<file>`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from probescan.catalog.fingerprints import FingerprintSet, load_fingerprints
from probescan.catalog.probes import ProbeSet, load_probes

USER_ORIGIN = "user"


class RulePathError(ValueError):
    """A rule path that is neither a file nor a folder: one line for the user."""


def user_dir(environ: dict[str, str] | None = None) -> Path:
    """`$XDG_CONFIG_HOME/probescan`, else `~/.config/probescan`."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "probescan"


def toml_files(paths: Iterable[Path], option: str) -> list[Path]:
    """The files named, and the `*.toml` of the folders named, in the order given (a folder's
    files in name order), each once. A path that does not exist raises RulePathError."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.glob("*.toml") if p.is_file())
        elif path.is_file():
            found = [path]
        else:
            raise RulePathError(f"{option} '{path}': no such file or folder")
        out += [p for p in found if p not in out]
    return out


@dataclass(frozen=True, slots=True)
class RuleFiles:
    """Where a run's own rules come from (each list: files, in order)."""

    probes: tuple[Path, ...] = ()
    fingerprints: tuple[Path, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.probes or self.fingerprints)


def rule_files(probes: Sequence[Path] = (), fingerprints: Sequence[Path] = (),
               folder: Path | None = None) -> RuleFiles:
    """The user folder's files (when `folder` is given and exists), then those named."""
    p: list[Path] = []
    f: list[Path] = []
    if folder is not None:
        if (folder / "probes").is_dir():
            p += toml_files([folder / "probes"], "user folder")
        if (folder / "fingerprints").is_dir():
            f += toml_files([folder / "fingerprints"], "user folder")
    p += [x for x in toml_files(probes, "--probes") if x not in p]
    f += [x for x in toml_files(fingerprints, "--fingerprints") if x not in f]
    return RuleFiles(tuple(p), tuple(f))


def with_user_rules(probes: ProbeSet, fingerprints: FingerprintSet, files: RuleFiles
                    ) -> tuple[ProbeSet, FingerprintSet]:
    """The shipped probes and rules with the user's: a user's probe (transport, name) or rule
    id replaces the shipped one; users' rules come first at the same priority. Problems in
    the user's files join the others'."""
    if files.empty:
        return probes, fingerprints
    mine_p = load_probes(files.probes, origin=USER_ORIGIN)
    mine_f = load_fingerprints(files.fingerprints, origin=USER_ORIGIN)
    taken = {(p.transport, p.name) for p in mine_p.probes}
    ids = {r.id for r in mine_f.rules}
    kept_p = tuple(p for p in probes.probes if (p.transport, p.name) not in taken)
    kept_f = FingerprintSet(tuple(r for r in fingerprints.rules if r.id not in ids),
                            fingerprints.problems)
    return (ProbeSet(mine_p.probes + kept_p, mine_p.problems + probes.problems),
            mine_f.merged(kept_f))
