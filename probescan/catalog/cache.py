"""The catalog's rules cached between runs, so a scan starts at once.

Reading and converting nmap's `nmap-service-probes` costs most of a second at every start,
and compiling our own fingerprints a good part of one; the results only change when the files
or probescan's loaders do. The cache lives in the user's cache folder
(`$XDG_CACHE_HOME/probescan/`, else `~/.cache/probescan/`), one file per source (nmap's file
per path; our fingerprint folder), reused while all of these are unchanged:

* each source file's resolved path, size and modification time (nanoseconds);
* the intensity nmap's rules were converted for;
* probescan's version and the source text of the modules that build rules (a changed loader
  invalidates every cache, even without a version bump);
* the cache's own format number.

A file holds two pickles: a small header with that key, then the rules, read only when the
header matches. Patterns are stored as their source (`LazyPattern`, compiled on first use:
every one compiled when the rules were first built, so none can fail later); rules travel as
plain tuples and are rebuilt as `Fingerprint`s, several times faster than unpickling the
dataclasses.

A pickle runs code when read, so a cache file is only read when it is a regular file owned by
the user and writable by no one else (nor is its folder). A file that fails a check or does
not load is ignored with one warning line and replaced. Writing is atomic (a temporary file,
then a rename); a folder that cannot be written just means no cache. Our own fingerprints are
cached only when they loaded without a problem (the problems' wording depends on the working
directory, and a file being edited should always be re-read).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import hashlib
import os
import pickle
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import probescan
from probescan.catalog.fingerprints import Fingerprint, FingerprintSet, load_fingerprints
from probescan.catalog.lazy import LazyPattern
from probescan.catalog.paths import data_dir
from probescan.catalog.probes import ProbeSet

if TYPE_CHECKING:
    from probescan.catalog.nmap.convert import NmapStats

    NmapLoaded = tuple[ProbeSet, FingerprintSet, NmapStats]

FORMAT = 1
MAGIC = "probescan-rules"
# The modules whose code decides what a loaded rule looks like.
_CODE = ("cache.py", "lazy.py", "nmap/parse.py", "nmap/pcre.py", "nmap/convert.py",
         "fingerprints.py", "probes.py", "prefilter.py", "templates.py", "problems.py",
         "aliases.py")
_FIELDS = tuple(f.name for f in dataclasses.fields(Fingerprint))
_PATTERN = _FIELDS.index("pattern")

Key = tuple[Any, ...]


def cache_dir() -> Path:
    """Where probescan keeps caches: `$XDG_CACHE_HOME/probescan`, else `~/.cache/probescan`."""
    base = os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "probescan"


def _code_digest() -> str:
    h = hashlib.sha256(probescan.__version__.encode())
    here = Path(__file__).resolve().parent
    for name in _CODE:
        with contextlib.suppress(OSError):
            h.update(name.encode() + b"\0" + (here / name).read_bytes())
    return h.hexdigest()


def _stamp(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path.resolve()), st.st_size, st.st_mtime_ns


def _file_name(kind: str, what: str) -> str:
    return f"{kind}-{hashlib.sha256(what.encode()).hexdigest()[:20]}.pickle"


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Loading creates ~100,000 objects and no cycles: the collector only slows it down, and
    they live as long as the process, so they are moved out of its sight (gc.freeze) rather
    than examined by the next full collection."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was:
            gc.enable()


def _untrusted(path: Path) -> str | None:
    """None when `path` may be unpickled; otherwise why not (OSError if it is missing)."""
    st = path.lstat()
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    for what, s in (("file", st), ("folder", path.parent.stat())):
        if hasattr(os, "geteuid") and s.st_uid != os.geteuid():
            return f"its {what} belongs to another user"
        if s.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return f"its {what} is writable by others"
    return None


def _rules_out(rules: tuple[Fingerprint, ...]) -> list[tuple[Any, ...]]:
    rows = []
    for r in rules:
        row = [getattr(r, name) for name in _FIELDS]
        p = row[_PATTERN]
        if not isinstance(p, LazyPattern):  # one of ours, compiled: kept as its source
            row[_PATTERN] = LazyPattern(p.pattern, p.flags, p.groups, p.pattern)
        rows.append(tuple(row))
    return rows


def _read(file: Path, key: Key) -> Any:
    """The cached payload, None when there is none for this key; ValueError when the file is
    there but unusable."""
    try:
        why = _untrusted(file)
    except FileNotFoundError:
        return None
    if why is not None:
        raise ValueError(why)
    try:
        with file.open("rb") as f, _no_gc():
            if pickle.load(f) != key:
                return None  # another file version, intensity or loader: rebuilt
            kind, rows, rest = pickle.load(f)
            if kind != key[0]:
                raise ValueError("unexpected content")
            return tuple([Fingerprint(*row) for row in rows]), rest
    except ValueError:
        raise
    except Exception as e:  # anything a damaged pickle can raise
        raise ValueError(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__) from e


def _write(file: Path, key: Key, rules: tuple[Fingerprint, ...], rest: Any) -> None:
    file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=file.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            pickle.dump(key, f, protocol=pickle.HIGHEST_PROTOCOL)
            pickle.dump((key[0], _rules_out(rules), rest), f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, file)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _cached(file: Path, key: Callable[[], Key],
            build: Callable[[], tuple[tuple[Fingerprint, ...], Any, bool]]
            ) -> tuple[tuple[Fingerprint, ...], Any]:
    """The rules and extra payload for `key()`: from `file` when current, else from `build()`
    (which also says whether the result may be cached), then stored."""
    wanted = key()
    try:
        got = _read(file, wanted)
    except (OSError, ValueError) as e:
        print(f"probescan: warning: ignoring the cache file {file} ({e}); rebuilding it",
              file=sys.stderr)
        got = None
    if got is not None:
        rules, rest = got
        return rules, rest
    rules, rest, keep = build()
    with contextlib.suppress(OSError, pickle.PicklingError, RecursionError):
        if keep and key() == wanted:  # the sources did not change while they were read
            _write(file, wanted, rules, rest)
    return rules, rest


def load_nmap_db_cached(path: Path, intensity: int = 7,
                        directory: Path | None = None) -> NmapLoaded:
    """`load_nmap_db(path, intensity)`, from the cache when it is current (module doc).

    Raises OSError only when `path` itself cannot be read."""
    def key() -> Key:
        return ("nmap", FORMAT, MAGIC, _stamp(path), intensity, _code_digest())

    def build() -> tuple[tuple[Fingerprint, ...], Any, bool]:
        from probescan.catalog.nmap.convert import load_nmap_db  # nmap's reader: only now

        probes, fps, stats = load_nmap_db(path, intensity)
        return fps.rules, (probes, fps.problems, stats), True

    file = (directory or cache_dir()) / _file_name("nmap-rules", str(path.resolve()))
    rules, (probes, problems, stats) = _cached(file, key, build)
    return probes, FingerprintSet(rules, problems), stats


def load_fingerprints_cached(directory: Path | None = None) -> FingerprintSet:
    """`load_fingerprints()` (probescan's own fingerprints/*.toml), from the cache when every
    file is unchanged (module doc)."""
    folder = data_dir("fingerprints")

    def key() -> Key:
        files = sorted(folder.glob("*.toml"))
        return ("own", FORMAT, MAGIC, tuple(_stamp(f) for f in files), _code_digest())

    def build() -> tuple[tuple[Fingerprint, ...], Any, bool]:
        fps = load_fingerprints()
        return fps.rules, None, not fps.problems

    file = (directory or cache_dir()) / _file_name("own-rules", str(folder.resolve()))
    rules, _ = _cached(file, key, build)
    return FingerprintSet(rules)
