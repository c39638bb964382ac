"""`probescan profiles train|show`: learn protocol profiles from captures, or list them.

    probescan profiles train CAPTURE|DIR... -o FILE   learn from the flows the payload names
    probescan profiles show [FILE...]                 one line per profile (default: shipped)

Wiring only: the flows come from watch/training.py, the learning and the file format from
classify/profiles.py. The shipped profiles (profiles/ in the repository) are made by the
command in docs/classify.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from probescan import __version__
from probescan.catalog import build_catalog
from probescan.catalog.paths import data_dir
from probescan.classify.learn import LearnError
from probescan.classify.profiles import (
    PER_CAPTURE,
    TREES,
    Model,
    ProfileError,
    ProfileSet,
    Sample,
    dumps,
    load,
    train,
)
from probescan.classify.signatures import SignatureError, SignatureSet
from probescan.classify.signatures import load as load_signature_files
from probescan.cli.common import InputError
from probescan.watch.capture import CaptureError

DEFAULT = Model()
CAPTURE_SUFFIXES = frozenset({".pcap", ".pcapng", ".cap"})
SIGNATURES = "signatures.toml"  # beside the profiles: the behaviour signatures


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    t = sub.add_parser("train", help="learn profiles from the flows probescan's payload "
                       "layers name in captures")
    t.add_argument("captures", nargs="+", type=Path, metavar="CAPTURE",
                   help="pcap/pcapng files, or directories of them (*.pcap, *.pcapng, *.cap)")
    t.add_argument("-o", "--output", required=True, type=Path, metavar="FILE",
                   help="write the profiles here (TOML)")
    t.add_argument("--min-captures", type=int, default=1, metavar="N",
                   help="a protocol needs flows in this many captures (default 1)")
    t.add_argument("--per-capture", type=int, default=PER_CAPTURE, metavar="N",
                   help=f"flows of one protocol taken from one capture (default {PER_CAPTURE})")
    t.add_argument("--min-score", type=float, default=DEFAULT.min_score, metavar="S",
                   help="share of the trees that must vote for a protocol to name a flow "
                   f"(default {DEFAULT.min_score})")
    t.add_argument("--max-outside", type=float, default=DEFAULT.max_outside, metavar="X",
                   help="how far beyond its profile's feature ranges a flow may lie (summed "
                   f"shares of each feature's span; default {DEFAULT.max_outside})")
    t.add_argument("--trees", type=int, default=TREES, metavar="N",
                   help=f"trees of each forest (default {TREES})")
    t.add_argument("--min-packets", type=int, default=DEFAULT.min_packets, metavar="N",
                   help=f"payload packets a flow needs (default {DEFAULT.min_packets})")
    t.add_argument("--skip-bad", action="store_true",
                   help="skip a capture that cannot be read (say which) instead of stopping")
    t.add_argument("--nmap-db", metavar="PATH", type=Path,
                   help="also name flows with this nmap-service-probes file's rules")
    s = sub.add_parser("show", help="one line per profile")
    s.add_argument("files", nargs="*", type=Path, metavar="FILE",
                   help="profile files (default: the shipped ones)")


def shipped_profile_files() -> list[Path]:
    try:
        return sorted(p for p in data_dir("profiles").glob("*.toml") if p.name != SIGNATURES)
    except FileNotFoundError:
        return []


def shipped_signature_files() -> list[Path]:
    try:
        path = data_dir("profiles") / SIGNATURES
    except FileNotFoundError:
        return []
    return [path] if path.is_file() else []


def load_signatures(files: list[Path] | None = None) -> SignatureSet:
    """The shipped behaviour signatures, then the given files' (tried in that order);
    InputError (one line, `file:line: why`) when one cannot be used."""
    for path in files or []:
        if not path.is_file():
            raise InputError(f"cannot read signatures '{path}': no such file")
    try:
        return load_signature_files([*shipped_signature_files(), *(files or [])])
    except SignatureError as e:
        raise InputError(str(e)) from e


def load_profiles(files: list[Path] | None = None) -> ProfileSet:
    """The given profile files, or the shipped ones; InputError (one line) when one cannot
    be read."""
    paths = files if files else shipped_profile_files()
    for path in paths:
        if not path.is_file():
            raise InputError(f"cannot read profiles '{path}': no such file")
    try:
        return load(paths)
    except ProfileError as e:
        raise InputError(str(e)) from e


def capture_files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(p for p in path.iterdir()
                          if p.is_file() and p.suffix.lower() in CAPTURE_SUFFIXES)
        elif path.is_file():
            out.append(path)
        else:
            raise InputError(f"cannot read capture '{path}': no such file or directory")
    if not out:
        raise InputError("no capture to learn from (*.pcap, *.pcapng, *.cap)")
    return out


def run(args: argparse.Namespace) -> int:
    if args.action == "show":
        return _show(load_profiles(args.files))
    return _train(args)


def _train(args: argparse.Namespace) -> int:
    from probescan.watch.training import samples_from_capture

    if min(args.min_captures, args.per_capture, args.min_packets, args.trees) < 1:
        raise InputError("--min-captures, --per-capture, --min-packets and --trees must be "
                         "positive")
    if not 0 < args.min_score <= 1 or args.max_outside < 0:
        raise InputError("--min-score must be more than 0 and at most 1, --max-outside not "
                         "negative")
    files = capture_files(args.captures)
    catalog = build_catalog(args.nmap_db)
    samples: list[Sample] = []
    read = 0
    for path in files:
        try:
            samples += samples_from_capture(path, catalog)
            read += 1
        except CaptureError as e:
            if not args.skip_bad:
                raise InputError(str(e)) from e
            print(f"probescan: skipped: {e}", file=sys.stderr)
    model = Model(args.min_score, args.max_outside, args.min_packets)
    options = [f"--min-captures {args.min_captures}", f"--per-capture {args.per_capture}"]
    options += [f"--{name.replace('_', '-')} {getattr(args, name)}"
                for name in ("min_score", "max_outside", "min_packets")
                if getattr(args, name) != getattr(DEFAULT, name)]
    options += [f"--trees {args.trees}"] if args.trees != TREES else []
    options += ["--skip-bad"] if args.skip_bad else []
    shown = " ".join([*(str(c) for c in args.captures), *options])
    about = (f"probescan {__version__} profiles, learnt from the flows its payload layers "
             f"named in {read} capture(s)",
             f"made by: probescan profiles train {shown} -o {args.output.name}",
             f"a forest of {args.trees} trees per transport; format and method: "
             "docs/classify.md")
    try:
        profiles = train(samples, model, min_captures=args.min_captures,
                         per_capture=args.per_capture, trees=args.trees, about=about)
    except LearnError as e:
        raise InputError(str(e)) from e
    try:
        args.output.write_text(dumps(profiles), encoding="utf-8")
    except OSError as e:
        raise InputError(f"cannot write profiles '{args.output}': {e.strerror}") from e
    print(f"{len(profiles.profiles)} profile(s) from {len(samples)} named flow(s) in {read} "
          f"capture(s) -> {args.output}", file=sys.stderr)
    return 0


def _show(ps: ProfileSet) -> int:
    m = ps.model
    forests = ", ".join(f"{t} {len(f.trees)} trees over {len(f.classes)} classes"
                        for t, f in sorted(ps.forests.items()))
    print(f"model: min_score {m.min_score}, max_outside {m.max_outside}, "
          f"min_packets {m.min_packets}; "
          f"forests: "
          f"{forests or 'none'}")
    for p in ps.profiles:
        example = " ".join(f"{n:+d}" for n in p.examples[0][:8]) if p.examples else ""
        print(f"{p.service:24} {p.transport}  {p.flows:5} flow(s) {p.captures:4} capture(s)"
              f"  e.g. {example}")
    return 0
