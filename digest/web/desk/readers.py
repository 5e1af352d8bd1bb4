"""/desk/readers: an owner finds a reader by address, sees what is stored, and unsubscribes or suppresses
them (never erases: `digest subscribers delete` does that) after a confirmation.

    GET  /desk/readers          the search form
    POST /desk/readers          find: status, topics, zone, consent log, the editions they got
    POST /desk/readers/confirm  what unsubscribing or suppressing them does, and the button
    POST /desk/readers/change   do it; on to the reader again

Addresses travel in form bodies only, never in an address (which lands in logs and history). The
change is subscribers.operators' own (as `digest subscribers unsubscribe|suppress`), and the audit log
names the reader by id, so erasing them later leaves no address behind.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import select
from starlette.concurrency import run_in_threadpool

from digest.delivery import ledger
from digest.editions.models import Edition
from digest.editors import audit
from digest.editors.roles import Action, Role
from digest.store import session_scope
from digest.timeutil import utcnow
from digest.web.deps import engine_of, pages_of
from digest.web.desk import session as desk_session
from digest.web.errors import ClientError
from digest.web.forms import printable
from subscribers import operators
from subscribers.consent import history
from subscribers.errors import InvalidInput, UnknownReader

router = APIRouter(tags=["desk"])
CHANGES = {  # action -> (what the button says, what it does, the operator's function, the audit action)
    "unsubscribe": (
        "Unsubscribe",
        "They get no more mail (a send in progress skips them); a new sign-up with its double opt-in brings "
        "them back. Nothing is erased.",
        operators.unsubscribe_reader,
        Action.READER_UNSUBSCRIBE,
    ),
    "suppress": (
        "Suppress",
        "No mail goes to this address again, not even a confirmation mail: a sign-up on the form changes "
        "nothing. Nothing is erased.",
        operators.suppress_reader,
        Action.READER_SUPPRESS,
    ),
}


def _address(fields: dict) -> str:
    given = fields.get("email")
    if not isinstance(given, str) or not given.strip():
        raise ClientError(422, "Enter the reader's address.", field="email")
    return given.strip()[:320]


def _record(request: Request, email: str) -> dict | None:
    """What the page shows about the reader with this address; None when there is none."""
    with session_scope(engine_of(request)) as session:
        try:
            reader = operators.find_reader(session, email)
        except (UnknownReader, InvalidInput):
            return None
        connection = session.connection()
        numbers = dict(session.exec(select(Edition.id, Edition.number)).all())
        got = [
            {"edition": numbers.get(row["edition_id"]), "state": row["state"], "at": row["finished_at"]}
            for row in ledger.rows_of_reader(connection, reader.id)
        ]
        return {
            "id": reader.id,
            "email": reader.email,
            "status": reader.status,
            "topics": operators.reader_record(reader).get("topics"),
            "zone": reader.timezone,
            "consent": history(connection, reader.id),
            "editions": got,
        }


def _reader_page(request: Request, desk, email: str, *, notice: str | None = None) -> Response:
    record = _record(request, email)
    return pages_of(request).render(
        "desk/readers.html",
        status_code=200 if record is not None else 404,
        desk=desk,
        reader=record,
        given=printable(email, 320),
        notice=notice,
        changes=CHANGES,
    )


@router.get("/desk/readers", summary="Find a reader by address (owners)", response_class=Response)
def readers_page(request: Request) -> Response:
    desk = desk_session.require(request, Role.OWNER)
    if isinstance(desk, Response):
        return desk
    return pages_of(request).render("desk/readers.html", desk=desk, reader=None, given="", notice=None, changes=CHANGES)


@router.post("/desk/readers", summary="A reader, found by address (owners)", response_class=Response)
async def find(request: Request) -> Response:
    desk, fields = await desk_session.desk_form(request, "the search", Role.OWNER)
    email = _address(fields)
    return await run_in_threadpool(_reader_page, request, desk, email)


def _change_of(fields: dict) -> str:
    action = fields.get("action")
    if action not in CHANGES:
        raise ClientError(422, f"action must be one of: {', '.join(CHANGES)}", field="action")
    return action


@router.post("/desk/readers/confirm", summary="What a change to a reader does, to confirm (owners)")
async def confirm_change(request: Request) -> Response:
    desk, fields = await desk_session.desk_form(request, "the change", Role.OWNER)
    email, action = _address(fields), _change_of(fields)
    record = await run_in_threadpool(_record, request, email)
    if record is None:
        return await run_in_threadpool(_reader_page, request, desk, email)
    label, does, _, _ = CHANGES[action]
    return pages_of(request).render(
        "desk/reader_confirm.html", desk=desk, reader=record, action=action, label=label, does=does
    )


@router.post("/desk/readers/change", summary="Unsubscribe or suppress a reader, once confirmed (owners)")
async def change(request: Request) -> Response:
    desk, fields = await desk_session.desk_form(request, "the change", Role.OWNER)
    email, action = _address(fields), _change_of(fields)
    if fields.get("confirm") != "yes":
        raise ClientError(422, "Confirm the change on its confirmation page first.", field="confirm")
    _, _, apply, audited = CHANGES[action]

    def run() -> str:
        with request.app.state.writes.session() as session:
            reader, changed = apply(session, email, utcnow())
            if not changed:
                return f"{reader.email} was already {reader.status}; nothing changed."
            audit.record(session, desk.name, audited, detail=f"reader #{reader.id}")
            return f"{reader.email} is now {reader.status}."

    said = await run_in_threadpool(run)
    return await run_in_threadpool(lambda: _reader_page(request, desk, email, notice=said))
