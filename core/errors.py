"""Errors that reach the user as one line and exit code 2 (never a traceback)."""


class InputError(Exception):
    """A problem with something the user gave us: a file, a row, a field, an id.

    The message is one line and names the file, row or field."""


class DataError(InputError):
    """Market data that cannot be used (malformed, NaN, negative, out of order)."""


class ConfigError(InputError):
    """A config that is invalid; the message lists every problem."""


ERROR_LINE_MAX = 2000  # characters of an error line; the rest is cut, and the line says so
_CONTROL = {i: f"\\x{i:02x}" for i in range(32)} | {ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): " ", 127: "\\x7f"}


def one_line(text: str, limit: int = ERROR_LINE_MAX) -> str:
    """``text`` as one bounded line: control characters escaped (a newline in
    a file name stays on the line), and past ``limit`` characters the middle
    cut out with a note of how much (a 50 MB config value, a 100 KB session
    id). The head names the file or field; the tail usually says what to do."""
    text = text.translate(_CONTROL)
    if len(text) <= limit:
        return text
    tail = limit // 5
    head = limit - tail
    return f"{text[:head]} [... {len(text) - head - tail:,} characters cut ...] {text[-tail:]}"
