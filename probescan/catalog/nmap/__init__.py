"""nmap's `nmap-service-probes` as an optional extra source of probes and fingerprints.

The user's own nmap install is read (never copied) and its probes and `match`/`softmatch`
rules become our `Probe`s (`nmap:<name>`) and `Fingerprint`s, so our engine and matcher run
nmap's rules after ours. Nothing here is nmap code; the file format is described at
https://nmap.org/book/vscan-fileformat.html. Three steps, one module each:

* `parse` - finding the file and reading its directives into plain parsed probes and rules;
* `pcre` - translating nmap's PCRE patterns to the `regex` module;
* `convert` - building our probes and rules from them: fallback chains, priorities,
  intensity, templates; its docstring explains how nmap's rules combine with ours.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from probescan.catalog.aliases import NMAP_NULL as NULL_ALIAS
    from probescan.catalog.lazy import LazyPattern
    from probescan.catalog.nmap.convert import (
        PRIORITY,
        NmapStats,
        compile_nmap_patterns,
        load_nmap_db,
    )
    from probescan.catalog.nmap.parse import find_nmap_db, unescape_payload
    from probescan.catalog.nmap.pcre import PatternError, pcre_to_regex

# Loaded on first use (PEP 562): `probescan scan` asks only for find_nmap_db before it knows
# whether it converts anything (and the cache, catalog/cache.py, usually spares that).
_WHERE = {
    "NULL_ALIAS": ("probescan.catalog.aliases", "NMAP_NULL"),
    "LazyPattern": ("probescan.catalog.lazy", "LazyPattern"),
    "PRIORITY": ("probescan.catalog.nmap.convert", "PRIORITY"),
    "NmapStats": ("probescan.catalog.nmap.convert", "NmapStats"),
    "compile_nmap_patterns": ("probescan.catalog.nmap.convert", "compile_nmap_patterns"),
    "load_nmap_db": ("probescan.catalog.nmap.convert", "load_nmap_db"),
    "find_nmap_db": ("probescan.catalog.nmap.parse", "find_nmap_db"),
    "unescape_payload": ("probescan.catalog.nmap.parse", "unescape_payload"),
    "PatternError": ("probescan.catalog.nmap.pcre", "PatternError"),
    "pcre_to_regex": ("probescan.catalog.nmap.pcre", "pcre_to_regex"),
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(where[0]), where[1])
    globals()[name] = value
    return value

__all__ = [
    "NULL_ALIAS",
    "PRIORITY",
    "LazyPattern",
    "NmapStats",
    "PatternError",
    "compile_nmap_patterns",
    "find_nmap_db",
    "load_nmap_db",
    "pcre_to_regex",
    "unescape_payload",
]
