"""How long a field a server can fill may be in a record, and the marker that shows a cut.

A server chooses its banner, its version strings, its certificate's names; a capture holds
whatever clients sent. Records, the terminal, nmap's normal, grepable and XML outputs and the
report all show the same bounded values, because the records are bounded where they are
made (probescan/model.py: Match, TlsInfo, Evidence, ServiceRecord; watch/label.py: a flow's
facts and first bytes), with these helpers. docs/output.md lists the limits.

A cut is always visible: the kept head is followed by `…[+N bytes]` (N: the UTF-8 bytes, or
the raw bytes, left out), and a list cut to its first items ends with the item `…[+N more]`.
Cutting is idempotent: a value that already ends with its marker is left as it is. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

TEXT_BYTES = 256  # a string field: product, version, info, host, os, device, one CPE, a TLS
# name (subject, issuer, one SAN, serial, ALPN), one passive fact of a flow
LIST_ITEMS = 64  # a list a server fills: a certificate's SANs, a list fact of a flow

_CUT = re.compile(r"…\[\+\d+ bytes\]\Z")
_MORE = re.compile(r"…\[\+\d+ more\]\Z")


def marker(left_out: int) -> str:
    """What follows a cut head: `…[+1234 bytes]`."""
    return f"…[+{left_out} bytes]"


def more(left_out: int) -> str:
    """The last item of a cut list: `…[+12 more]`."""
    return f"…[+{left_out} more]"


def cut_text(text: str, limit: int = TEXT_BYTES) -> str:
    """`text` if its UTF-8 form has at most `limit` bytes; else its head of at most `limit`
    bytes (whole characters) and the marker of the bytes left out."""
    if (len(text) <= limit and text.isascii()) or len(text) * 4 <= limit:
        return text
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    found = _CUT.search(text)
    if found is not None and len(text[:found.start()].encode("utf-8", "surrogatepass")) <= limit:
        return text  # cut already
    end = limit
    while end > 0 and data[end] & 0xC0 == 0x80:  # not inside a character
        end -= 1
    return data[:end].decode("utf-8", "surrogatepass") + marker(len(data) - end)


def cut_optional(text: str | None, limit: int = TEXT_BYTES) -> str | None:
    return text if text is None else cut_text(text, limit)


def cut_items(items: Iterable[str], count: int = LIST_ITEMS, limit: int = TEXT_BYTES
              ) -> tuple[str, ...]:
    """Each item cut to `limit` bytes; beyond `count` items, the first `count` and the item
    `…[+N more]`."""
    out = tuple(items)
    if len(out) <= count and all(len(x) <= limit and x.isascii() for x in out):
        return out
    if len(out) > count + 1 or (len(out) == count + 1 and not _MORE.match(out[-1])):
        out = (*out[:count], more(len(out) - count))
    return tuple(cut_text(x, limit) for x in out)


def excerpt_marker(shown: int, total: int) -> str:
    """The marker after the first `shown` of `total` raw bytes ('' when nothing is left out)."""
    return marker(total - shown) if total > shown else ""


def cut_facts(facts: Mapping[str, Any]) -> dict[str, Any]:
    """A flow's facts (parsers' and detectors' findings) with every string cut to TEXT_BYTES
    and every list to LIST_ITEMS items (nested lists and objects too, one level down)."""
    return {k: _cut_value(v, 2) for k, v in facts.items()}


def _cut_value(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return cut_text(value)
    if depth <= 0:
        return value
    if isinstance(value, list | tuple):
        items = [_cut_value(v, depth - 1) for v in value[:LIST_ITEMS]]
        if len(value) > LIST_ITEMS:
            items.append(more(len(value) - LIST_ITEMS))
        return items
    if isinstance(value, dict):
        return {k: _cut_value(v, depth - 1) for k, v in value.items()}
    return value
