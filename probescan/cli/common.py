"""What the subcommands share: the output options and the sinks built from them, stop
signals, and the one-line errors (`InputError` and its kin: one line on stderr, status 2)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from probescan.catalog import CatalogError
from probescan.output.html import HtmlSink
from probescan.output.jsonl import JsonlSink
from probescan.output.nmapxml import NmapXmlWriter
from probescan.output.sink import SHOWN_STATES, OutputError, Sink, Sinks, StateFilter
from probescan.output.store import Store
from probescan.targets import TargetError

Command = Literal["scan", "watch"]
FLUSH_EVERY = 0.25  # seconds: watch flushes its outputs at most this often (and at the end)


class InputError(Exception):
    """A bad argument or input: one line, exit status 2."""


# Errors the user gets as one line ("probescan: error: ..."), exit status 2.
ONE_LINE_ERRORS = (InputError, CatalogError, TargetError, OutputError)


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
        "scan": "write JSON Lines records here",
        "watch": "write flow records here"}),
    "xml_output": (("-oX",), {"dest": "xml_output", "metavar": "FILE.xml"}, {
        "scan": "write nmap XML (readable by ndiff, Metasploit, IVRE)"}),
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
        "scan": "also emit closed and filtered ports (default: open only)"}),
    "no_progress": (("--no-progress",), _STORE_TRUE, {"scan": "no progress bar"}),
    "quiet": (("-q", "--quiet"), _STORE_TRUE, {
        "scan": "no progress bar and no table",
        "watch": "no live view or summary"}),
    "nmap_db": (("--nmap-db",), {"metavar": "PATH", "type": Path}, {
        "scan": "also use this nmap-service-probes file (default: the one of an installed "
                "nmap, if any)",
        "watch": "also match with this nmap-service-probes file (slower)"}),
}


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


def build_sinks(args: argparse.Namespace, command: Command, terminal: Sink) -> Sinks:
    """The outputs the shared options name, then the terminal. Scan flushes JSON Lines and
    commits the store at every record; watch at most every FLUSH_EVERY seconds, plus when its
    loop calls flush(). Without --all-states, the records of closed and filtered ports go
    only to nmap XML (which counts them) and the terminal (which counts them as scanned)."""
    scan = command == "scan"
    flush_every = 0.0 if scan else FLUSH_EVERY
    all_states: bool = getattr(args, "all_states", False)  # scan only, as is -oX
    listed: list[Sink] = []
    if args.output:
        listed.append(JsonlSink(open_output(args.output), flush_every=flush_every))
    every: list[Sink] = []
    if getattr(args, "xml_output", None):
        every.append(NmapXmlWriter(open_output(args.xml_output), args.command_line, time.time(),
                                   list_states=None if all_states else SHOWN_STATES,
                                   close_stream=True))
    if args.json:
        listed.append(JsonlSink(sys.stdout, flush_every=flush_every, ascii_only=not scan,
                                close_stream=False))
    if args.db:
        listed.append(Store(args.db, commit_every=flush_every))
    if args.html:
        listed.append(HtmlSink(args.html, title=f"probescan {command}"))
    shown: Sink = Sinks(listed) if all_states else StateFilter(Sinks(listed), SHOWN_STATES)
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
