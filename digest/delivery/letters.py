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
from dataclasses import dataclass, replace
from datetime import date
from itertools import count
from typing import NamedTuple

from sqlalchemy.engine import Engine
from sqlmodel import select

from digest.content.models import Comparison
from digest.delivery.ledger import receivers
from digest.delivery.summary import send_day_for
from digest.editions.models import CHANGED, RESULTS, Edition
from digest.editions.service import as_mailed, offered, variant_id, variant_keys
from digest.editions.variants import Chooser, Offered, ids_of, key_of, parse_topics
from digest.mail import Letter
from digest.render import render_comparisons
from digest.render.context import Filtered
from digest.settings import Settings
from digest.store import session_scope
from digest.weeks import week_for_day
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


class Packed(NamedTuple):
    """A rendered letter kept small: the Letter without its parts, and the parts as UTF-8, deflated."""

    letter: Letter
    html: bytes
    text: bytes


class VariantLetters:
    """`welcome`: a paragraph that opens every variant before the editor's intro (the welcome a
    reader's first edition carries when it goes out within minutes of their confirmation)."""

    # Letters kept unpacked: a flush takes up to AHEAD (64) requests' letters, then sends them in turn, so
    # fewer than that would unpack every one twice (a wave's last flush holds a request for every key).
    RECENT = 80

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
        self._recent: dict[str, Letter] = {}
        self._ids: dict[str, int] = {}
        self._keys: dict[int, str] = {}
        with session_scope(engine) as session:
            self.results = {c: shot for (_, c), shot in as_mailed(session, [edition.id], RESULTS).items()}
            self.changed = {c: found for (_, c), found in as_mailed(session, [edition.id], CHANGED).items()}
            got = receivers(session.connection(), [*self.results, *self.changed])
        self._suffixes: dict[frozenset[int], str] = {}
        self.history = {reader: self._suffix(ids) for reader, ids in got.items()}
        self._choices: dict[str | None, str | None] = {}
        self._keyed: dict[tuple[str, str, str | None], str] = {}
        self.day = send_day_for(settings, edition.week)
        self._starts: dict[tuple[str, object], date | None] = {}  # (cadence, since as read) -> window start
        self._windows: dict[date, Window | None] = {}
        self._window_keys: dict[tuple[date, str, str, str | None], str] = {}

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
        them); NOT_DUE when their cadence skips this send day. The hot path: a dict look-up or two
        per reader once their topics (and cadence and its day) have been seen."""
        if cadence is not None and cadence != cadences.WEEKLY:
            start = self._starts.get((cadence, since), ...)
            if start is ...:
                start = cadences.window_start(cadence, cadences.since_of(since), self.day)
                self._starts[(cadence, since)] = start
            if start is None:
                return NOT_DUE
            window = self._window(start)
            if window is not None:
                return self._choose_in(window, topics_text, reader_id)
        base = self._choices.get(topics_text, ...)
        if base is ...:
            base = self._choices[topics_text] = self.chooser.choose(topics_text)
        if base is None:
            return None
        suffix = self.history.get(reader_id, "")
        found = self._keyed.get((base, suffix, topics_text))
        if found is None:
            found = base + suffix
            if base != self.everything:
                found = f"{found}{TOPICS_MARK}{topics_text or ''}"
            self._keyed[(base, suffix, topics_text)] = found
        return found

    def _window(self, start: date) -> Window | None:
        """The window (start, this send day] when it holds earlier editions than this one (else None:
        the letter is this edition's alone)."""
        if start not in self._windows:
            self._windows[start] = _window_of(self.engine, start, self.day, self.chooser.offered, self.week)
        return self._windows[start]

    def _choose_in(self, window: Window, topics_text: str | None, reader_id: int | None) -> str | None:
        base = window.chooser.choose(topics_text)
        if base is None:
            return None
        suffix = self.history.get(reader_id, "")
        found = self._window_keys.get((window.start, base, suffix, topics_text))
        if found is None:
            found = f"{base}|w{window.start:%Y%m%d}{suffix}"
            if base != window.everything:
                found = f"{found}{TOPICS_MARK}{topics_text or ''}"
            self._window_keys[(window.start, base, suffix, topics_text)] = found
        return found

    def letter(self, key: str) -> Letter:
        """The variant's Letter, rendered on first use. Kept packed (its HTML and text as UTF-8 bytes,
        deflated: a str holding one dash takes two bytes a character, and fortnightly and monthly readers
        bring hundreds of letters to a send; deflated, some 8 KB each instead of 75), with the last
        RECENT ones at hand as they are."""
        found = self._recent.pop(key, None)
        if found is None:
            packed = self.rendered.get(key)
            if packed is None:
                found = replace(self._render(key), serial=self._serial + key)
                self.rendered[key] = Packed(
                    replace(found, html="", text=""), _deflated(found.html), _deflated(found.text)
                )
            else:
                found = replace(packed.letter, html=_inflated(packed.html), text=_inflated(packed.text))
            if len(self._recent) >= self.RECENT:
                self._recent.pop(next(iter(self._recent)))
        self._recent[key] = found  # the most recent last
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
            rows = {c.id: c for c in session.exec(select(Comparison).where(Comparison.id.in_(ids))).all()}
            comparisons = [rows[i] for i in ids if i in rows]
            return render_comparisons(
                session,
                self.settings,
                number=self.number,
                week=self.week,
                comparisons=comparisons,
                intro=intro,
                subject=self.subject if everything and window is None else None,
                edition_id=self.edition_id,
                voted=[self.results[c] for c in loop.get("v", ()) if c in self.results],
                changed=[self.changed[c] for c in loop.get("c", ()) if c in self.changed],
                filtered=filtered,
                period=window.period if window else None,
            ).letter

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


@dataclass(frozen=True)
class Window:
    """A letter's window that holds earlier editions: its first send day (excluded), the comparisons
    of its editions (this one's first, in the editor's order, then each earlier one's, newest first),
    and what its letters say of it."""

    start: date
    chooser: Chooser
    everything: str  # the key of every comparison in it
    editions: int

    @property
    def period(self) -> str:
        return f"since {self.start:%A} {self.start.day} {self.start:%B}"

    @property
    def opening(self) -> str:
        return (
            f"This letter gathers the comparisons of {self.editions} weekly editions, "
            f"{self.period}; your cadence is set on your preferences page."
        )


def _from_mark(mark: str) -> date:
    return date(int(mark[:4]), int(mark[4:6]), int(mark[6:8]))


def _window_of(engine: Engine, start: date, day: date, current: Sequence[Offered], current_week: str) -> Window | None:
    """The editions of the send days in (start, day) that went out (frozen), with this one's first."""
    weeks = [week_for_day(sent) for sent in cadences.send_days_in(start, day)[1:]]
    if not weeks:
        return None
    with session_scope(engine) as session:
        editions = {
            e.week: e
            for e in session.exec(select(Edition).where(Edition.week.in_(weeks), Edition.frozen_at.is_not(None))).all()
        }
        earlier = [offered(session, editions[week]) for week in weeks if week in editions]
    if not earlier:
        return None
    seen = {c.id for c in current}
    comparisons = list(current)
    for listed in earlier:
        for c in listed:
            if c.id not in seen:
                seen.add(c.id)
                comparisons.append(c)
    return Window(start, Chooser(comparisons), key_of(comparisons), 1 + len(earlier))
