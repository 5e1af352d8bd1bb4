"""Nothing a command prints passes control characters to the terminal.

What digest prints comes partly from its store (comparison titles, addresses,
consent sources), which may hold text from anywhere. An escape sequence in it
could rewrite the screen, change the window title or hide a line (a carriage
return). Every command writes through `PrintableStream`, which shows each
control character as `\\uXXXX` instead: the C0 and C1 controls (ESC, BEL, CR,
NUL...), DEL, and the Unicode marks that reverse the direction of text. Line
breaks and tabs pass, and so do colour codes (`ESC [ ... m`, what click.style
writes), which can change a colour and nothing else. The `\\uXXXX` form keeps
JSON output valid JSON.
"""

from __future__ import annotations

import re
import sys
from typing import Any, TextIO

_SHOWN = re.compile("\x1b\\[[0-9;]*m|[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _show(match: re.Match) -> str:
    found = match.group()
    return found if len(found) > 1 else f"\\u{ord(found):04x}"


def printable(text: str) -> str:
    """`text` with every control character (but line breaks, tabs and colour codes) made visible."""
    return _SHOWN.sub(_show, text)


class PrintableStream:
    """A text stream that writes `printable(text)` to the stream it wraps. It has no `buffer`, so
    nothing (click included) can go around it by writing bytes."""

    def __init__(self, stream: TextIO):
        self._stream = stream

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self._stream.write(printable(text))
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        if name == "buffer":
            raise AttributeError(name)
        return getattr(self._stream, name)


def unguarded(stream: TextIO) -> TextIO:
    """The terminal stream `guard_output` wrapped, for what digest draws on it itself and nothing else:
    a progress bar's carriage returns and cursor codes around digest's own figures (through the guard
    they would show as literal \\u000d). Never for text from the store."""
    return stream._stream if isinstance(stream, PrintableStream) else stream


def guard_output() -> None:
    """Wrap sys.stdout and sys.stderr for the rest of this command."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, PrintableStream):
            setattr(sys, name, PrintableStream(stream))
