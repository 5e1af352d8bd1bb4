"""What an import file says, as plain values, before anything touches the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from slugify import slugify


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

    def __post_init__(self):
        if not self.slug:
            object.__setattr__(self, "slug", slugify(self.title))
