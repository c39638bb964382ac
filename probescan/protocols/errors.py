"""The two ways a parser declines: more bytes are needed, or the bytes are not this protocol."""


class NeedMore(Exception):
    """The bytes so far are a valid prefix; more are needed to decide."""


class ParseError(ValueError):
    """The bytes are not (a prefix of) this protocol."""
