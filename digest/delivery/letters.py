"""The letters of one send: which one each reader gets, each rendered once.

`VariantLetters` holds an edition's variants: a reader's stored topics choose one
(digest.editions.variants), and a variant's Letter is rendered the first time a
reader needs it (Jinja fills the templates, MRML compiles them: once per variant).
Its subject, preheader and contents are its own; the editor's intro, order and
exclusions hold in all of them, and the editor's subject in the one that carries
every comparison (on a shorter list it could promise what is not there).

`OneLetter` sends one given Letter to every reader, topics unread: what tests and
benchmarks hand `send_edition` when they bring their own.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Engine
from sqlmodel import select

from digest.content.models import Comparison
from digest.editions.models import Edition
from digest.editions.service import variant_id, variant_keys
from digest.editions.variants import Chooser, Offered, key_of, parse_topics
from digest.mail import Letter
from digest.render import render_comparisons
from digest.render.context import Filtered
from digest.settings import Settings
from digest.store import session_scope

ONE = ""  # the variant key of OneLetter
TOPICS_MARK = "|"  # between a variant's key and the reader's topics, in the key of a letter


class OneLetter:
    def __init__(self, letter: Letter):
        self._letter = letter
        self.rendered: dict[str, Letter] = {ONE: letter}

    def choose(self, _topics_text: str | None) -> str:
        return ONE

    def why(self, _topics_text: str | None) -> str:  # never asked: everyone gets the letter
        return ""

    def letter(self, _key: str) -> Letter:
        return self._letter

    def variant_id(self, _connection, _key: str) -> None:
        return None

    def due_key(self, _connection, _variant: int | None, _topics_text: str | None) -> str:
        return ONE


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
        self._choices: dict[str | None, str | None] = {}
        self.why = self.chooser.why
        self.rendered: dict[str, Letter] = {}
        self._ids: dict[str, int] = {}
        self._keys: dict[int, str] = {}

    def choose(self, topics_text: str | None) -> str | None:
        """The letter a reader's topics choose: their variant's key, and for a variant that leaves
        comparisons out, their topics after a `|` (its letter names them). The hot path: one dict
        look-up per reader once their topics have been seen."""
        try:
            return self._choices[topics_text]
        except KeyError:
            key = self.chooser.choose(topics_text)
            if key is not None and key != self.everything:
                key = f"{key}{TOPICS_MARK}{topics_text}"
            self._choices[topics_text] = key
            return key

    def letter(self, key: str) -> Letter:
        """The variant's Letter, rendered on first use."""
        found = self.rendered.get(key)
        if found is None:
            found = self.rendered[key] = self._render(key)
        return found

    def _render(self, key: str) -> Letter:
        key, _, topics_text = key.partition(TOPICS_MARK)
        ids = [c.id for c in self.chooser.comparisons(key)]
        filtered = None
        if key != self.everything:
            filtered = Filtered(tuple(parse_topics(topics_text)) if topics_text else (), self.offered - len(ids))
        with session_scope(self.engine) as session:
            rows = {c.id: c for c in session.exec(select(Comparison).where(Comparison.id.in_(ids))).all()}
            comparisons = [rows[i] for i in ids if i in rows]
            return render_comparisons(
                session,
                self.settings,
                number=self.number,
                week=self.week,
                comparisons=comparisons,
                intro=self.intro,
                subject=self.subject if key == self.everything else None,
                filtered=filtered,
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
        return key
