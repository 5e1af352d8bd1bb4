"""Who is at the desk: the session cookie, the CSRF token bound to it, and the roles' rule.

An editor signs in at /desk/login with a name and password (digest.editors.accounts). The session is a
cookie signed with DIGEST_SECRET_KEY (itsdangerous), for DESK_SESSION at most, Secure, HttpOnly,
SameSite=Strict, scoped to /desk. It holds the editor's name, a key that changes with their password
(a new password, or a removed account, signs every browser out) and the session's CSRF token. Every
desk form carries that token; a POST without it, with another one, or from another origin (Origin or
Sec-Fetch-Site says so) is refused 403 before anything is read or changed. A script may send
`Authorization: Bearer DIGEST_ADMIN_TOKEN` instead, as the owner `admin-token` (a browser never sends
that header by itself, so no CSRF token is needed there).

Wrong passwords count per name and per client address (FAILURES_PER_NAME, FAILURES_PER_ADDRESS): over
either, sign-ins are refused (429) until the window has passed, the right password too, so guessing
is slow, and nobody is locked out for longer than the window.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Path, Request
from fastapi.responses import RedirectResponse, Response
from itsdangerous import BadData, URLSafeTimedSerializer

from digest.editors.accounts import Account, session_account
from digest.editors.roles import Role
from digest.settings import Settings
from digest.store import session_scope
from digest.web.deps import engine_of, settings_of
from digest.web.editors import bearer_admin
from digest.web.errors import ClientError
from digest.web.forms import read_fields
from digest.web.ratelimit import RateLimit

EditionNumber = Annotated[int, Path(ge=1, le=2**31 - 1, description="An edition's number")]
COOKIE = "digest_desk"
COOKIE_PATH = "/desk"
DESK_SESSION = timedelta(hours=8)
FAILURES_PER_NAME = "5/minute"
FAILURES_PER_ADDRESS = "20/minute"
SIGN_IN_FORM_AGE = timedelta(hours=1)  # how long a sign-in form's token stays good
ADMIN = Account("admin-token", Role.OWNER)
MAX_COOKIE = 1000
_SESSION, _SIGN_IN = "digest.desk-session", "digest.desk-sign-in"


@dataclass(frozen=True)
class DeskFailures:
    """The two counters of wrong passwords an app keeps (create_app puts them on app.state)."""

    by_name: RateLimit
    by_address: RateLimit


def failure_limits() -> DeskFailures:
    return DeskFailures(
        RateLimit("desk-sign-in-name", FAILURES_PER_NAME), RateLimit("desk-sign-in-address", FAILURES_PER_ADDRESS)
    )


@dataclass(frozen=True)
class Desk:
    """The signed-in editor and their session's CSRF token (empty for a script's bearer token)."""

    account: Account
    csrf: str

    @property
    def name(self) -> str:
        return self.account.name


def _serializer(settings: Settings, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt=salt)


def session_cookie(settings: Settings, account: Account) -> str:
    return _serializer(settings, _SESSION).dumps({"n": account.name, "k": account.key, "c": secrets.token_urlsafe(24)})


def set_session(answer: Response, settings: Settings, account: Account) -> Response:
    answer.set_cookie(
        COOKIE,
        session_cookie(settings, account),
        max_age=int(DESK_SESSION.total_seconds()),
        path=COOKIE_PATH,
        secure=True,
        httponly=True,
        samesite="strict",
    )
    return answer


def end_session(answer: Response) -> Response:
    answer.delete_cookie(COOKIE, path=COOKIE_PATH, secure=True, httponly=True, samesite="strict")
    return answer


def sign_in_token(settings: Settings) -> str:
    return _serializer(settings, _SIGN_IN).dumps(secrets.token_urlsafe(8))


def check_sign_in_token(request: Request, given: object) -> None:
    """403 unless `given` is a sign-in form's token this app signed within SIGN_IN_FORM_AGE."""
    refuse_cross_origin(request)
    try:
        if not isinstance(given, str) or len(given) > MAX_COOKIE:
            raise BadData("no token")
        _serializer(settings_of(request), _SIGN_IN).loads(given, max_age=int(SIGN_IN_FORM_AGE.total_seconds()))
    except BadData:
        raise ClientError(
            403,
            "The sign-in form has expired or did not come from this site. Reload the page and sign in again.",
            field="csrf",
            title="Refused",
        ) from None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def refuse_cross_origin(request: Request) -> None:
    """403 for a POST a browser says came from another site (Sec-Fetch-Site, Origin)."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        raise ClientError(403, "Refused: this form was sent from another site.", field="origin", title="Refused")
    origin = request.headers.get("origin")
    if origin is not None:
        ours = {_origin(settings_of(request).base_url), f"{request.url.scheme}://{request.headers.get('host', '')}"}
        if origin.lower() not in {o.lower() for o in ours}:
            raise ClientError(403, "Refused: this form was sent from another site.", field="origin", title="Refused")


def _from_cookie(request: Request) -> Desk | None:
    value = request.cookies.get(COOKIE)
    if not value or len(value) > MAX_COOKIE:
        return None
    settings = settings_of(request)
    try:
        held = _serializer(settings, _SESSION).loads(value, max_age=int(DESK_SESSION.total_seconds()))
    except BadData:
        return None
    if not isinstance(held, dict) or not isinstance(held.get("c"), str):
        return None
    with session_scope(engine_of(request)) as session:
        account = session_account(session, held.get("n"), held.get("k"))
    return None if account is None else Desk(account, held["c"])


def current(request: Request) -> Desk | None:
    """The editor at the desk: a script's bearer token, or the session's editor; None when signed out."""
    if bearer_admin(request):
        return Desk(ADMIN, "")
    return _from_cookie(request)


def require(request: Request, role: Role = Role.EDITOR) -> Desk | Response:
    """For a page (GET): the editor, or a redirect to the sign-in form; 403 when their role may not."""
    desk = current(request)
    if desk is None:
        return RedirectResponse("/desk/login", status_code=303)
    _check_role(desk, role)
    return desk


def _check_role(desk: Desk, role: Role) -> None:
    if not desk.account.may(role):
        raise ClientError(
            403,
            f"Only an {role} may do this; you are signed in as {desk.name}, an {desk.account.role}.",
            field="role",
            title="Not for your role",
        )


async def desk_form(request: Request, what: str, role: Role = Role.EDITOR) -> tuple[Desk, dict]:
    """For a form (POST): the editor and the form's fields, once the request is same-origin and carries
    the session's CSRF token; refused (401, 403) before anything else is looked at."""
    desk = current(request)
    if desk is not None and desk.account is ADMIN:
        _check_role(desk, role)
        fields, _kind = await read_fields(request, what)
        return desk, fields
    refuse_cross_origin(request)
    if desk is None:
        raise ClientError(401, "You are signed out. Sign in at /desk/login and try again.", title="Signed out")
    try:
        fields, _kind = await read_fields(request, what)
    except ClientError:
        fields = {}  # a body that is no form holds no token
    given = fields.get("csrf")
    if not isinstance(given, str) or not secrets.compare_digest(given.encode(), desk.csrf.encode()):
        raise ClientError(
            403,
            "This form has no valid CSRF token for your session. Reload the page and try again.",
            field="csrf",
            title="Refused",
        )
    _check_role(desk, role)
    return desk, fields
