"""Editing a draft on the desk: its subject and intro, and its comparisons' order and which it leaves out.

    POST /desk/editions/N/words         save the subject and the intro
    POST /desk/editions/N/move          move comparison `slug` one place up or down (`direction`)
    POST /desk/editions/N/leave-out     leave comparison `slug` out
    POST /desk/editions/N/bring-back    bring a left-out comparison `slug` back (or a backlog one in)

Each is `digest editions edit` (digest.editors.approvals.edit_as): the same rules and messages, the change
in the audit log, approvals given before it withdrawn. A refusal re-shows the edition's page with the
message next to the field (409 for the edition's state, 422 for what was typed), nothing written; a
change redirects (303) back to the page with a short notice.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from digest.editions.service import clean_intro, clean_subject, edition_comparisons, get_edition, refuse_unless_draft
from digest.editors.approvals import edit_as
from digest.errors import EditionError
from digest.web.deps import settings_of
from digest.web.desk import session as desk_session
from digest.web.desk.week import render_week
from digest.web.errors import ClientError

router = APIRouter(tags=["desk"])
MAX_SLUG = 300


def _text(fields: dict, name: str) -> str | None:
    """A text field's value; None when the form leaves it out (so it is not changed)."""
    value = fields.get(name)
    if value is not None and not isinstance(value, str):
        raise ClientError(422, f"{name} must be text", field=name)
    return value


def _slug(fields: dict) -> str:
    slug = fields.get("slug")
    if not isinstance(slug, str) or not slug or len(slug) > MAX_SLUG:
        raise ClientError(422, "say which comparison: slug must be a comparison's slug", field="slug")
    return slug


def _back(number: int, edited: str) -> RedirectResponse:
    return RedirectResponse(f"/desk/editions/{number}?edited={edited}#edit", status_code=303)


def _refused(request: Request, desk, number: int, exc: EditionError, field: str, given: dict) -> Response:
    """The edition's page again, the refusal next to `field`, what was typed kept."""
    status = 422 if field in ("subject", "intro") else 409
    return render_week(request, desk, number, status_code=status, edit_errors={field: str(exc)}, given=given)


@router.post("/desk/editions/{number}/words", summary="Save a draft edition's subject and intro (editors)")
async def save_words(request: Request, number: desk_session.EditionNumber) -> Response:
    desk, fields = await desk_session.desk_form(request, "the subject and intro")
    subject, intro = _text(fields, "subject"), _text(fields, "intro")
    given = {k: v for k, v in (("subject", subject), ("intro", intro)) if v is not None}
    field = "edition"

    def run() -> bool:
        """The CLI's checks in its order (a draft, the subject, the intro), each naming its field."""
        nonlocal field
        with request.app.state.writes.session() as session:
            edition = get_edition(session, number=number)
            refuse_unless_draft(edition)
            changes = {}
            field = "subject"
            if subject is not None and (clean_subject(subject) or None) != edition.subject:
                changes["subject"] = subject
            field = "intro"
            if intro is not None and (clean_intro(intro) or None) != edition.intro:
                changes["intro"] = intro
            field = "edition"
            if changes:  # saving the same words writes nothing
                edit_as(session, settings_of(request), number, desk.name, **changes)
            return bool(changes)

    try:
        changed = await run_in_threadpool(run)
    except EditionError as exc:
        return _refused(request, desk, number, exc, field, given)
    return _back(number, "words" if changed else "unchanged")


async def _comparison_edit(request: Request, number: int, what: str, edited: str, change) -> Response:
    desk, fields = await desk_session.desk_form(request, what)
    slug = _slug(fields)

    def run() -> None:
        with request.app.state.writes.session() as session:
            edit_as(session, settings_of(request), number, desk.name, **change(session, slug, fields))

    try:
        await run_in_threadpool(run)
    except EditionError as exc:
        return _refused(request, desk, number, exc, f"comparison-{slug}", {})
    return _back(number, edited)


@router.post("/desk/editions/{number}/move", summary="Move a comparison up or down a draft edition (editors)")
async def move(request: Request, number: desk_session.EditionNumber) -> Response:
    def change(session, slug: str, fields: dict) -> dict:
        direction = fields.get("direction")
        if direction not in ("up", "down"):
            raise ClientError(422, "direction must be up or down", field="direction")
        order = [c.slug for c in edition_comparisons(session, get_edition(session, number=number))]
        if slug not in order:
            raise EditionError(f"{slug!r} is not shown in edition {number}, so it has no place to move from")
        here = order.index(slug)
        there = here - 1 if direction == "up" else here + 1
        if not 0 <= there < len(order):
            raise EditionError(f"{slug!r} is {'first' if there < 0 else 'last'} in edition {number} already")
        order[here], order[there] = order[there], order[here]
        return {"order": order}

    return await _comparison_edit(request, number, "the move", "moved", change)


@router.post("/desk/editions/{number}/leave-out", summary="Leave a comparison out of a draft edition (editors)")
async def leave_out(request: Request, number: desk_session.EditionNumber) -> Response:
    return await _comparison_edit(
        request, number, "the leaving out", "left-out", lambda s, slug, f: {"exclude": [slug]}
    )


@router.post("/desk/editions/{number}/bring-back", summary="Bring a left-out comparison back (editors)")
async def bring_back(request: Request, number: desk_session.EditionNumber) -> Response:
    return await _comparison_edit(
        request, number, "the bringing back", "brought-back", lambda s, slug, f: {"include": [slug]}
    )
