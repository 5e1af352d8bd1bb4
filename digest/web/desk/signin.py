"""GET/POST /desk/login and POST /desk/logout: an editor signs in with their name and password."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from digest.editors.accounts import MAX_PASSWORD, check_sign_in
from digest.store import session_scope
from digest.web.deps import client_address, engine_of, pages_of, settings_of
from digest.web.desk import session as desk_session
from digest.web.errors import ClientError
from digest.web.forms import printable, read_fields

router = APIRouter(tags=["desk"])


def _form(request: Request, status_code: int, *, error: str | None = None, name: str = "", headers=None) -> Response:
    return pages_of(request).render(
        "desk/login.html",
        status_code=status_code,
        error=error,
        given_name=name,
        token=desk_session.sign_in_token(settings_of(request)),
        hours=int(desk_session.DESK_SESSION.total_seconds() // 3600),
        headers=headers,
    )


@router.get("/desk/login", summary="The desk's sign-in form", response_class=Response)
def sign_in_form(request: Request) -> Response:
    if desk_session.current(request) is not None:
        return RedirectResponse("/desk", status_code=303)
    return _form(request, 200)


@router.post(
    "/desk/login",
    summary="Sign in to the desk (a form: name, password)",
    response_class=Response,
    responses={
        303: {"description": "Signed in: a session cookie, and on to /desk"},
        403: {"description": "Wrong name or password, or a form from elsewhere"},
        429: {"description": "Too many wrong passwords for this name or from this address; see Retry-After"},
    },
)
async def sign_in(request: Request) -> Response:
    fields, _kind = await read_fields(request, "the sign-in form")
    desk_session.check_sign_in_token(request, fields.get("csrf"))
    name, password = fields.get("name"), fields.get("password")
    name = name.strip() if isinstance(name, str) else ""
    password = password if isinstance(password, str) else ""
    failures, address = request.app.state.desk_failures, client_address(request)
    for limit, key, what in (
        (failures.by_name, name.lower(), "this name"),
        (failures.by_address, address, "your address"),
    ):
        if limit.exhausted(key):
            wait = limit.retry_after(key)
            return _form(
                request,
                429,
                error=f"Too many wrong passwords for {what} (at most {limit.rate}). Try again in {wait} seconds.",
                name=printable(name, 64),
                headers={"Retry-After": str(wait)},
            )
    if not name or not password or len(password) > MAX_PASSWORD:
        return _form(request, 422, error="Enter your name and your password.", name=printable(name, 64))
    account = await run_in_threadpool(_check, request, name, password)
    if account is None:
        failures.by_name.hit(name.lower())
        failures.by_address.hit(address)
        return _form(request, 403, error="That name and password do not match an editor.", name=printable(name, 64))
    return desk_session.set_session(RedirectResponse("/desk", status_code=303), settings_of(request), account)


def _check(request: Request, name: str, password: str):
    # Not through the write gate: hashing takes tens of milliseconds, and a sign-up must not wait on it
    # (the rare write, renewing a hash made with older parameters, waits for SQLite's lock by itself).
    with session_scope(engine_of(request)) as session:
        return check_sign_in(session, name, password)


@router.post(
    "/desk/logout",
    summary="Sign out of the desk",
    response_class=Response,
    responses={303: {"description": "Signed out, back to the sign-in form"}},
)
async def sign_out(request: Request) -> Response:
    try:
        await desk_session.desk_form(request, "the sign-out form")
    except ClientError as refused:
        if refused.status != 401:  # signed out already: nothing to refuse
            raise
    return desk_session.end_session(RedirectResponse("/desk/login", status_code=303))
