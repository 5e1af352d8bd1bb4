"""/desk: the week at a glance, and what an editor or owner does to the edition from there.

    GET  /desk                          the edition at hand (as the CLI means it)
    GET  /desk/editions/N               edition N, with its audit log (and, for a draft, its editing forms)
    POST /desk/editions/N/approve       an editor approves it as it is now
    GET  /desk/editions/N/confirm-send  (owner) what a send would do: the edition, its variants, its readers
    POST /desk/editions/N/send          (owner) send it, once confirmed; on to its live view
    POST /desk/editions/N/pause         (owner) pause a send in progress (whichever process sends it)
    POST /desk/editions/N/resume        (owner) resume a paused send

Every POST carries the session's CSRF token (digest.web.desk.session) and lands in the audit log.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from digest.delivery.plan import send_plan
from digest.delivery.summary import describe_not_due, describe_split, planned_variants, send_day_for
from digest.editions.service import change_status, get_edition, offered
from digest.editions.status import EditionStatus
from digest.editors import audit
from digest.editors.approvals import approve, refuse_unapproved
from digest.editors.roles import Action, Role
from digest.errors import EditionError
from digest.store import session_scope
from digest.web.deps import engine_of, pages_of, settings_of
from digest.web.desk import session as desk_session
from digest.web.desk.glance import week_at_glance

router = APIRouter(tags=["desk"])
statuses = EditionStatus  # the templates compare an edition's status by name
# What the page says after an edit (digest.web.desk.edit redirects with ?edited=NAME).
NOTICES = {
    "words": "Subject and intro saved.",
    "unchanged": "Nothing changed: the subject and intro were already so.",
    "moved": "Moved.",
    "left-out": "Left out.",
    "brought-back": "Brought back.",
}
WITHDRAWN = " Approvals given before this change are withdrawn."


def notice(edited: str | None, withdrew: bool) -> str | None:
    """The page's notice after a change (`?edited=` names it; unknown names show nothing)."""
    said = NOTICES.get(edited or "")
    return None if said is None else said + (WITHDRAWN if withdrew and edited != "unchanged" else "")


def sends(request: Request):
    """The app's digest.web.desk.sends.DeskSends."""
    return request.app.state.desk_sends


def render_week(request: Request, desk, number: int | None, *, status_code: int = 200, **edit) -> Response:
    """The week's page (the edition at hand, or edition `number`); `edit`: a refused edit's
    `edit_errors` (field: message) and what was `given` (digest.web.desk.edit)."""
    week = week_at_glance(engine_of(request), settings_of(request), number, figures=request.app.state.desk_figures)
    withdrew = week.approvals is not None and week.approvals.needed > 0
    errors = dict(edit.get("edit_errors", {}))
    editable = week.approvals is not None and week.approvals.open and desk.account.may(Role.EDITOR)
    shown = {"subject", "intro", *(f"comparison-{c.slug}" for c in (*week.comparisons, *week.held))}
    for key in [k for k in errors if not editable or k not in shown]:
        errors["edition"] = errors.pop(key)  # about nothing with a form on the page: said at the top
    return pages_of(request).render(
        "desk/week.html",
        status_code=status_code,
        desk=desk,
        week=week,
        statuses=statuses,
        owner=desk.account.may(Role.OWNER),
        at_hand=number is None,
        editable=editable,
        edit_errors=errors,
        given=edit.get("given", {}),
        edited=None if status_code != 200 else notice(request.query_params.get("edited"), withdrew),
    )


@router.get("/desk", summary="The week at a glance: the edition at hand (editors)", response_class=Response)
def desk_page(request: Request) -> Response:
    desk = desk_session.require(request)
    if isinstance(desk, Response):
        return desk
    return render_week(request, desk, None)


@router.get(
    "/desk/editions/{number}", summary="One edition on the desk, with its log (editors)", response_class=Response
)
def edition_page(request: Request, number: desk_session.EditionNumber) -> Response:
    desk = desk_session.require(request)
    if isinstance(desk, Response):
        return desk
    return render_week(request, desk, number)


def _back(number: desk_session.EditionNumber) -> RedirectResponse:
    return RedirectResponse(f"/desk/editions/{number}#approvals", status_code=303)


@router.post("/desk/editions/{number}/approve", summary="Approve an edition as it is now (editors)")
async def approve_edition(request: Request, number: desk_session.EditionNumber) -> Response:
    desk, fields = await desk_session.desk_form(request, "the approval", Role.EDITOR)

    def run():
        with request.app.state.writes.session() as session:
            return approve(session, settings_of(request), number, desk.name)

    await run_in_threadpool(run)
    return _back(number)


@router.get(
    "/desk/editions/{number}/confirm-send",
    summary="What sending an edition would do, to confirm (owners)",
    response_class=Response,
)
def confirm_send(request: Request, number: desk_session.EditionNumber) -> Response:
    desk = desk_session.require(request, Role.OWNER)
    if isinstance(desk, Response):
        return desk
    engine, settings = engine_of(request), settings_of(request)
    with session_scope(engine) as session:
        edition = get_edition(session, number=number)
        refuse_unapproved(session, settings, edition)
        shown = offered(session, edition)
        variants, _ = planned_variants(session.connection(), edition.id, shown, send_day_for(settings, edition.week))
    plan = send_plan(engine, settings, number)
    return pages_of(request).render(
        "desk/confirm_send.html",
        desk=desk,
        plan=plan,
        variants=variants,
        backend=settings.backend,
        describe_not_due=describe_not_due,
        describe_split=describe_split,
    )


@router.post("/desk/editions/{number}/send", summary="Send an edition, once confirmed (owners)")
async def send(request: Request, number: desk_session.EditionNumber) -> Response:
    desk, fields = await desk_session.desk_form(request, "the send", Role.OWNER)
    if fields.get("confirm") != str(number):
        raise EditionError(f"confirm the send of edition {number} on its confirmation page first")

    def run():
        settings = settings_of(request)
        with request.app.state.writes.session() as session:
            edition = get_edition(session, number=number)
            if edition.status == EditionStatus.SENT:
                raise EditionError(f"edition {number} has gone out already")
            refuse_unapproved(session, settings, edition)
            plan = send_plan(engine_of(request), settings, number)
            if plan.early is not None:
                raise EditionError(plan.early)
            audit.record(session, desk.name, Action.SEND, edition=number, detail=f"{plan.readers:,} readers")

    await run_in_threadpool(run)
    sends(request).start(number)
    return RedirectResponse(f"/desk/editions/{number}/send", status_code=303)


@router.post("/desk/editions/{number}/pause", summary="Pause a send in progress (owners)")
async def pause(request: Request, number: desk_session.EditionNumber) -> Response:
    desk, fields = await desk_session.desk_form(request, "the pause", Role.OWNER)

    def run():
        with request.app.state.writes.session() as session:
            edition = get_edition(session, number=number)
            if edition.status != EditionStatus.SENDING or not change_status(session, edition.id, EditionStatus.PAUSED):
                raise EditionError(f"edition {number} is {edition.status}, not being sent; there is nothing to pause")
            audit.record(session, desk.name, Action.PAUSE, edition=number)

    await run_in_threadpool(run)
    return RedirectResponse(f"/desk/editions/{number}/send", status_code=303)


@router.post("/desk/editions/{number}/resume", summary="Resume a paused send (owners)")
async def resume(request: Request, number: desk_session.EditionNumber) -> Response:
    desk, fields = await desk_session.desk_form(request, "the resume", Role.OWNER)

    def run():
        with request.app.state.writes.session() as session:
            edition = get_edition(session, number=number)
            if edition.status != EditionStatus.PAUSED:
                raise EditionError(f"edition {number} is {edition.status}, not paused; there is nothing to resume")
            audit.record(session, desk.name, Action.RESUME, edition=number)

    await run_in_threadpool(run)
    sends(request).start(number)
    return RedirectResponse(f"/desk/editions/{number}/send", status_code=303)
