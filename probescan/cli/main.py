"""The command line: the parser of every subcommand, and `main()` running the one asked for."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from probescan import __version__
from probescan.cli import fingerprints, profiles, report, scan, scans, watch
from probescan.cli.common import ONE_LINE_ERRORS, fail
from probescan.cli.nmapflags import check_argv

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "scan": scan.run,
    "fingerprints": fingerprints.run,
    "watch": watch.run,
    "report": report.run,
    "profiles": profiles.run,
    "scans": scans.run,
}


class Parser(argparse.ArgumentParser):
    """A bad option is one line naming it (with where to look), not the usage text."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="probescan",
        description="Active service fingerprinting: which protocol, product and version "
        "really runs on every port.",
    )
    p.add_argument("--version", action="version", version=f"probescan {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    scan.add_arguments(sub.add_parser("scan", help="probe targets and identify their services"))
    fingerprints.add_arguments(
        sub.add_parser("fingerprints", help="check or summarise probe and fingerprint files"))
    watch.add_arguments(sub.add_parser("watch", help="label live or captured flows: passive "
                                       "evidence plus active probes of both endpoints"))
    report.add_arguments(
        sub.add_parser("report", help="write a self-contained HTML report of scan records"))
    profiles.add_arguments(
        sub.add_parser("profiles", help="learn protocol profiles from captures (the "
                       "statistical layer of watch), or list them"))
    scans.add_arguments(sub.add_parser("scans", help="find internet scanners in a capture"))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    if given[:1] == ["scan"]:
        try:
            check_argv(given[1:])  # nmap's flags for what probescan does not do, in one line
        except ValueError as e:
            return fail(e)
    args = build_parser().parse_args(given)
    args.command_line = ["probescan", *given]  # for nmap XML's <nmaprun args>
    try:
        return COMMANDS[args.command](args)
    except ONE_LINE_ERRORS as e:
        return fail(e)
    except ModuleNotFoundError as e:  # an optional module missing from a trimmed install
        return fail(f"the Python package '{(e.name or '?').split('.')[0]}' is not installed "
                    f"(python3 -m pip install {(e.name or '?').split('.')[0]})")
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
