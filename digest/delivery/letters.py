"""The letters of one send: which one each reader gets, each rendered once.

`VariantLetters` holds an edition's variants: a reader's stored topics choose one
(digest.editions.variants), and a variant's Letter is rendered the first time a
reader needs it (Jinja fills the templates, MRML compiles them: once per variant).
Its subject, preheader and contents are its own; the editor's intro, order and
exclusions hold in all of them, and the editor's subject in the one that carries
every comparison (on a shorter list it could promise what is not there).

A variant is content, not topics alone: the part of the verdict loop a reader gets ("How readers
voted" on the comparisons of the previous edition that they received, "Changed since you read it"
for the changed comparisons they were mailed; both frozen with the edition) depends on what earlier
editions mailed them. So a key is the comparisons' ids, then `|v` and the ids of the previous
edition's comparisons they received, then `|c` and the ids of the changed ones they were mailed
("12,15|v3,4|c7"; a part is left out when empty): readers whose mail is the same share one variant,
rendered once, however their histories differ otherwise. The history is read once per send, for the
readers who received any of those comparisons (one entry each, in memory). A letter of a variant
that leaves comparisons out also names the reader's topics ("Your topics: Voice · 4 more this week
on the web"), so its key adds them after TOPICS_MARK; the ledger records the variant without them.

A reader's cadence (subscribers.cadence) picks the send days they are due and their window: the
send days whose editions their letter carries. A reader not due gets NOT_DUE (no mail, no ledger
row). A weekly reader's window is this edition, as above. A longer window (a fortnightly or monthly
reader's) carries this edition's comparisons of their topics, then those of the earlier editions
in it, newest first; its key adds `|w` and the window's first send day ("12,15,3|w20261109|v3"),
so readers with the same window, topics and loop share one letter, and its letter is a function
of its key alone (a resend renders it again from the ledger's key). The windows are a pure function
of (cadence, since, send day): no ledger read, so `digest db prune` changes nothing here.

`OneLetter` sends one given Letter to every reader, topics unread: what tests and
benchmarks hand `send_edition` when they bring their own.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import fields, replace
from datetime import date
from itertools import count
from typing import NamedTuple

from sqlalchemy.engine import Engine
from sqlmodel import select

from digest.content.models import Comparison
from digest.delivery.ledger import receivers
from digest.delivery.summary import send_day_for
from digest.delivery.windows import Window, window_of
from digest.editions.models import CHANGED, RESULTS, Edition
from digest.editions.service import as_mailed, variant_id, variant_keys
from digest.editions.variants import Chooser, Offered, ids_of, key_of, parse_topics
from digest.mail import Letter
from digest.render import render_comparisons
from digest.render.context import ComparisonFacts, Filtered
from digest.render.store import comparison_facts
from digest.settings import Settings
from digest.store import session_scope
from subscribers import cadence as cadences

_SERIALS = count(1)  # each VariantLetters' own, so that two sends' letters of one key never share a serial

NOT_DUE = "\x00not due"  # what `choose` returns for a reader whose cadence skips this send day

ONE = ""  # the variant key of OneLetter
TOPICS_MARK = "\x1f"  # between a variant's key and the reader's topics (JSON: never holds it raw), in a letter's key


class OneLetter:
    def __init__(self, letter: Letter):
        self._letter = letter
        self.rendered: dict[str, Letter] = {ONE: letter}

    def choose(self, _topics_text: str | None, _reader_id: int | None = None, *_cadence) -> str:
        return ONE

    def why(self, _topics_text: str | None) -> str:  # never asked: everyone gets the letter
        return ""

    def letter(self, _key: str) -> Letter:
        return self._letter

    def variant_id(self, _connection, _key: str) -> None:
        return None

    def due_key(self, _connection, _variant: int | None, _topics_text: str | None) -> str:
        return ONE


def _deflated(part: str) -> bytes:
    return zlib.compress(part.encode(), 1)  # the fastest level: HTML shrinks ninefold all the same


def _inflated(packed: bytes) -> str:
    return zlib.decompress(packed).decode()


class _Group(NamedTuple):
    """The letter of readers who share topics, cadence and its day: its key is `head`, the loop's part
    a reader's history adds, then `tail` (their topics, for a letter that names them); `plain` without
    that part."""

    head: str
    tail: str
    plain: str


class Packed(NamedTuple):
    """A rendered letter kept small: the Letter without its parts, and the parts as UTF-8, deflated."""

    letter: Letter
    html: bytes
    text: bytes


class Unpacking(Letter):
    """A Letter handed out from its Packed form: its HTML and text are inflated when first read, then
    kept with it. A sender that keeps what it made of a letter by its serial (SendGrid's request JSON)
    never reads them again, so a send's later requests of a letter unpack nothing; another sender
    unpacks once per request. (Made from a Packed only: `dataclasses.replace` does not apply.)"""

    def __init__(self, packed: Packed):  # the dataclass's own __init__ is not called
        parts = {name: value for name, value in vars(packed.letter).items() if name not in ("html", "text")}
        vars(self).update(parts, _packed=packed)

    @property
    def html(self) -> str:
        return self._part("html", 1)

    @property
    def text(self) -> str:
        return self._part("text", 2)

    def __eq__(self, other: object) -> bool:  # equal to the Letter it was packed from
        if not isinstance(other, Letter):
            return NotImplemented
        return all(getattr(self, f.name) == getattr(other, f.name) for f in fields(Letter) if f.compare)

    __hash__ = Letter.__hash__

    def _part(self, name: str, index: int) -> str:
        found = vars(self).get(f"_{name}")
        if found is None:
            found = vars(self)[f"_{name}"] = _inflated(self._packed[index])
        return found


class VariantLetters:
    """`welcome`: a paragraph that opens every variant before the editor's intro (the welcome a
    reader's first edition carries when it goes out within minutes of their confirmation)."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        edition: Edition,
        offered: Sequence[Offered],
        welcome: str | None = None,
    ):
        self.engine, self.settings = engine, settings
        self.edition_id, self.number, self.week = edition.id, edition.number, edition.week
        self.subject = edition.subject
        self.intro = "\n\n".join(part for part in (welcome, edition.intro) if part) or None
        self.chooser = Chooser(offered)
        self.everything = key_of(offered)
        self.offered = len(offered)
        self.why = self.chooser.why
        self.rendered: dict[str, Packed] = {}  # key -> its letter, packed (see `letter`)
        self._serial = f"v{next(_SERIALS)}|"  # + a key: a letter's serial (senders keep its request by it)
        self._ids: dict[str, int] = {}
        self._keys: dict[int, str] = {}
        with session_scope(engine) as session:
            self.results = {c: shot for (_, c), shot in as_mailed(session, [edition.id], RESULTS).items()}
            self.changed = {c: found for (_, c), found in as_mailed(session, [edition.id], CHANGED).items()}
            got = receivers(session.connection(), [*self.results, *self.changed])
        self._suffixes: dict[frozenset[int], str] = {}
        self.history = {reader: self._suffix(ids) for reader, ids in got.items()}
        self._groups: dict[tuple, _Group | str | None] = {}  # (topics, cadence, since) -> see `_group`
        self._keyed: dict[tuple[_Group, str], str] = {}
        self.day = send_day_for(settings, edition.week)
        self._windows: dict[date, Window | None] = {}
        self._facts: dict[int, ComparisonFacts | None] = {}  # comparison id -> its card's facts (see _facts_of)

    def _suffix(self, received: frozenset[int]) -> str:
        found = self._suffixes.get(received)
        if found is None:
            voted = sorted(c for c in received if c in self.results)
            changed = sorted(c for c in received if c in self.changed)
            found = (f"|v{key_of(voted)}" if voted else "") + (f"|c{key_of(changed)}" if changed else "")
            self._suffixes[received] = found
        return found

    def choose(
        self,
        topics_text: str | None,
        reader_id: int | None = None,
        cadence: str | None = None,
        since: date | str | None = None,
    ) -> str | None:
        """The letter a reader gets: their variant's key (with the loop's part their history adds), and
        for a variant that leaves comparisons out, their topics after TOPICS_MARK (its letter names
        them); NOT_DUE when their cadence skips this send day. The hot path: two dict look-ups per
        reader once their topics, cadence and its day have been seen (a million readers share a few
        hundred of those)."""
        group = self._groups.get((topics_text, cadence, since), ...)
        if group is ...:
            group = self._groups[(topics_text, cadence, since)] = self._group(topics_text, cadence, since)
        if group is None or group is NOT_DUE:
            return group
        suffix = self.history.get(reader_id)
        if not suffix:
            return group.plain
        found = self._keyed.get((group, suffix))
        if found is None:
            found = self._keyed[(group, suffix)] = f"{group.head}{suffix}{group.tail}"
        return found

    def _group(self, topics_text: str | None, cadence: str | None, since: date | str | None) -> _Group | str | None:
        """What readers with these topics, cadence and cadence day get, their history aside."""
        window = None
        if cadence is not None and cadence != cadences.WEEKLY:
            start = cadences.window_start(cadence, cadences.since_of(since), self.day)
            if start is None:
                return NOT_DUE
            window = self._window(start)
        chooser, everything = (window.chooser, window.everything) if window else (self.chooser, self.everything)
        base = chooser.choose(topics_text)
        if base is None:
            return None
        head = f"{base}|w{window.start:%Y%m%d}" if window else base
        tail = f"{TOPICS_MARK}{topics_text or ''}" if base != everything else ""
        return _Group(head, tail, head + tail)

    def _window(self, start: date) -> Window | None:
        """The window (start, this send day] when it holds earlier editions than this one (else None:
        the letter is this edition's alone)."""
        if start not in self._windows:
            with session_scope(self.engine) as session:
                self._windows[start] = window_of(session, start, self.day, self.chooser.offered)
        return self._windows[start]

    def letter(self, key: str) -> Letter:
        """The variant's Letter, rendered on first use, then kept packed (its HTML and text as UTF-8
        bytes, deflated: a str holding one dash takes two bytes a character, and fortnightly and monthly
        readers bring hundreds of letters to a send; deflated, some 8 KB each instead of 170) and handed
        out as an Unpacking letter, whose parts are inflated only if a sender reads them."""
        packed = self.rendered.get(key)
        if packed is not None:
            return Unpacking(packed)
        found = replace(self._render(key), serial=self._serial + key)
        self.rendered[key] = Packed(replace(found, html="", text=""), _deflated(found.html), _deflated(found.text))
        return found

    def _render(self, key: str) -> Letter:
        key, _, topics_text = key.partition(TOPICS_MARK)
        ids = ids_of(key)
        parts = {part[:1]: part[1:] for part in key.split("|")[1:]}
        window = self._window(_from_mark(parts.pop("w"))) if "w" in parts else None
        loop = {name: ids_of(part) for name, part in parts.items()}
        everything = key.partition("|")[0] == (window.everything if window else self.everything)
        offered = len(window.chooser.offered) if window else self.offered
        filtered = None
        if not everything:
            filtered = Filtered(
                tuple(parse_topics(topics_text)) if topics_text else (),
                offered - len(ids),
                window.period if window else Filtered.period,
            )
        intro = "\n\n".join(part for part in (window.opening if window else None, self.intro) if part) or None
        with session_scope(self.engine) as session:
            facts = self._facts_of(session, ids)
            return render_comparisons(
                session,
                self.settings,
                number=self.number,
                week=self.week,
                comparisons=(),
                facts=facts,
                intro=intro,
                subject=self.subject if everything and window is None else None,
                edition_id=self.edition_id,
                voted=[self.results[c] for c in loop.get("v", ()) if c in self.results],
                changed=[self.changed[c] for c in loop.get("c", ()) if c in self.changed],
                filtered=filtered,
                period=window.period if window else None,
            ).letter

    def _facts_of(self, session, ids: list[int]) -> list[ComparisonFacts]:
        """What the cards of `ids` show, read once a send for all its letters (a comparison's facts are
        the same in every letter that carries it: as this edition froze it, else as it is now)."""
        missing = [i for i in ids if i not in self._facts]
        if missing:
            rows = session.exec(select(Comparison).where(Comparison.id.in_(missing))).all()
            self._facts.update(zip([c.id for c in rows], comparison_facts(session, rows, self.edition_id)))
            self._facts.update((i, None) for i in missing if i not in self._facts)  # gone from the store
        return [self._facts[i] for i in ids if self._facts[i] is not None]

    def variant_id(self, connection, key: str) -> int:
        """The variant's id in the store (registered on first use), for the ledger's rows."""
        key = key.partition(TOPICS_MARK)[0]
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = variant_id(connection, self.edition_id, key)
            self._keys[found] = key
        return found

    def due_key(self, connection, variant: int | None, topics_text: str | None) -> str | None:
        """The variant the ledger says a reader was due; for a row without one, their topics choose."""
        if variant is None:
            return self.choose(topics_text)
        if variant not in self._keys:
            self._keys.update(variant_keys(connection, self.edition_id))
        key = self._keys[variant]
        self._ids.setdefault(key, variant)
        if key.partition("|")[0] != self.everything:
            return f"{key}{TOPICS_MARK}{topics_text or ''}"  # its letter names the reader's topics
        return key


def _from_mark(mark: str) -> date:
    return date(int(mark[:4]), int(mark[4:6]), int(mark[6:8]))
