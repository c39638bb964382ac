"""What the subcommands share: the output options and the sinks built from them, stop
signals, and the one-line errors (`InputError` and its kin: one line on stderr, status 2)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from probescan.output.sink import SHOWN_STATES, OutputError, Sink, Sinks, StateFilter
from probescan.targets.errors import TargetError

if TYPE_CHECKING:
    from probescan.catalog.user import RuleFiles

# The rules (probescan.catalog) and the outputs are imported where they are used: a sweep
# that needs no rules and writes one output starts without the others.

Command = Literal["scan", "watch"]
FLUSH_EVERY = 0.25  # seconds: watch flushes its outputs at most this often (and at the end)


class InputError(Exception):
    """A bad argument or input: one line, exit status 2."""


def one_line_errors() -> tuple[type[Exception], ...]:
    """Errors the user gets as one line ("probescan: error: ..."), exit status 2; the
    catalog's only once it is loaded (nothing else can raise it)."""
    found: tuple[type[Exception], ...] = (InputError, TargetError, OutputError)
    catalog = sys.modules.get("probescan.catalog.catalog")
    return found if catalog is None else (*found, catalog.CatalogError)


def __getattr__(name: str) -> Any:
    """`ONE_LINE_ERRORS`, every one-line error (the catalog's included), for callers that
    name it: made when asked, so importing this module loads no catalog."""
    if name == "ONE_LINE_ERRORS":
        from probescan.catalog import CatalogError

        return (InputError, CatalogError, TargetError, OutputError)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def fail(error: object) -> int:
    """Tell the user what went wrong in one line; the exit status of bad input."""
    print(f"probescan: error: {error}", file=sys.stderr)
    return 2


# ---- the options scan and watch share: outputs, terminal, nmap's database ----------------
# name -> (flags, argparse keywords, help per command); each command adds the ones it has,
# in the order of its --help (docs/cli.md)
_STORE_TRUE: dict[str, Any] = {"action": "store_true"}
SHARED_OPTIONS: dict[str, tuple[tuple[str, ...], dict[str, Any], dict[Command, str]]] = {
    "output": (("-o", "--output"), {"metavar": "FILE.jsonl"}, {
        "scan": "write JSON Lines records here ('-': standard output)",
        "watch": "write flow records here ('-': standard output)"}),
    "xml_output": (("-oX",), {"dest": "xml_output", "metavar": "FILE.xml"}, {
        "scan": "write nmap XML (readable by ndiff, Metasploit, IVRE; '-': standard output)"}),
    "normal_output": (("-oN",), {"dest": "normal_output", "metavar": "FILE"}, {
        "scan": "write nmap's normal text, host by host ('-': standard output)"}),
    "grepable_output": (("-oG",), {"dest": "grepable_output", "metavar": "FILE"}, {
        "scan": "write nmap's grepable lines, one host a line ('-': standard output)"}),
    "all_outputs": (("-oA",), {"dest": "all_outputs", "metavar": "BASE"}, {
        "scan": "write BASE.nmap, BASE.gnmap, BASE.xml and BASE.jsonl"}),
    "db": (("--db",), {"metavar": "FILE", "type": Path}, {
        "scan": "also store records in this SQLite file (read by report and watch)",
        "watch": "also store flows and endpoint results in this SQLite file"}),
    "html": (("--html",), {"metavar": "FILE", "type": Path}, {
        "scan": "write a self-contained HTML report at the end",
        "watch": "write an HTML report at the end"}),
    "json": (("--json",), _STORE_TRUE, {
        "scan": "stream JSON Lines records to stdout",
        "watch": "stream flow records to stdout"}),
    "all_states": (("--all-states",), _STORE_TRUE, {
        "scan": "also emit closed and filtered ports (default: open and open|filtered "
                "only)"}),
    "no_progress": (("--no-progress",), _STORE_TRUE, {"scan": "no progress bar"}),
    "quiet": (("-q", "--quiet"), _STORE_TRUE, {
        "scan": "no progress bar and no table",
        "watch": "no live view or summary"}),
    "probes": (("--probes",), {"metavar": "PATH", "type": Path, "action": "append",
                               "default": []}, {
        "scan": "also use the probes of this TOML file or folder (repeatable; see "
                "docs/fingerprint-format.md)",
        "watch": "also use the probes of this TOML file or folder (repeatable)"}),
    "fingerprints": (("--fingerprints",), {"metavar": "PATH", "type": Path, "action": "append",
                                           "default": []}, {
        "scan": "also match with the fingerprints of this TOML file or folder (repeatable); "
                "yours run first and replace a shipped rule of the same id",
        "watch": "also match with the fingerprints of this TOML file or folder (repeatable)"}),
    "no_user_rules": (("--no-user-rules",), _STORE_TRUE, {
        "scan": "do not read your folder $XDG_CONFIG_HOME/probescan/ (probes/, fingerprints/)",
        "watch": "do not read your folder $XDG_CONFIG_HOME/probescan/"}),
    "nmap_db": (("--nmap-db",), {"metavar": "PATH", "type": Path}, {
        "scan": "also use this nmap-service-probes file (default: the one of an installed "
                "nmap, if any)",
        "watch": "also match with this nmap-service-probes file (slower)"}),
}


def rule_files_of(args: argparse.Namespace) -> RuleFiles:
    """The user's own rule files for this run: the user folder (unless --no-user-rules), then
    --probes and --fingerprints."""
    from probescan.catalog.user import RulePathError, rule_files, user_dir

    try:
        return rule_files(args.probes, args.fingerprints,
                          folder=None if args.no_user_rules else user_dir())
    except RulePathError as e:
        raise InputError(str(e)) from e


def add_shared_options(parser: argparse.ArgumentParser, command: Command, *names: str) -> None:
    """Add the shared options `names` (keys of SHARED_OPTIONS) to `command`'s parser."""
    for name in names:
        flags, kwargs, helps = SHARED_OPTIONS[name]
        parser.add_argument(*flags, help=helps[command], **kwargs)


def open_output(path: str | Path) -> IO[str]:
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as e:
        raise InputError(f"cannot write output file '{path}': {e.strerror}") from e


STDOUT = "-"
# The file outputs: option dest -> (what it is, -oA's suffix)
FILE_OUTPUTS: dict[str, tuple[str, str]] = {
    "output": ("JSON Lines", "jsonl"),
    "xml_output": ("nmap XML", "xml"),
    "normal_output": ("nmap normal text", "nmap"),
    "grepable_output": ("nmap grepable", "gnmap"),
}


def output_paths(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    """(dest, what, path) of every file output asked for, -oA's four included; '-' is
    standard output, which only one output (or --json) may take."""
    out = [(dest, what, str(getattr(args, dest))) for dest, (what, _) in FILE_OUTPUTS.items()
           if getattr(args, dest, None) is not None]
    base = getattr(args, "all_outputs", None)
    if base is not None:
        if base == STDOUT:
            raise InputError("-oA -: four outputs cannot share standard output (give -oN -, "
                             "-oG -, -oX - or -o -)")
        out += [(dest, what, f"{base}.{suffix}")
                for dest, (what, suffix) in FILE_OUTPUTS.items()]
    for dest, _, path in out:
        if not path:
            raise InputError(f"{_FLAGS[dest]} '': give a file name ('-': standard output)")
    to_stdout = [d for d, _, p in out if p == STDOUT] + (["json"] if args.json else [])
    if len(to_stdout) > 1:
        raise InputError(f"{' and '.join(_FLAGS[d] for d in to_stdout)} all write to standard "
                         "output: give it to one of them")
    return out


_FLAGS = {"output": "-o", "xml_output": "-oX", "normal_output": "-oN",
          "grepable_output": "-oG", "json": "--json"}


def describe_outputs(args: argparse.Namespace) -> list[str]:
    """Where the outputs go, for the last line of the run: `scan.xml (nmap XML)`."""
    shown = [f"{'standard output' if p == STDOUT else p} ({what})"
             for _, what, p in output_paths(args)]
    shown += [f"{p} ({what})" for what, p in (("SQLite", getattr(args, "db", None)),
                                              ("HTML report", getattr(args, "html", None)))
              if p is not None]
    return shown


def writes_stdout(args: argparse.Namespace) -> bool:
    """Does an output take standard output (so the table must not)?"""
    return bool(args.json) or any(p == STDOUT for _, _, p in output_paths(args))


def shown_states(args: argparse.Namespace) -> frozenset[str] | None:
    """The states of the records the listed outputs and the table get (None: every state):
    open and open|filtered; every state with --all-states; -sn: open and closed (a port that
    accepts or refuses proves its host up)."""
    if getattr(args, "all_states", False):
        return None
    if getattr(args, "ping_scan", False):
        return frozenset({"open", "closed"})
    return SHOWN_STATES


def _stream(path: str) -> tuple[IO[str], bool]:
    """The stream of an output and whether its sink closes it (not standard output)."""
    return (sys.stdout, False) if path == STDOUT else (open_output(path), True)


def build_sinks(args: argparse.Namespace, command: Command, terminal: Sink) -> Sinks:
    """The outputs the shared options name, then the terminal. Scan flushes JSON Lines and
    commits the store at every record; watch at most every FLUSH_EVERY seconds, plus when its
    loop calls flush(). Outside `shown_states`, the records go only to the outputs that
    count them (nmap XML, normal, grepable) and the terminal (which counts them as scanned)."""
    from probescan.targets.reverse import reverse_names

    scan = command == "scan"
    flush_every = 0.0 if scan else FLUSH_EVERY
    states = shown_states(args)
    listed: list[Sink] = []
    every: list[Sink] = []
    names = reverse_names if getattr(args, "reverse_dns", False) else None
    ping = getattr(args, "ping_scan", False)
    reason = getattr(args, "reason", False) or getattr(args, "verbose", 0) > 0
    for dest, _, path in output_paths(args):
        stream, close = _stream(path)
        if dest == "output":
            from probescan.output.jsonl import JsonlSink

            listed.append(JsonlSink(stream, flush_every=flush_every, close_stream=close))
        elif dest == "xml_output":
            from probescan.output.nmapxml import NmapXmlWriter

            every.append(NmapXmlWriter(stream, args.command_line, time.time(),
                                       list_states=states, close_stream=close))
        elif dest == "normal_output":
            from probescan.output.normal import NormalText

            every.append(NormalText(stream, args.command_line, listed=states, reason=reason,
                                    ping=ping, names=names, close_stream=close))
        else:
            from probescan.output.grepable import GrepableText

            every.append(GrepableText(stream, args.command_line, listed=states, ping=ping,
                                      names=names, close_stream=close))
    if args.json:
        from probescan.output.jsonl import JsonlSink

        listed.append(JsonlSink(sys.stdout, flush_every=flush_every, ascii_only=not scan,
                                close_stream=False))
    if args.db:
        from probescan.output.store import Store

        listed.append(Store(args.db, commit_every=flush_every))
    if args.html:
        from probescan.output.html import HtmlSink

        listed.append(HtmlSink(args.html, title=f"probescan {command}"))
    shown: Sink = Sinks(listed) if states is None else StateFilter(Sinks(listed), states)
    return Sinks([shown, *every, terminal])


def run_into(sinks: Sinks, run: Callable[[], bool]) -> bool:
    """`run()` (True: stopped by a signal), then close every sink, as failed when `run`
    raised. Returns run()'s answer."""
    try:
        interrupted = run()
    except BaseException:
        sinks.close(interrupted=False, failed=True)
        raise
    sinks.close(interrupted=interrupted)
    return interrupted


# ---- stop signals --------------------------------------------------------------------------
@dataclass
class Stop:
    """What SIGINT or SIGTERM did: `requested` is True, `event` is set and `task` (if any) is
    cancelled. Scan waits on its task, watch's loop on the event."""

    task: asyncio.Future[Any] | None = None
    requested: bool = False
    event: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self) -> None:
        self.requested = True
        self.event.set()
        if self.task is not None:
            self.task.cancel()


def on_stop_signals(cancel: asyncio.Future[Any] | None = None) -> Stop:
    """From inside the running event loop: let SIGINT and SIGTERM stop the run cleanly,
    cancelling `cancel` (if given)."""
    stop = Stop(cancel)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop)
    return stop


async def until_stopped(work: Coroutine[Any, Any, object]) -> bool:
    """Run `work`; SIGINT/SIGTERM cancel it cleanly. True when stopped by a signal."""
    task = asyncio.ensure_future(work)
    stop = on_stop_signals(cancel=task)
    try:
        await task
    except asyncio.CancelledError:
        if not stop.requested:
            raise
    return stop.requested
