"""Where the templates live, and the Jinja2 environments that read them.

In a checkout they are in ./templates; an installed wheel carries them as
digest/templates. Environments re-read a template whose file changed (Jinja's
auto_reload), which is what lets `digest editions preview --serve` pick up edits.
"""

from __future__ import annotations

import textwrap
from functools import lru_cache
from pathlib import Path

import jinja2

import digest


def templates_root() -> Path:
    packaged = Path(digest.__file__).resolve().parent / "templates"
    return packaged if packaged.is_dir() else Path(digest.__file__).resolve().parent.parent / "templates"


def wrap(value: object, width: int = 78, indent: int = 0, first: int = 0) -> str:
    """Lines of at most `width` columns, broken between words only: a URL (or any word longer than a
    line) is never cut and stands whole on a line of its own. `first` spaces open the first line,
    `indent` spaces the others. The text part's filter: `{{ c.summary | wrap(78) }}`."""
    text = str(value)
    if len(text) + first <= width and "\n" not in text and "  " not in text:
        return " " * first + text  # most lines: no need for textwrap's machinery (a text part has hundreds)
    return textwrap.fill(text, width, initial_indent=" " * first, subsequent_indent=" " * indent,
                         break_long_words=False, break_on_hyphens=False)


@lru_cache(maxsize=None)
def environment(kind: str, root: Path | None = None) -> jinja2.Environment:
    """'markup' escapes every value (MJML and HTML); 'text' writes values as they are (the text part)."""
    if kind not in ("markup", "text"):
        raise ValueError(f"unknown template kind {kind!r}")
    made = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root or templates_root())),
        autoescape=kind == "markup",
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=True,
    )
    made.filters["wrap"] = wrap
    return made
