"""Field templates: `$1`..`$9` capture groups, and nmap's `$P(n)`, `$SUBST(n,"a","b")`, `$I(n,">")`.

`render` is pure; `check_template` validates a template against a pattern's group count.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_TOKEN = re.compile(
    r"""\$(?:
        (?P<num>[1-9])
      | P\((?P<pnum>[1-9])\)
      | SUBST\((?P<snum>[1-9]),"(?P<from>[^"]*)","(?P<to>[^"]*)"\)
      | I\((?P<inum>[1-9]),"(?P<endian>[<>])"\)
    )""",
    re.VERBOSE,
)


def _group(groups: Sequence[str | None], n: int) -> str:
    return (groups[n - 1] or "") if n - 1 < len(groups) else ""


def render(template: str, groups: Sequence[str | None]) -> str:
    """Fill a template from capture groups (strings decoded as latin-1)."""

    def sub(m: re.Match[str]) -> str:
        if m.group("num"):
            return _group(groups, int(m.group("num")))
        if m.group("pnum"):
            return "".join(c for c in _group(groups, int(m.group("pnum"))) if c.isprintable())
        if m.group("snum"):
            return _group(groups, int(m.group("snum"))).replace(m.group("from"), m.group("to"))
        raw = _group(groups, int(m.group("inum"))).encode("latin-1", "replace")
        if not raw:
            return ""
        return str(int.from_bytes(raw, "big" if m.group("endian") == ">" else "little"))

    return _TOKEN.sub(sub, template)


def check_template(template: str, group_count: int, field: str) -> None:
    for m in _TOKEN.finditer(template):
        n = next(int(g) for g in (m.group("num"), m.group("pnum"), m.group("snum"),
                                  m.group("inum")) if g)
        if n > group_count:
            raise ValueError(
                f"{field} template uses ${n} but the pattern has {group_count} group(s)"
            )
