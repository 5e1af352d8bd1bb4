"""Rendering an edition: context (pure), Jinja2 + MJML for the HTML, a template of its own for the text.

    render_edition(session, edition, settings) -> RenderedEdition
        reads the edition's comparisons, then calls the pure core:
    compose(...) -> EditionView          what the email shows, links included
    render_view(view) -> (html, text)    Jinja fills templates/email/edition.mjml.j2, MRML compiles it,
                                         as many cards as fit under Gmail's clipping point (clip.py);
                                         templates/email/edition.txt.j2 gives the plain-text part

The HTML is compiled once per edition. Per-reader links hold READER_TOKEN
(digest.mail.placeholders), which a sender fills per recipient.

The confirmation mail renders in confirmation.py (`render_confirmation`), through the same
`templates.fill`: a template error in any email is an EditionError naming the file and line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from slugify import slugify
from sqlmodel import Session

from digest.content.versions import changes
from digest.content.votes import MIN_VOTES
from digest.editions.models import Edition
from digest.editions.service import edition_comparisons
from digest.mail import Letter
from digest.render.clip import CLIP_LIMIT, fit
from digest.render.compile import compile_mjml
from digest.render.context import (
    ComparisonFacts,
    EditionView,
    Filtered,
    changed_view,
    comparison_view,
    edition_view,
    voted_view,
)
from digest.render.headline import preheader_line, subject_line
from digest.render.store import comparison_facts
from digest.render.templates import fill, template_file, templates_root
from digest.settings import Settings

__all__ = ["RenderedEdition", "compose", "feedback_id", "list_id", "render_edition", "render_view", "templates_root"]

HTML_TEMPLATE = "email/edition.mjml.j2"
TEXT_TEMPLATE = "email/edition.txt.j2"


@dataclass(frozen=True)
class RenderedEdition:
    letter: Letter  # subject, html and text with placeholders; the same for every reader
    view: EditionView
    mjml: str  # the source MRML compiled, for anyone debugging a template


def compose(
    *,
    number: int,
    week: str,
    facts: Sequence[ComparisonFacts],
    settings: Settings,
    subject: str | None = None,
    intro: str | None = None,
    votes: bool = True,
    voted: Sequence[dict] = (),
    changed: Sequence[dict] = (),
) -> EditionView:
    """Everything the templates need, from plain values; `voted` and `changed` are the reader's part of
    the verdict loop (digest.editions.service: RESULTS and CHANGED, as the edition froze them)."""
    comparisons = [
        comparison_view(i, f, settings.base_url, votes, settings.language) for i, f in enumerate(facts, start=1)
    ]
    view = edition_view(
        number=number,
        week=week,
        subject=subject_line([f.title for f in facts], subject),
        preheader=preheader_line([(c.verdict, c.verdict_detail) for c in comparisons], intro),
        intro=intro,
        comparisons=comparisons,
        newsletter_name=settings.newsletter_name,
        base_url=settings.base_url,
        postal_address=settings.postal_address,
        language=settings.language,
    )
    return replace(
        view,
        voted=tuple(voted_view(shot, settings.base_url, MIN_VOTES) for shot in voted),
        changed=tuple(changed_view(found, settings.base_url, changes) for found in changed),
    )


def _fill(kind: str, name: str, view: EditionView, root: Path | None, override: Path | None) -> str:
    return fill(kind, name, root, override, e=view)


def _render(
    view: EditionView,
    root: Path | None,
    limit: int | None,
    override: Path | None = None,
    click_tracking: bool = False,
) -> tuple[EditionView, str, str, str]:
    """(the view as it fits, html, text, mjml); `limit` None: every comparison as a card.
    Templates in `override` (DIGEST_TEMPLATES) come first; `click_tracking` counts SendGrid's
    rewritten links in the size."""
    sources: dict[int, str] = {}  # the MJML of each attempt, by the id of its view

    def compile_view(shaped: EditionView) -> str:
        sources[id(shaped)] = _fill("markup", HTML_TEMPLATE, shaped, root, override)
        return compile_mjml(sources[id(shaped)], template_file(HTML_TEMPLATE, root, override))

    if limit is None:
        html = compile_view(view)
    else:
        view, html = fit(view, compile_view, limit, click_tracking)
    return view, html, _fill("text", TEXT_TEMPLATE, view, root, override), sources[id(view)]


def render_view(
    view: EditionView, root: Path | None = None, override: Path | None = None, *, limit: int | None = CLIP_LIMIT
) -> tuple[str, str, str]:
    """(html, text, mjml) for one edition view, its HTML under `limit` bytes for every reader;
    templates in `override` (DIGEST_TEMPLATES) come first."""
    _view, html, text, source = _render(view, root, limit, override)
    return html, text, source


def list_label(settings: Settings) -> str:
    """'weekly-ai-tool-verdicts': the newsletter's name as a label (lower-case ASCII letters, digits,
    dashes), accents and other scripts transliterated ("L'Édition" is 'l-edition', not 'l-dition')."""
    return slugify(settings.newsletter_name) or "digest"


def list_id(settings: Settings) -> str:
    """RFC 2919: 'Weekly AI Tool Verdicts <weekly-ai-tool-verdicts.example.com>'."""
    domain = settings.from_address.rpartition("@")[2] or "localhost"
    phrase = re.sub(r'[\r\n"<>]', "", settings.newsletter_name)
    return f"{phrase} <{list_label(settings)}.{domain}>"


def feedback_id(settings: Settings, campaign: str, kind: str) -> str:
    """Gmail's feedback loop header, 'campaign:kind:digest:sender': Gmail reports complaint rates per
    value of each field, the last one (the newsletter, constant across campaigns) naming the sender.
    'edition-12:weekly:digest:weekly-ai-tool-verdicts'."""
    return f"{campaign}:{kind}:digest:{list_label(settings)}"


def letter_for(view: EditionView, html: str, text: str, settings: Settings) -> Letter:
    return Letter(
        subject=view.subject,
        html=html,
        text=text,
        from_address=settings.from_address,
        from_name=settings.newsletter_name,
        reply_to=settings.reply_to,
        headers={
            "List-Id": list_id(settings),
            "Feedback-ID": feedback_id(settings, f"edition-{view.number}", "weekly"),
        },
        categories=("edition", f"edition-{view.number}"),
    )


def render_comparisons(
    session: Session,
    settings: Settings,
    *,
    number: int,
    week: str,
    comparisons,
    subject: str | None = None,
    intro: str | None = None,
    root: Path | None = None,
    edition_id: int | None = None,
    voted: Sequence[dict] = (),
    changed: Sequence[dict] = (),
    filtered: Filtered | None = None,
    period: str | None = None,
    facts: Sequence[ComparisonFacts] | None = None,
) -> RenderedEdition:
    """`comparisons` as edition `edition_id` mailed them, once it froze (else as they are now), with the
    reader's part of the verdict loop (`voted`, `changed`: see compose). `facts`, when the caller read
    them already (a send's letters share their comparisons' facts), stand for `comparisons`."""
    view = compose(
        number=number,
        week=week,
        facts=comparison_facts(session, comparisons, edition_id) if facts is None else facts,
        settings=settings,
        subject=subject,
        intro=intro,
        voted=voted,
        changed=changed,
    )
    if filtered is not None:
        view = replace(view, filtered=filtered)
    if period is not None:  # a fortnightly or monthly letter, gathering several editions
        view = replace(view, period=period)
    view, html, text, source = _render(view, root, CLIP_LIMIT, settings.templates, settings.click_tracking)
    return RenderedEdition(letter=letter_for(view, html, text, settings), view=view, mjml=source)


def render_edition(
    session: Session, edition: Edition, settings: Settings, *, root: Path | None = None
) -> RenderedEdition:
    """The edition's Letter, compiled once; per-reader links carry READER_TOKEN."""
    return render_comparisons(
        session,
        settings,
        number=edition.number,
        week=edition.week,
        comparisons=edition_comparisons(session, edition),
        subject=edition.subject,
        intro=edition.intro,
        root=root,
        edition_id=edition.id,
    )
