"""Reading an environment file in systemd's `EnvironmentFile=` format, so that an operator's
ad-hoc command (`digest --env-file /etc/digest/env ...`) sees exactly what the service sees.

The rules are systemd's (systemd.exec(5), "EnvironmentFile="):

- one `NAME=value` a line; blank lines and lines starting with `#` or `;` are comments;
- whitespace around the name and around the value is dropped, whitespace inside the value kept;
- an unquoted value takes a backslash as in a POSIX shell: `\\x` is `x`, and a backslash at the
  end of a line joins the next line; quotes after its first character are kept as they are;
- `'...'` is taken verbatim (no escapes) and may span lines;
- `"..."` may span lines; `\\"`, `\\\\`, `\\`` and `\\$` stand for the character, a backslash at
  the end of a line joins the next one, any other backslash is kept with its character;
- no variable is expanded (`$HOME` stays `$HOME`), and a later line wins over an earlier one.

Where systemd skips a line with a warning (no `=`, a name that is not a variable name, such as
`export NAME=value`), digest refuses the file, naming the file and the line: a line the service
silently ignores is a setting the operator thinks they gave. So is a quote never closed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

from digest.errors import ConfigError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_BLANK = " \t\r"
_DOUBLE_ESCAPES = '"\\`$'


class Assignment(NamedTuple):
    value: str
    line: int  # where its NAME= stands (1-based)


def parse(text: str, where: str) -> dict[str, Assignment]:
    """Every assignment in `text`, by name; ConfigError "WHERE:LINE: ..." for a line systemd would not take."""
    found: dict[str, Assignment] = {}
    i, line, n = 0, 1, len(text)
    if text.startswith("\ufeff"):
        i = 1
    while i < n:
        # start of a line: blanks, then a comment, an empty line or NAME=
        while i < n and text[i] in _BLANK:
            i += 1
        if i >= n:
            break
        if text[i] == "\n":
            i, line = i + 1, line + 1
            continue
        if text[i] in "#;":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        start_line = line
        end_of_line = text.find("\n", i)
        end_of_line = n if end_of_line < 0 else end_of_line
        equals = text.find("=", i, end_of_line)
        if equals < 0:
            raise ConfigError(f"{where}:{start_line}: expected NAME=value, found {text[i:end_of_line].strip()[:60]!r}")
        name = text[i:equals].strip(_BLANK)
        if not _NAME.match(name):
            raise ConfigError(
                f"{where}:{start_line}: {name[:60]!r} is not a variable name (letters, digits and _, "
                "as in DIGEST_FROM=...; no `export`)"
            )
        i = equals + 1
        value: list[str] = []
        kept = 0  # length of `value` that trailing blanks may not eat (quoted or escaped text)
        while i < n and text[i] in _BLANK:
            i += 1
        while i < n and text[i] != "\n":
            c = text[i]
            if c in "'\"" and (len(value) == kept):
                # a quote at the start of the value (or right after a closed one)
                quote, opened = c, line
                i += 1
                while True:
                    if i >= n:
                        raise ConfigError(f"{where}:{opened}: the {quote} opened here is never closed")
                    c = text[i]
                    if c == quote:
                        i += 1
                        break
                    if c == "\n":
                        line += 1
                    if quote == '"' and c == "\\" and i + 1 < n:
                        following = text[i + 1]
                        if following == "\n":
                            i, line = i + 2, line + 1
                            continue
                        if following in _DOUBLE_ESCAPES:
                            value.append(following)
                            i += 2
                            continue
                        value.append("\\" + following)
                        i += 2
                        continue
                    value.append(c)
                    i += 1
                kept = len(value)
                while i < n and text[i] in _BLANK:
                    i += 1
                continue
            if c == "\\":
                if i + 1 >= n:
                    i += 1
                    continue
                following = text[i + 1]
                i += 2
                if following == "\n":
                    line += 1
                    continue
                value.append(following)
                kept = len(value)
                continue
            value.append(c)
            i += 1
        while len(value) > kept and value[-1] in _BLANK:
            value.pop()
        found[name] = Assignment("".join(value), start_line)
    return found


def read(path: str | Path, given_by: str = "--env-file") -> dict[str, Assignment]:
    """The assignments of the file at `path`; ConfigError naming the file (and `given_by`, the
    option or variable that named it) when it cannot be read, and the line when it is malformed."""
    path = Path(path).expanduser()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{given_by} names {path}, which is not there") from None
    except IsADirectoryError:
        raise ConfigError(f"{given_by} names {path}, which is a folder, not an environment file") from None
    except OSError as exc:
        raise ConfigError(f"{given_by} names {path}, which cannot be read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: is not UTF-8 text (byte {data[exc.start]:#04x})") from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise ConfigError(f"{path}:{line}: contains a NUL character")
    return parse(text, str(path))
