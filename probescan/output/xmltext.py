"""XML text for the nmap XML writer (output/nmapxml.py): what XML 1.0 cannot carry, escaped."""

from __future__ import annotations

import re
from collections.abc import Iterable

# Characters XML 1.0 forbids anywhere in a document (C0 controls but TAB/LF/CR, lone
# surrogates, U+FFFE and U+FFFF). Escapes cannot help: &#1; is illegal too.
_ILLEGAL_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ATTR_ENTITIES = {'"': "&quot;", "\n": "&#10;", "\t": "&#9;"}


def xml_safe(text: str) -> str:
    """Replace the characters XML 1.0 cannot carry by visible escapes.

    C0 controls become ``\\xNN`` (as in the JSON evidence); surrogates that stand for
    undecodable bytes (``errors="surrogateescape"``) become the ``\\xNN`` of that byte;
    anything else illegal becomes ``\\uNNNN``.
    """
    return _ILLEGAL_XML.sub(_replace_illegal, text)


def _replace_illegal(m: re.Match[str]) -> str:
    code = ord(m.group())
    if code < 0x20:
        return f"\\x{code:02x}"
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"


def xml_text(value: str) -> str:
    """Character data: xml_safe, with the markup characters escaped."""
    # CR as a reference: a literal one would come back as LF (end-of-line normalisation).
    return (xml_safe(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", "&#13;"))


def xml_attr(value: str) -> str:
    """A quoted attribute value (whitespace kept as references)."""
    out = xml_text(value)
    for char, entity in _ATTR_ENTITIES.items():
        out = out.replace(char, entity)
    return f'"{out}"'


def xml_tag(name: str, attrs: Iterable[tuple[str, str | int | None]], *, empty: bool) -> str:
    """A start tag (or empty element) with the attributes whose value is not None."""
    parts = [name]
    parts.extend(f"{k}={xml_attr(str(v))}" for k, v in attrs if v is not None)
    return "<" + " ".join(parts) + ("/>" if empty else ">")
