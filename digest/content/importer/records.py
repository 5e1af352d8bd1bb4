"""What an import file says, as plain values, before anything touches the store.

The same limits hold whatever the format (`check_record`): text lengths the
store keeps (a longer value would fail on PostgreSQL and be kept on SQLite),
and text that a page, a mail header or a terminal can carry. Control characters
are refused: a one-line field takes none (a tab is fine), a multi-line field
takes line breaks and tabs.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

from slugify import slugify

from digest.errors import ImportFailed

# The longest text each field may hold, in characters.
LIMITS = {
    "title": 300,
    "summary": 2000,
    "url": 2000,
    "name": 200,
    "category": 200,
    "tagline": 300,
    "description": 10_000,
    "entry_price": 200,
    "quote": 5000,
    "tool": 200,
}
SLUG_LIMITS = {"comparison": 400, "tool": 200}  # what the store keeps of a slug, made or given
MULTILINE = frozenset({"summary", "description", "quote"})
_NAMES = {0x00: "NUL", 0x07: "BEL", 0x08: "BS", 0x0D: "CR", 0x1B: "ESC", 0x7F: "DEL"}


def text_problem(value: str, multiline: bool) -> str | None:
    """Why `value` cannot be stored as text, or None. Line breaks count only in a multi-line field
    (where a CR is taken for the line break it is)."""
    for ch in value:
        if ch == "\t" or (multiline and ch in "\r\n"):
            continue
        kind = unicodedata.category(ch)
        if kind == "Cs":
            return f"contains an invalid character (a lone surrogate U+{ord(ch):04X})"
        if kind == "Cc" or ch in "\u2028\u2029":
            name = _NAMES.get(ord(ch))
            what = "a line break" if ch in "\n\r\u2028\u2029" else "the control character"
            return (
                f"contains {what} U+{ord(ch):04X}"
                + (f" ({name})" if name else "")
                + ("; it must be one line" if ch in "\n\r\u2028\u2029" else "")
            )
    return None


def one_text(value: str, field_name: str) -> str:
    """`value` checked as the text of `field_name` (ValueError says why not); CRLF becomes LF."""
    multiline = field_name in MULTILINE
    problem = text_problem(value, multiline)
    if problem:
        raise ValueError(problem)
    limit = LIMITS.get(field_name)
    if limit is not None and len(value) > limit:
        raise ValueError(f"is {len(value):,} characters long; at most {limit:,} are allowed")
    return value.replace("\r\n", "\n").replace("\r", "\n") if multiline else value


@dataclass(frozen=True)
class ToolRecord:
    name: str
    category: str
    tagline: str
    description: str
    panel_ship: float
    community: float | None  # None: no community votes yet ("—" on the page)
    entry_price: str
    slug: str = ""

    def __post_init__(self):
        if not self.slug:
            object.__setattr__(self, "slug", slugify(self.name))


@dataclass(frozen=True)
class ReviewRecord:
    tool_index: int  # 0 or 1: which of the comparison's two tools
    lens: str
    quote: str
    verdict: str = "unknown"


@dataclass(frozen=True)
class ComparisonRecord:
    source: str  # file (and place in it) this came from, for messages
    title: str
    summary: str
    tools: tuple[ToolRecord, ToolRecord]
    reviews: tuple[ReviewRecord, ...]
    published_at: datetime | None = None  # None: the command's --published-at, or now
    url: str | None = None  # None: built from the site URL and the slug
    slug: str = field(default="")
    lang: str | None = None  # a standard BCP 47 tag (digest.language); None: the newsletter's language

    def __post_init__(self):
        if not self.slug:
            object.__setattr__(self, "slug", slugify(self.title))


def check_record(record: ComparisonRecord, path: str) -> None:
    """ImportFailed naming the field when a value breaks the limits above (page exports reach
    the store through here; JSON files are checked field by field as they are read)."""
    fields = [("title", record.title), ("summary", record.summary), ("url", record.url or "")]
    for index, tool in enumerate(record.tools):
        fields += [
            (f"tools[{index}].{name}", getattr(tool, name))
            for name in ("name", "category", "tagline", "description", "entry_price")
        ]
    fields += [(f"reviews[{index}].quote", review.quote) for index, review in enumerate(record.reviews)]
    for where, value in fields:
        try:
            one_text(value, where.rpartition(".")[2])
        except ValueError as exc:
            raise ImportFailed(path, None, f"{where}: {exc}") from None
    slugs = [("slug", record.slug, SLUG_LIMITS["comparison"])]
    slugs += [(f"tools[{index}].slug", tool.slug, SLUG_LIMITS["tool"]) for index, tool in enumerate(record.tools)]
    for where, slug, limit in slugs:
        if len(slug) > limit:
            raise ImportFailed(
                path,
                None,
                f"{where}: {slug[:40]}... is {len(slug):,} characters long; at most "
                f"{limit:,} are allowed (shorten the name it is made from)",
            )
