"""nmap's conventions on `probescan scan`: the flags an nmap user types, mapped onto what
probescan does (docs/cli.md, "For nmap users"), times with units, the -T templates, and the
flags of what probescan does not do, refused in one line before the parser sees them.

Wiring only: the result is a `Config` and a few display switches on `args`.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from probescan.config import Config

DEFAULTS = Config()

# ---- times with units ---------------------------------------------------------------------
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "": 1.0}
_DURATION = re.compile(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h|)\s*", re.IGNORECASE)


def duration_or_zero(text: str) -> float:
    """nmap's times: `500ms`, `10s`, `2m`, `1h`, or a bare number of seconds; finite, 0 or
    more (argparse turns the ValueError into one line naming the option and the value)."""
    m = _DURATION.fullmatch(text)
    if not m:
        raise ValueError(text)
    secs = float(m[1]) * _UNITS[m[2].lower()]
    if not math.isfinite(secs):
        raise ValueError(text)
    return secs


def duration(text: str) -> float:
    """A time as `duration_or_zero` reads it, above 0."""
    secs = duration_or_zero(text)
    if secs <= 0:
        raise ValueError(text)
    return secs


duration.__name__ = "time (500ms, 10s, 2m, 1h)"  # what argparse names in its error
duration_or_zero.__name__ = "time (0, 500ms, 10s, 2m, 1h)"


# ---- -T0..-T5 -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Timing:
    name: str
    rate: float  # new connections per second, 0: no cap (--max-rate)
    concurrency: int  # connections in flight, all hosts
    per_host: int
    connect_timeout: float
    retries: int
    banner_wait: float
    probe_wait: float
    host_timeout: float  # seconds for every probe of one endpoint
    parallel_probes: int  # probes of one endpoint at once


# The table of docs/cli.md. T3 is probescan's defaults; T0-T2 space connections out as nmap's
# scan delays do (5 min, 15 s, 0.4 s), one endpoint and one probe at a time up to T1.
TIMINGS: tuple[Timing, ...] = (
    Timing("paranoid", 1 / 300, 1, 1, 5.0, 2, 5.0, 5.0, 6 * 3600.0, 1),
    Timing("sneaky", 1 / 15, 1, 1, 5.0, 2, 5.0, 5.0, 3600.0, 1),
    Timing("polite", 2.5, 16, 4, 3.0, 1, 4.0, 4.0, 300.0, 2),
    Timing("normal", DEFAULTS.rate, DEFAULTS.concurrency, DEFAULTS.per_host,
           DEFAULTS.connect_timeout, DEFAULTS.retries, DEFAULTS.banner_wait,
           DEFAULTS.probe_wait, DEFAULTS.endpoint_budget, DEFAULTS.parallel_probes),
    Timing("aggressive", 0.0, 1024, 128, 1.0, 1, 2.0, 2.0, 12.0, 8),
    Timing("insane", 0.0, 2048, 256, 0.5, 0, 1.0, 1.0, 8.0, 16),
)


def timing(text: str) -> Timing:
    """`-T4`, `-T aggressive`."""
    for i, t in enumerate(TIMINGS):
        if text.lower() in (str(i), t.name):
            return t
    raise ValueError(text)


timing.__name__ = "timing template (0-5 or paranoid, sneaky, polite, normal, aggressive, insane)"

# ---- flags of what probescan does not do ----------------------------------------------------
_NO_OS = "probescan does not do OS detection (a service's fingerprint may name the OS: 'os')"
_NO_SCRIPTS = "probescan does not run NSE scripts (its probes and fingerprints are its rules)"
_NO_PING = "probescan does not ping hosts first: every host is probed, as with -Pn"
_ONLY_CONNECT = ("probescan does not do {} scans: it finds TCP ports by SYN (-sS) or connect "
                 "(-sT) sweeps and sends UDP probes (-sU)")
REFUSED: tuple[tuple[str, str], ...] = (
    ("-O", _NO_OS), ("--osscan-limit", _NO_OS), ("--osscan-guess", _NO_OS),
    ("--fuzzy", _NO_OS), ("--max-os-tries", _NO_OS),
    ("-sC", _NO_SCRIPTS), ("--script", _NO_SCRIPTS),
    ("--traceroute", "probescan does not trace routes"),
    *((f"-s{c}", _ONLY_CONNECT.format(f"-s{c}")) for c in "AWMNFXIYZOL"),
    ("--scanflags", _ONLY_CONNECT.format("custom-flag")),
    ("-b", _ONLY_CONNECT.format("FTP bounce")),
    *((f"-P{c}", _NO_PING) for c in "SAUYEPMOR"),
    ("--disable-arp-ping", _NO_PING), ("--send-eth", _NO_PING), ("--send-ip", _NO_PING),
    *((f, "probescan sends ordinary connections from this host: no spoofing, decoys or "
          "crafted packets") for f in ("-D", "-S", "--spoof-mac", "-f", "--mtu", "--badsum",
                                      "--data-length", "--data", "--data-string", "--ttl",
                                      "--ip-options", "--source-port", "-g", "--proxies")),
    ("--privileged", "probescan needs no privileges for a scan"),
    ("--resume", "probescan cannot resume a scan (a scan's records are written as found: "
                 "scan what is missing)"),
)
OUTPUT_FLAGS = ("-oX", "-oN", "-oG", "-oA")
_GLUED_OUTPUT = re.compile(r"-o([A-Z])(.*)", re.DOTALL)


def _refused(token: str) -> str | None:
    name = token.split("=", 1)[0]
    for flag, why in REFUSED:
        # -PS22,80 carries its ports glued; --script-args & co. are the scripts' too
        if name == flag or (flag.startswith("-P") and name.startswith(flag)) or (
                flag == "--script" and name.startswith("--script")):
            return f"{name}: {why}"
    return None


def check_argv(argv: Sequence[str]) -> None:
    """Refuse, in one line, what nmap users type that probescan does not do, and nmap output
    flags written so that a parser would misread them (`-oN` glued to its file, `-oS`); only
    options of `scan`, before `--`. Raises ValueError."""
    for token in argv:
        if token == "--":
            return
        if not token.startswith("-") or token in OUTPUT_FLAGS:
            continue
        why = _refused(token)
        if why:
            raise ValueError(why)
        glued = _GLUED_OUTPUT.fullmatch(token)
        if glued:
            flag = f"-o{glued[1]}"
            if flag in OUTPUT_FLAGS:
                raise ValueError(f"{token}: write {flag} FILE, with a space ('-' for standard "
                                 "output)")
            raise ValueError(f"{flag}: not an output probescan writes (it writes -oN, -oG, "
                             "-oX, -oA BASE and -o FILE.jsonl)")


# ---- the options --------------------------------------------------------------------------
def add_options(s: argparse.ArgumentParser) -> None:
    """nmap's flags that map onto probescan's own (docs/cli.md, "For nmap users")."""
    g = s.add_argument_group("nmap's conventions")
    g.add_argument("-sV", dest="version_scan", action="store_true",
                   help="version detection: always on (--no-version turns it off)")
    g.add_argument("-sn", dest="ping_scan", action="store_true",
                   help="host discovery only: which hosts answer a TCP connect on port 80 or "
                   "443 (refused or accepted), no port scan")
    g.add_argument("-Pn", dest="no_ping", action="store_true",
                   help="accepted: probescan never pings first, every host is probed")
    g.add_argument("-n", dest="no_resolve", action="store_true",
                   help="accepted: probescan never resolves addresses to names (the default)")
    g.add_argument("-R", dest="reverse_dns", action="store_true",
                   help="show each address's DNS name (PTR) beside it in the table, -oN and -oG")
    g.add_argument("-6", dest="ipv6", action="store_true",
                   help="names resolve to their IPv6 address (IPv6 needs no switch)")
    # `-6` is an option, yet `-p -1024` must stay a port spec, not an unknown option.
    s._has_negative_number_optionals.clear()
    g.add_argument("-T", dest="timing", type=timing, metavar="0-5",
                   help="timing template: paranoid, sneaky, polite, normal (the default), "
                   "aggressive, insane; options given explicitly win (table: docs/cli.md)")
    g.add_argument("-F", dest="fast", action="store_true", help="fast: the top 100 ports")
    g.add_argument("--open", action="store_true",
                   help="only open (and open|filtered) ports: the default; not with "
                   "--all-states")
    g.add_argument("-v", dest="verbose", action="count", default=0,
                   help="-v: each open port as it is found (stderr) and the reason column; "
                   "-vv: also closed and filtered ports, in the table too")
    g.add_argument("-d", dest="debug", action="count", default=0,
                   help="-d: each record as it is found, with the probe and fingerprint that "
                   "decided it, timings and errors; -dd: also the unmatched replies")
    g.add_argument("--reason", action="store_true",
                   help="a reason column: why each port has its state (syn-ack, conn-refused, "
                   "no-response, host-timeout...)")
    g.add_argument("--exclude-ports", metavar="PORTS", help="ports to leave out (-p syntax)")
    g.add_argument("--min-rate", type=float, metavar="N",
                   help="no pacing floor here: lifts --concurrency to at least N")
    g.add_argument("--max-rate", type=float, metavar="N", help="the same as --rate")
    g.add_argument("--max-retries", type=int, metavar="N", help="the same as --retries")
    g.add_argument("--version-all", action="store_true", help="--version-intensity 9")
    g.add_argument("--version-light", action="store_true", help="--version-intensity 2")
    g.add_argument("-A", dest="aggressive", action="store_true",
                   help="accepted as -sV: no OS detection, scripts or traceroute here")


def _one(args: argparse.Namespace, *pairs: tuple[str, str]) -> None:
    """Refuse options that set the same thing twice (a flag with another, or two values)."""
    given = [(flag, getattr(args, name)) for flag, name in pairs
             if getattr(args, name) not in (None, False)]
    if len(given) > 1 and (any(v is True for _, v in given) or len({v for _, v in given}) > 1):
        raise ValueError(f"give {' or '.join(f for f, _ in given)}, not both")


def scan_config(args: argparse.Namespace) -> Config:
    """The scan's Config: the options given, else the -T template's value, else the default."""
    _one(args, ("--rate", "rate"), ("--max-rate", "max_rate"))
    _one(args, ("--retries", "retries"), ("--max-retries", "max_retries"))
    _one(args, ("--version-intensity", "version_intensity"), ("--version-all", "version_all"),
         ("--version-light", "version_light"))
    _one(args, ("--open", "open"), ("--all-states", "all_states"))
    if args.no_version and (args.version_scan or args.aggressive):
        raise ValueError("give -sV or --no-version, not both")
    if args.ping_scan and (args.ports or args.top_ports is not None or args.fast):
        raise ValueError("-sn scans no ports: give -sn or -p/--top-ports/-F, not both")
    t: Timing = args.timing or TIMINGS[3]

    def pick(name: str, template: Any) -> Any:
        value = getattr(args, name)
        return template if value is None else value

    rate = args.rate if args.rate is not None else args.max_rate
    rate = t.rate if rate is None else rate
    concurrency = pick("concurrency", t.concurrency)
    per_host = pick("per_host", t.per_host)
    if args.min_rate is not None:
        if not math.isfinite(args.min_rate) or args.min_rate <= 0:
            raise ValueError(f"--min-rate must be a positive number, not {args.min_rate}")
        if rate and rate < args.min_rate:
            if args.rate is not None or args.max_rate is not None:
                raise ValueError(f"--min-rate {args.min_rate:g} is above --max-rate {rate:g}")
            rate = 0.0  # the template's pace gives way to the floor asked for
        concurrency = max(concurrency, math.ceil(args.min_rate))
    for flag, value in (("--concurrency", concurrency), ("--per-host", per_host)):
        if value < 1:
            raise ValueError(f"{flag} must be at least 1, not {value}")
    if rate < 0 or not math.isfinite(rate):
        raise ValueError(f"--rate must be a positive number or 0 (no cap), not {rate}")
    retries = args.retries if args.retries is not None else args.max_retries
    intensity = args.version_intensity
    if intensity is None:
        intensity = 9 if args.version_all else 2 if args.version_light else DEFAULTS.intensity
    return Config(
        connect_timeout=pick("connect_timeout", t.connect_timeout),
        retries=max(0, t.retries if retries is None else retries),
        banner_wait=pick("banner_wait", t.banner_wait),
        probe_wait=t.probe_wait,
        endpoint_budget=pick("host_timeout", t.host_timeout),
        concurrency=concurrency,
        per_host=per_host,
        rate=rate,
        parallel_probes=t.parallel_probes,
        intensity=intensity,
        tls=not args.no_tls,
        version_scan=not (args.no_version or args.ping_scan),
        all_ports=args.allports,
    )
