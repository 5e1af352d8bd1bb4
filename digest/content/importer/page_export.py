"""Parser for the site's comparison page export (plain text, one field per line).

    AI tool comparison                  (optional banner)
    A vs B                              title
    Which one should you ship with? ... summary
    <category> / <name> / <tagline>     tool A block ...
    75% / Panel ship                    panel ship share
    — / Community                       community vote, "—" when nobody voted
    Paid / Entry                        entry price
    <description>                       one or more lines
    ... tool B block, the same ...
    Reviewer scorecard
    “quote”  x 8                        builder A, builder B, competition A, B, thesis A, B, buyer A, B
    (anything after the scorecard is the site's footer and is ignored)

Every error names the line and what was expected there.
"""

from __future__ import annotations

import re

from digest.content.importer.records import ComparisonRecord, ReviewRecord, ToolRecord
from digest.content.models import LENSES
from digest.errors import ImportFailed

BANNER = "AI tool comparison"
SCORECARD = "Reviewer scorecard"
NO_VOTES = {"—", "–", "-"}
OPEN_QUOTES, CLOSE_QUOTES = ("“", '"'), ("”", '"')
_PERCENT = re.compile(r"^(\d{1,3}(?:\.\d+)?)\s?%$")


class _Lines:
    """The non-blank lines of a file with their 1-based line numbers, read front to back."""

    def __init__(self, text: str, path: str):
        self.path = path
        self.items = [(n, line.rstrip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
        self.at = 0

    def peek(self, ahead: int = 0) -> tuple[int, str] | None:
        index = self.at + ahead
        return self.items[index] if index < len(self.items) else None

    def take(self, expected: str) -> tuple[int, str]:
        item = self.peek()
        if item is None:
            last = self.items[-1][0] if self.items else 0
            raise ImportFailed(self.path, last + 1, f"the file ends where {expected} was expected")
        self.at += 1
        return item

    def fail(self, line: int, reason: str) -> ImportFailed:
        return ImportFailed(self.path, line, reason)


def _percent(lines: _Lines, what: str, allow_none: bool = False) -> float | None:
    line, text = lines.take(what)
    if allow_none and text.strip() in NO_VOTES:
        return None
    match = _PERCENT.match(text.strip())
    if not match or float(match.group(1)) > 100:
        hint = ' or "—" for no votes yet' if allow_none else ""
        raise lines.fail(line, f"expected {what} as a percentage from 0% to 100% (like 75%){hint}, found {text!r}")
    return float(match.group(1))


def _label(lines: _Lines, label: str) -> None:
    line, text = lines.take(f"the label {label!r}")
    if text.strip() != label:
        raise lines.fail(line, f"expected the label {label!r}, found {text!r}")


def _tool_block(lines: _Lines, name: str, stop_before) -> ToolRecord:
    _, category = lines.take(f"the category of {name}")
    line, found = lines.take(f"the tool name {name!r}")
    if found.strip() != name:
        raise lines.fail(line, f"expected the tool name {name!r} (from the title), found {found!r}")
    _, tagline = lines.take(f"the tagline of {name}")
    panel = _percent(lines, f"the panel ship share of {name}")
    _label(lines, "Panel ship")
    community = _percent(lines, f"the community vote of {name}", allow_none=True)
    _label(lines, "Community")
    _, price = lines.take(f"the entry price of {name}")
    _label(lines, "Entry")
    start, first = lines.take(f"the description of {name}")
    description = [first]
    while lines.peek() is not None and not stop_before(lines):
        description.append(lines.take("")[1])
    if lines.peek() is None:
        raise lines.fail(
            start, f"the description of {name} runs to the end of the file; expected the next block after it"
        )
    return ToolRecord(
        name=name,
        category=category.strip(),
        tagline=tagline.strip(),
        description="\n".join(description).strip(),
        panel_ship=panel,
        community=community,
        entry_price=price.strip(),
    )


def _quote(lines: _Lines, what: str) -> str:
    line, text = lines.take(what)
    if not text.startswith(OPEN_QUOTES):
        raise lines.fail(line, f"expected {what}, a quote opening with “, found {text[:60]!r}")
    parts = [text]
    while not (parts[-1].endswith(CLOSE_QUOTES) and (len(parts) > 1 or len(parts[-1]) > 1)):
        if lines.peek() is None:
            raise lines.fail(line, f"{what} opens here but never closes with ” (is the scorecard cut off?)")
        parts.append(lines.take("")[1])
    return "\n".join(parts)[1:-1]


def parse_page(text: str, path: str) -> ComparisonRecord:
    """One comparison from a page export's text; ImportFailed names the line that is off."""
    lines = _Lines(text, path)
    if lines.peek() and lines.peek()[1].strip() == BANNER:
        lines.take(BANNER)
    line, title = lines.take("the title 'A vs B'")
    names = [part.strip() for part in title.split(" vs ")]
    if len(names) != 2 or not all(names):
        raise lines.fail(line, f"expected the title as 'Tool A vs Tool B', found {title!r}")
    if names[0] == names[1]:
        raise lines.fail(line, f"the title compares {names[0]!r} with itself")
    _, summary = lines.take("the summary line")

    def before_b(ls: _Lines) -> bool:  # tool B's block starts with its category, then its name
        nxt = ls.peek(1)
        return nxt is not None and nxt[1].strip() == names[1]

    def before_scorecard(ls: _Lines) -> bool:
        return ls.peek()[1].strip() == SCORECARD

    tool_a = _tool_block(lines, names[0], before_b)
    tool_b = _tool_block(lines, names[1], before_scorecard)
    _label(lines, SCORECARD)
    reviews = []
    for lens in LENSES:
        for index, name in enumerate(names):
            quote = _quote(lines, f"the {lens} quote about {name}")
            reviews.append(ReviewRecord(tool_index=index, lens=lens, quote=quote))
    if lines.peek() is not None and lines.peek()[1].startswith(OPEN_QUOTES):
        raise lines.fail(
            lines.peek()[0], f"expected {len(LENSES) * 2} scorecard quotes ({len(LENSES)} lenses x 2 tools), found more"
        )
    return ComparisonRecord(
        source=path, title=title.strip(), summary=summary.strip(), tools=(tool_a, tool_b), reviews=tuple(reviews)
    )
