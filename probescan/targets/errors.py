"""`TargetError` and the one-line messages every spec parser of this package raises."""

from __future__ import annotations

from probescan.model import Transport

__all__ = ["TargetError", "bad", "check_transport", "quote"]


class TargetError(ValueError):
    """A bad target, exclude, port or shard spec; the message is one line naming the token."""


def quote(token: str) -> str:
    """`token` in single quotes, or its repr when it has unprintable characters."""
    return f"'{token}'" if token.isprintable() else repr(token)


def bad(kind: str, token: str, reason: str) -> TargetError:
    """``bad <kind> '<token>': <reason>``."""
    return TargetError(f"bad {kind} {quote(token)}: {reason}")


def check_transport(name: str, kind: str = "transport") -> Transport:
    """`name` as a Transport; anything but ``tcp``/``udp`` is a TargetError."""
    if name == "tcp":
        return "tcp"
    if name == "udp":
        return "udp"
    raise bad(kind, name, "expected 'tcp' or 'udp'")
