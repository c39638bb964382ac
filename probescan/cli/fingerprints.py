"""`probescan fingerprints check|stats [PATH...]`: check or summarise probe and fingerprint
files. `check` loads each file (its problems as `file:line: why`) and runs every example of
every fingerprint against the rules a scan would use: it must match, by its own rule first,
with the fields it states."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from probescan.catalog import ProbeSet, load_fingerprints, load_probes
from probescan.catalog.examples import check_examples
from probescan.catalog.fingerprints import Fingerprint, load_fingerprint_file
from probescan.catalog.nmap import load_nmap_db
from probescan.catalog.paths import data_dir
from probescan.catalog.user import (
    USER_ORIGIN,
    RuleFiles,
    RulePathError,
    rule_files,
    toml_files,
    user_dir,
    with_user_rules,
)
from probescan.cli.common import InputError


def add_arguments(f: argparse.ArgumentParser) -> None:
    f.add_argument("action", choices=["check", "stats"])
    f.add_argument("paths", nargs="*", type=Path,
                   help="probe and fingerprint files or folders (a folder: its probes/ and "
                   "fingerprints/ if it has them, else its *.toml); default: the shipped "
                   "files and your folder $XDG_CONFIG_HOME/probescan/")
    f.add_argument("--nmap-db", metavar="PATH", type=Path,
                   help="also read this nmap-service-probes file")
    f.add_argument("--no-user-rules", action="store_true",
                   help="without PATH: leave out your folder $XDG_CONFIG_HOME/probescan/")


def is_probe_file(path: Path) -> bool:
    """A file of [[probe]] tables (a probes/ folder's, or one that says so)."""
    if path.parent.name == "probes":
        return True
    try:
        head = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(line.strip().startswith("[[probe]]") for line in head.splitlines())


def named_files(paths: list[Path]) -> RuleFiles:
    """The files the user named: files as they are, folders as the user folder is read (its
    probes/ and fingerprints/) or, without those, their *.toml sorted by what they hold."""
    probes: list[Path] = []
    fps: list[Path] = []
    for path in paths:
        if path.is_dir() and ((path / "probes").is_dir() or (path / "fingerprints").is_dir()):
            got = rule_files(folder=path)
            probes += got.probes
            fps += got.fingerprints
            continue
        try:
            files = toml_files([path], "fingerprints check")
        except RulePathError as e:
            raise InputError(str(e)) from e
        for f in files:
            (probes if is_probe_file(f) else fps).append(f)
    return RuleFiles(tuple(dict.fromkeys(probes)), tuple(dict.fromkeys(fps)))


def run(args: argparse.Namespace) -> int:
    if args.paths:  # the named files: their own problems, their examples
        files = named_files(args.paths)
        checked = list(files.fingerprints)
        mine = (load_probes(files.probes, USER_ORIGIN),
                load_fingerprints(files.fingerprints, USER_ORIGIN))
        problems = [str(p) for p in (*mine[0].problems, *mine[1].problems)]
    else:  # the shipped files and the user folder's
        files = RuleFiles() if args.no_user_rules else rule_files(folder=user_dir())
        checked = [*sorted(data_dir("fingerprints").glob("*.toml")), *files.fingerprints]
        problems = []
    if args.paths and args.action == "stats":  # what the named files hold, alone
        probes, fps = mine
    else:  # what a scan would use: the shipped rules with these
        probes, fps = with_user_rules(load_probes(), load_fingerprints(), files)
    if not args.paths:
        problems = [str(p) for p in (*probes.problems, *fps.problems)]
    if args.nmap_db is not None:
        if not args.nmap_db.is_file():
            raise InputError(f"cannot read nmap database '{args.nmap_db}': no such file")
        nprobes, nrules, stats = load_nmap_db(args.nmap_db, intensity=9,
                                              compile_patterns=args.action == "check")
        if not nprobes.probes and not nrules.rules:
            raise InputError(f"bad nmap database '{args.nmap_db}': no Probe or match line "
                             "(not an nmap-service-probes file)")
        print(stats.summary())
        probes = ProbeSet(probes.probes + nprobes.probes, probes.problems + nprobes.problems)
        fps = fps.merged(nrules)
        problems += [str(p) for p in (*nprobes.problems, *nrules.problems)]
    if args.action == "stats":
        _stats(probes, fps.rules, problems)
        return 0
    loaded: list[tuple[Path, list[Fingerprint]]] = [
        (f, load_fingerprint_file(f, USER_ORIGIN)[0]) for f in checked]
    problems += [str(p) for p in check_examples(loaded, fps)]
    for prob in problems:
        print(prob)
    rules = sum(len(rs) for _, rs in loaded)
    examples = sum(len(r.examples) for _, rs in loaded for r in rs)
    print(f"{len(probes.probes)} probe(s), {rules} fingerprint(s) checked, {examples} "
          f"example(s) run against {len(fps.rules)} rule(s), {len(problems)} problem(s)",
          file=sys.stderr)
    return 1 if problems else 0


def _stats(probes: ProbeSet, rules: tuple[Fingerprint, ...], problems: list[str]) -> None:
    services = sorted({r.service for r in rules})
    by_source: dict[str, int] = {}
    for r in rules:
        by_source[r.source] = by_source.get(r.source, 0) + 1
    print(f"probes: {len(probes.probes)} "
          f"(tcp {len(probes.for_transport('tcp'))}, udp {len(probes.for_transport('udp'))})")
    print(f"fingerprints: {len(rules)} ({sum(1 for r in rules if r.soft)} soft)")
    shown = ", ".join(services[:150]) + (", ..." if len(services) > 150 else "")
    print(f"services: {len(services)}: {shown}")
    for src, n in sorted(by_source.items()):
        print(f"  {src}: {n}")
    own = [r for r in rules if r.source.startswith("probescan:")]
    hand = sum(1 for r in own if not any(e.captured for e in r.examples))
    print(f"rules without a captured example: {hand} of {len(own)} "
          "(docs/captured-examples.md lists them and why)")
    if problems:
        print(f"problems: {len(problems)} (run 'probescan fingerprints check')")
