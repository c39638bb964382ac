"""The command line: the parser of every subcommand, and `main()` running the one asked for.

A subcommand's module (and what it imports) is loaded only when that subcommand runs, or
for the full help: `probescan scan` starts without loading the watcher, the report or the
fingerprint checker."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, cast

from probescan import __version__
from probescan.cli.common import fail, one_line_errors
from probescan.cli.nmapflags import check_argv

# name -> (module, help), in the order of --help
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "scan": ("probescan.cli.scan", "probe targets and identify their services"),
    "fingerprints": ("probescan.cli.fingerprints",
                     "check or summarise probe and fingerprint files"),
    "watch": ("probescan.cli.watch", "label live or captured flows: passive evidence plus "
              "active probes of both endpoints"),
    "report": ("probescan.cli.report",
               "write a self-contained HTML report of scan records"),
    "profiles": ("probescan.cli.profiles", "learn protocol profiles from captures (the "
                 "statistical layer of watch), or list them"),
    "scans": ("probescan.cli.scans", "find internet scanners in a capture"),
}


class Parser(argparse.ArgumentParser):
    """A bad option is one line naming it (with where to look), not the usage text."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `only`, the other subcommands are listed but not loaded."""
    p = Parser(
        prog="probescan",
        description="Active service fingerprinting: which protocol, product and version "
        "really runs on every port.",
    )
    p.add_argument("--version", action="version", version=f"probescan {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in SUBCOMMANDS.items():
        parser = sub.add_parser(name, help=help_text)
        if only is None or name == only:
            importlib.import_module(module).add_arguments(parser)
    return p


def _command(argv: Sequence[str]) -> str | None:
    """The subcommand named first on the command line, if any."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in SUBCOMMANDS else None
        if arg in ("-h", "--help", "--version"):
            return None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    if given[:1] == ["scan"]:
        try:
            check_argv(given[1:])  # nmap's flags for what probescan does not do, in one line
        except ValueError as e:
            return fail(e)
    args = build_parser(_command(given)).parse_args(given)
    args.command_line = ["probescan", *given]  # for nmap XML's <nmaprun args>
    try:
        run = cast(Callable[[argparse.Namespace], int],
                   importlib.import_module(SUBCOMMANDS[args.command][0]).run)
        return run(args)
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        if isinstance(e, one_line_errors()):
            return fail(e)
        if isinstance(e, ModuleNotFoundError):  # an optional module missing from a trimmed install
            package = (e.name or "?").split(".")[0]
            return fail(f"the Python package '{package}' is not installed "
                        f"(python3 -m pip install {package})")
        if isinstance(e, BrokenPipeError):
            return 0
        raise
