"""`LazyPattern`: a translated pattern compiled on first use (nmap's rules, and every rule
read back from the cache, catalog/cache.py). Its own module, so reading the cache of our own
fingerprints does not load nmap's reader."""

from __future__ import annotations

from typing import Any

import regex


class LazyPattern:
    """A translated pattern compiled with `regex` on first use.

    Quacks like the compiled pattern where the matcher and catalog use it: `search(...)`,
    `groups`, `pattern`, `flags`. If compiling fails, `error` says why and it never matches.
    """

    __slots__ = ("_compiled", "error", "flags", "groups", "pattern", "pcre")

    def __init__(self, pattern: str, flags: int, groups: int, pcre: str) -> None:
        self.pattern = pattern  # the translated (regex-module) source
        self.flags = flags
        self.groups = groups  # capture groups, counted while translating
        self.pcre = pcre  # nmap's original text
        self._compiled: Any = None
        self.error: str | None = None

    def compile(self) -> Any:
        """The compiled pattern, or None (and `error` set) if it does not compile."""
        if self._compiled is None and self.error is None:
            try:
                compiled = regex.compile(self.pattern, self.flags)
            except (regex.error, ValueError, TypeError, OverflowError, RecursionError) as e:
                self.error = str(e)
                return None
            if compiled.groups != self.groups:
                self.error = f"group count {compiled.groups} != {self.groups} (translation bug)"
                return None
            self._compiled = compiled
        return self._compiled

    @property
    def compiled(self) -> bool:
        return self._compiled is not None

    def search(self, string: str, *args: Any, **kwargs: Any) -> Any:
        compiled = self.compile()
        if compiled is None:
            return None
        return compiled.search(string, *args, **kwargs)

    def __repr__(self) -> str:
        return f"LazyPattern({self.pattern!r}, flags={self.flags})"

    def __getstate__(self) -> tuple[None, dict[str, Any]]:
        """Pickled without the compiled pattern (the cache, catalog/nmap/cache.py, stores
        sources; a pattern compiles again on first use)."""
        return None, {"pattern": self.pattern, "flags": self.flags, "groups": self.groups,
                      "pcre": self.pcre, "error": self.error, "_compiled": None}
