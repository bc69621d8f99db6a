"""Errors that reach the user as one line and exit code 2 (never a traceback)."""


class InputError(Exception):
    """A problem with something the user gave us: a file, a row, a field, an id.

    The message is one line and names the file, row or field."""


class DataError(InputError):
    """Market data that cannot be used (malformed, NaN, negative, out of order)."""


class ConfigError(InputError):
    """A config that is invalid; the message lists every problem."""
