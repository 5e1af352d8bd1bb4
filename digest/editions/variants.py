"""Variants, the pure core of personal editions: which of an edition's comparisons a reader gets.

A comparison belongs to the categories of its two tools. A reader who chose topics gets the
comparisons that share at least one of them; a reader who chose none gets every one. Readers who
get the same list share a variant: it is rendered once, with its own subject, preheader and
contents. The editor's order and exclusions hold in every variant (a variant is the edition's own
list, in its order, with some left out). A reader whose topics match nothing gets no mail that week.

A variant is named by its key: the ids of its comparisons in the edition's order, "12,15,19".
No store in sight: the send loop, the dry run and the preview all call these functions.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

UNMATCHED = "their topics match none of this edition's comparisons"
UNREADABLE = "their stored topics cannot be read"


@dataclass(frozen=True)
class Offered:
    """A comparison as variants see it: its id, its slug and its tools' categories."""

    id: int
    slug: str
    categories: frozenset[str]


@dataclass(frozen=True)
class Variant:
    key: str
    comparisons: tuple[Offered, ...]
    readers: int = 0

    @property
    def slugs(self) -> list[str]:
        return [c.slug for c in self.comparisons]


def pick(topics: Collection[str], offered: Sequence[Offered]) -> tuple[Offered, ...]:
    """The comparisons a reader with `topics` gets, in the edition's order (all of them for no topics)."""
    if not topics:
        return tuple(offered)
    chosen = set(topics)
    return tuple(c for c in offered if c.categories & chosen)


def key_of(comparisons: Iterable[Offered | int]) -> str:
    return ",".join(str(c if isinstance(c, int) else c.id) for c in comparisons)


def ids_of(key: str) -> list[int]:
    """The comparison ids a key names (what follows a "|" says what else the variant carries)."""
    return [int(part) for part in key.partition("|")[0].split(",") if part]


def variant_key(topics: Collection[str], offered: Sequence[Offered]) -> str | None:
    """A reader's variant, or None when their topics match none of the comparisons."""
    picked = pick(topics, offered)
    return key_of(picked) if picked else None


def parse_topics(text: str | None) -> list[str]:
    """The topics column as stored (JSON text); ValueError when it is not a list of names."""
    if text is None or text == "":
        return []
    value = json.loads(text)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"expected a list of topic names, got {text[:80]!r}")
    return value


class Chooser:
    """Reader topics, as their stored JSON text, -> variant key; cached, because a million readers
    share a few dozen topic sets. `choose` returns None for a reader who gets no mail, and `why`
    then says which reason applies."""

    def __init__(self, offered: Sequence[Offered]):
        self.offered = tuple(offered)
        self._keys: dict[str | None, str | None] = {}
        self._reasons: dict[str | None, str] = {}

    def choose(self, topics_text: str | None) -> str | None:
        try:
            return self._keys[topics_text]
        except KeyError:
            pass
        try:
            key = variant_key(parse_topics(topics_text), self.offered)
            if key is None:
                self._reasons[topics_text] = UNMATCHED
        except ValueError:
            key = None
            self._reasons[topics_text] = UNREADABLE
        self._keys[topics_text] = key
        return key

    def why(self, topics_text: str | None) -> str:
        return self._reasons.get(topics_text, UNMATCHED)

    def comparisons(self, key: str) -> tuple[Offered, ...]:
        wanted = set(ids_of(key))
        return tuple(c for c in self.offered if c.id in wanted)


@dataclass(frozen=True)
class Grouping:
    variants: tuple[Variant, ...]  # most readers first
    unmatched: int  # readers who get no mail: topics that match nothing (or cannot be read)


def group(topic_counts: Iterable[tuple[str | None, int]], offered: Sequence[Offered]) -> Grouping:
    """Readers counted per stored topics text -> the edition's variants with their reader counts."""
    chooser = Chooser(offered)
    readers: dict[str, int] = {}
    unmatched = 0
    for text, count in topic_counts:
        key = chooser.choose(text)
        if key is None:
            unmatched += count
        else:
            readers[key] = readers.get(key, 0) + count
    variants = [Variant(key, chooser.comparisons(key), n) for key, n in readers.items()]
    variants.sort(key=lambda v: (-v.readers, -len(v.comparisons), v.key))
    return Grouping(tuple(variants), unmatched)


def for_topics(topics: Collection[str], offered: Sequence[Offered]) -> Variant | None:
    """The variant a reader with `topics` gets (a preview asks this), or None."""
    picked = pick(topics, offered)
    return Variant(key_of(picked), picked) if picked else None
