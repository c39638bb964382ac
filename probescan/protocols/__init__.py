"""Pure protocol parsers: bytes in, facts out (or NeedMore / ParseError). No I/O here."""

from probescan.protocols.errors import NeedMore, ParseError

__all__ = ["NeedMore", "ParseError"]
