"""nmap's patterns: PCRE (without UTF mode) translated to the `regex` module's VERSION0 syntax.

nmap's patterns are PCRE over raw bytes. Translated, they run over the response decoded as
latin-1 (one byte, one character) with `BASE_FLAGS`: ASCII classes and ASCII-only case
folding, as PCRE does without UTF mode. nmap calls PCRE unanchored, like our matcher's
`search`; nmap's `i` flag is IGNORECASE, `s` is DOTALL; `$` means "end, or before a final
newline" in both engines. Nothing here compiles a pattern (see `convert.LazyPattern`).
"""

from __future__ import annotations

import regex

BASE_FLAGS = regex.VERSION0 | regex.ASCII
"""The flags every translated pattern is compiled with (nmap's `i`/`s` add to them)."""


class PatternError(ValueError):
    """A PCRE pattern that cannot be translated (a syntax error or an unsupported construct)."""


_HEX = "0123456789abcdefABCDEF"
_OCT = "01234567"
_VSPACE = r"\n\x0b\x0c\r\x85"  # PCRE's \v without UTF
_HSPACE = r"\t\x20\xa0"  # PCRE's \h without UTF
# PCRE escapes the regex module spells differently (or lacks), and their translations.
_PCRE_ESCAPES = {
    "z": r"\Z",
    "Z": r"(?=\n?\Z)",
    "v": f"[{_VSPACE}]",
    "V": f"[^{_VSPACE}]",
    "h": f"[{_HSPACE}]",
    "H": f"[^{_HSPACE}]",
    "R": rf"(?:\r\n|[{_VSPACE}])",
    "C": r"(?s:.)",
}
_QUANT = regex.compile(r"\{\d+(?:,\d*)?\}")
_PCRE_ERRORS = set("LlUu")  # PCRE1 refuses these escapes
_NAMED_GROUP = regex.compile(r"\(\?(?:P?<([A-Za-z_]\w*)>|'([A-Za-z_]\w*)')")
_INLINE_FLAGS = regex.compile(r"\(\?([imsx]*)(?:-([imsx]*))?([:)])")


def _char(value: int) -> str:
    if value > 0xFF:
        raise PatternError(f"character value {value:#x} is too large (no UTF mode)")
    return f"\\x{value:02x}"


def _numeric_escape(p: str, i: int) -> tuple[int, int] | None:
    """\\x, \\o, \\c, \\e, \\a at p[i] (the letter after the backslash): (value, next index)."""
    c = p[i]
    if c == "x":
        if i + 1 < len(p) and p[i + 1] == "{":
            end = p.find("}", i + 2)
            digits = p[i + 2:end] if end > 0 else ""
            if not digits or any(ch not in _HEX for ch in digits):
                raise PatternError("bad \\x{...} escape")
            return int(digits, 16), end + 1
        j = i + 1
        while j < len(p) and j < i + 3 and p[j] in _HEX:
            j += 1
        return (int(p[i + 1:j], 16) if j > i + 1 else 0), j
    if c == "o":
        end = p.find("}", i + 2) if p.startswith("{", i + 1) else -1
        digits = p[i + 2:end] if end > 0 else ""
        if not digits or any(ch not in _OCT for ch in digits):
            raise PatternError("bad \\o{...} escape")
        return int(digits, 8), end + 1
    if c == "c":
        if i + 1 >= len(p) or not 0x20 <= ord(p[i + 1]) < 0x7F:
            raise PatternError("\\c at end of pattern or before a non-printable")
        return ord(p[i + 1].upper()) ^ 0x40, i + 2
    if c == "e":
        return 0x1B, i + 1
    if c == "a":
        return 0x07, i + 1
    return None


def _octal(p: str, i: int, limit: int = 3) -> tuple[int, int]:
    j = i
    while j < len(p) and j < i + limit and p[j] in _OCT:
        j += 1
    return int(p[i:j], 8), j


def pcre_to_regex(pattern: str) -> tuple[str, int]:
    """Translate a PCRE (non-UTF) pattern to `regex` VERSION0 syntax: (source, group count).

    Raises PatternError for what PCRE would refuse (unbalanced parentheses, an unterminated
    class, a trailing backslash, a back reference to a missing group) and for the few PCRE
    constructs with no faithful translation (branch reset, `(?J)`, `(?U)`, `(*VERB)`).
    """
    out: list[str] = []
    p = pattern
    n = len(p)
    i = 0
    groups = 0
    depth = 0
    max_backref = 0
    names: set[str] = set()
    backref_names: set[str] = set()
    while i < n:
        c = p[i]
        if c == "\\":
            if i + 1 >= n:
                raise PatternError("trailing backslash")
            e = p[i + 1]
            if e.isdigit():
                if e == "0":  # \0 plus up to two more octal digits
                    value, i = _octal(p, i + 1)
                    out.append(_char(value))
                    continue
                j = i + 1
                while j < n and p[j].isdigit():
                    j += 1
                number = int(p[i + 1:j])
                if number < 10 or number <= groups:
                    out.append(f"\\g<{number}>")
                    max_backref = max(max_backref, number)
                    i = j
                elif e in _OCT:
                    value, i = _octal(p, i + 1)
                    out.append(_char(value & 0xFF))
                else:  # \8 or \9 followed by digits: literal digits
                    out.append(p[i + 1:j])
                    i = j
                continue
            numeric = _numeric_escape(p, i + 1)
            if numeric is not None:
                out.append(_char(numeric[0]))
                i = numeric[1]
                continue
            i += 2
            if e == "Q":
                end = p.find("\\E", i)
                literal = p[i:] if end < 0 else p[i:end]
                out.append(regex.escape(literal, special_only=True) if literal else "")
                i = n if end < 0 else end + 2
            elif e == "E":
                pass
            elif e in "bBdDsSwWAGKfnrtX":
                out.append("\\" + e)
            elif e in _PCRE_ESCAPES:
                out.append(_PCRE_ESCAPES[e])
            elif e == "N":
                if i < n and p[i] == "{":
                    raise PatternError("\\N{name} is not supported by PCRE")
                out.append(r"[^\n]")
            elif e in "pP":
                if i < n and p[i] == "{":
                    end = p.find("}", i)
                    if end < 0:
                        raise PatternError("unterminated \\p{...}")
                    out.append("\\" + e + p[i:end + 1])
                    i = end + 1
                elif i < n:
                    out.append("\\" + e + p[i])
                    i += 1
                else:
                    raise PatternError("\\p at end of pattern")
            elif e == "g":
                ref, i = _g_reference(p, i, groups)
                if isinstance(ref, int):
                    max_backref = max(max_backref, ref)
                else:
                    backref_names.add(ref)
                out.append(f"\\g<{ref}>")
            elif e == "k":
                close = {"<": ">", "'": "'", "{": "}"}.get(p[i] if i < n else "")
                end = p.find(close, i + 1) if close else -1
                if end < 0:
                    raise PatternError("bad \\k reference")
                name = p[i + 1:end]
                backref_names.add(name)
                out.append(f"(?P={name})")
                i = end + 1
            elif e in _PCRE_ERRORS:
                raise PatternError(f"PCRE does not support \\{e}")
            elif e.isascii() and e.isalpha():
                out.append(e)  # PCRE1: an unknown letter escape is the letter itself
            else:
                out.append("\\" + e)
            continue
        if c == "[":
            piece, i = _char_class(p, i)
            out.append(piece)
            continue
        if c == "(":
            if p.startswith("(*", i):
                raise PatternError("(*VERB) is not supported")
            if p.startswith("(?#", i):
                end = p.find(")", i)
                if end < 0:
                    raise PatternError("unterminated (?# comment")
                i = end + 1
                continue
            depth += 1
            if not p.startswith("(?", i):
                groups += 1
                out.append("(")
                i += 1
                continue
            named = _NAMED_GROUP.match(p, i)
            if named:
                name = named.group(1) or named.group(2)
                groups += 1
                names.add(name)
                out.append(f"(?P<{name}>")
                i = named.end()
                continue
            flags = _INLINE_FLAGS.match(p, i)
            if flags:
                if flags.group(3) == ")":
                    depth -= 1  # (?i) opens no group
                out.append(flags.group(0))
                i = flags.end()
                continue
            two = p[i + 2:i + 3]
            if two in (":", "=", "!", ">") or p.startswith(("(?<=", "(?<!"), i):
                out.append("(")
                i += 1  # the rest (?:, ?=, ...) is copied as ordinary characters
                continue
            if two == "|":
                raise PatternError("branch reset (?|...) is not supported")
            if p.startswith(("(?P=", "(?P>", "(?R)", "(?("), i) or (two and two in "+-0123456789"):
                out.append("(")
                i += 1
                continue
            raise PatternError(f"unsupported group {p[i:i + 4]!r}")
        if c == ")":
            depth -= 1
            if depth < 0:
                raise PatternError("unmatched )")
            out.append(")")
            i += 1
            continue
        if c == "{":
            q = _QUANT.match(p, i)
            if q:
                out.append(q.group(0))
                i = q.end()
            else:
                out.append(r"\{")  # PCRE: a brace that is not a quantifier is a literal
                i += 1
            continue
        out.append(c)
        i += 1
    if depth > 0:
        raise PatternError("missing )")
    if max_backref > groups:
        raise PatternError(f"back reference to group {max_backref} of {groups}")
    missing = backref_names - names
    if missing:
        raise PatternError(f"back reference to unknown group {sorted(missing)[0]!r}")
    return "".join(out), groups


def _g_reference(p: str, i: int, groups: int) -> tuple[int | str, int]:
    """\\g forms (i points after `g`): \\gN, \\g{N}, \\g{-N}, \\g{name}."""
    n = len(p)
    if i < n and p[i] == "{":
        end = p.find("}", i)
        if end < 0:
            raise PatternError("unterminated \\g{")
        body = p[i + 1:end]
        i = end + 1
    elif i < n and p[i] == "<":
        raise PatternError("\\g<...> subroutine calls are not supported")
    else:
        j = i + 1 if i < n and p[i] in "+-" else i
        while j < n and p[j].isdigit():
            j += 1
        body = p[i:j]
        i = j
    if body.lstrip("-").isdigit():
        number = int(body)
        if number < 0:
            number = groups + 1 + number
        if number < 1:
            raise PatternError("bad relative back reference")
        return number, i
    if not body or not (body[0].isalpha() or body[0] == "_"):
        raise PatternError("bad \\g reference")
    return body, i


def _char_class(p: str, i: int) -> tuple[str, int]:
    """Translate the class opening at p[i] == '['; return (translation, index after it)."""
    n = len(p)
    out = ["["]
    i += 1
    if i < n and p[i] == "^":
        out.append("^")
        i += 1
    first = True
    while True:
        if i >= n:
            raise PatternError("missing ] for a character class")
        c = p[i]
        if c == "]" and not first:
            out.append("]")
            return "".join(out), i + 1
        first = False
        if c == "]":
            out.append(r"\]")
            i += 1
        elif c == "[":
            posix = regex.match(r"\[:\^?[a-z]+:\]", p[i:])
            if posix:
                out.append(posix.group(0))
                i += posix.end()
            elif p.startswith(("[.", "[="), i):
                raise PatternError("POSIX collating elements are not supported")
            else:
                out.append(r"\[")
                i += 1
        elif c in "&~|":
            out.append("\\" + c)  # never a set operation
            i += 1
        elif c == "\\":
            if i + 1 >= n:
                raise PatternError("trailing backslash")
            e = p[i + 1]
            numeric = _numeric_escape(p, i + 1) if e in "xocea" else None
            if numeric is not None:
                out.append(_char(numeric[0]))
                i = numeric[1]
            elif e in _OCT:
                value, i = _octal(p, i + 1)
                out.append(_char(value))
            elif e == "b":
                out.append(r"\x08")
                i += 2
            elif e in "dDsSwWfnrt":
                out.append("\\" + e)
                i += 2
            elif e == "v":
                out.append(_VSPACE)
                i += 2
            elif e == "h":
                out.append(_HSPACE)
                i += 2
            elif e in "pP":
                end = p.find("}", i) if p.startswith("{", i + 2) else i + 2
                if end < 0:
                    raise PatternError("unterminated \\p{...}")
                out.append(p[i:end + 1])
                i = end + 1
            elif e == "Q":
                end = p.find("\\E", i + 2)
                literal = p[i + 2:] if end < 0 else p[i + 2:end]
                out.append("".join("\\" + ch if not ch.isalnum() else ch for ch in literal))
                i = n if end < 0 else end + 2
            elif e == "E":
                i += 2
            elif e in "VHRNXLlUugkC" or e in _PCRE_ERRORS:
                raise PatternError(f"\\{e} is not allowed in a character class")
            elif e.isascii() and e.isalnum():
                out.append(e)  # \8, \9 and unknown letters are literals
                i += 2
            else:
                out.append("\\" + e)
                i += 2
        else:
            out.append(c)
            i += 1

