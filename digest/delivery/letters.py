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
readers who received any of those comparisons (one entry each, in memory).

`OneLetter` sends one given Letter to every reader, topics unread: what tests and
benchmarks hand `send_edition` when they bring their own.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Engine
from sqlmodel import select

from digest.content.models import Comparison
from digest.delivery.ledger import receivers
from digest.editions.models import CHANGED, RESULTS, Edition
from digest.editions.service import as_mailed, variant_id, variant_keys
from digest.editions.variants import Chooser, Offered, ids_of, key_of
from digest.mail import Letter
from digest.render import render_comparisons
from digest.settings import Settings
from digest.store import session_scope

ONE = ""  # the variant key of OneLetter


class OneLetter:
    def __init__(self, letter: Letter):
        self._letter = letter
        self.rendered: dict[str, Letter] = {ONE: letter}

    def choose(self, _topics_text: str | None, _reader_id: int | None = None) -> str:
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
    def __init__(self, engine: Engine, settings: Settings, edition: Edition, offered: Sequence[Offered]):
        self.engine, self.settings = engine, settings
        self.edition_id, self.number, self.week = edition.id, edition.number, edition.week
        self.subject, self.intro = edition.subject, edition.intro
        self.chooser = Chooser(offered)
        self.everything = key_of(offered)
        self.why = self.chooser.why
        self.rendered: dict[str, Letter] = {}
        self._ids: dict[str, int] = {}
        self._keys: dict[int, str] = {}
        with session_scope(engine) as session:
            self.results = {c: shot for (_, c), shot in as_mailed(session, [edition.id], RESULTS).items()}
            self.changed = {c: found for (_, c), found in as_mailed(session, [edition.id], CHANGED).items()}
            got = receivers(session.connection(), [*self.results, *self.changed])
        self._suffixes: dict[frozenset[int], str] = {}
        self.history = {reader: self._suffix(ids) for reader, ids in got.items()}
        self._keyed: dict[tuple[str, str], str] = {}

    def _suffix(self, received: frozenset[int]) -> str:
        found = self._suffixes.get(received)
        if found is None:
            voted = sorted(c for c in received if c in self.results)
            changed = sorted(c for c in received if c in self.changed)
            found = (f"|v{key_of(voted)}" if voted else "") + (f"|c{key_of(changed)}" if changed else "")
            self._suffixes[received] = found
        return found

    def choose(self, topics_text: str | None, reader_id: int | None = None) -> str | None:
        """The hot path: a dict look-up or two per reader."""
        base = self.chooser.choose(topics_text)
        if base is None:
            return None
        suffix = self.history.get(reader_id, "")
        if not suffix:
            return base
        key = self._keyed.get((base, suffix))
        if key is None:
            key = self._keyed[(base, suffix)] = base + suffix
        return key

    def letter(self, key: str) -> Letter:
        """The variant's Letter, rendered on first use."""
        found = self.rendered.get(key)
        if found is None:
            found = self.rendered[key] = self._render(key)
        return found

    def _render(self, key: str) -> Letter:
        ids = [c.id for c in self.chooser.comparisons(key)]
        loop = {part[:1]: ids_of(part[1:]) for part in key.split("|")[1:]}
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
                subject=self.subject if key.partition("|")[0] == self.everything else None,
                edition_id=self.edition_id,
                voted=[self.results[c] for c in loop.get("v", ()) if c in self.results],
                changed=[self.changed[c] for c in loop.get("c", ()) if c in self.changed],
            ).letter

    def variant_id(self, connection, key: str) -> int:
        """The variant's id in the store (registered on first use), for the ledger's rows."""
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
