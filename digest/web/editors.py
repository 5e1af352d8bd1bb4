"""Who may see the editors' pages: DIGEST_ADMIN_TOKEN, never in an address.

A script sends it as `Authorization: Bearer TOKEN`. A browser signs in once on
a form (POST /stats/login) and gets a cookie: signed with DIGEST_SECRET_KEY
(itsdangerous), for EDITOR_SESSION at most, Secure, HttpOnly and
SameSite=Strict, scoped to /stats. The cookie holds no token, only a hash of it
under the signature, so changing DIGEST_ADMIN_TOKEN signs every browser out.
The token is never read from the query string, which ends up in access logs and
browser history.

Wrong tokens, by header or by form, count against the client's address:
LOGIN_FAILURES a client may make before it is refused (429) until the window
passes, whatever it sends. Without DIGEST_ADMIN_TOKEN the pages are off (404).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from itsdangerous import BadData, URLSafeTimedSerializer

from digest.settings import Settings
from digest.web.deps import client_address, pages_of, settings_of
from digest.web.errors import ClientError
from digest.web.forms import read_fields
from digest.web.negotiate import wants_json
from digest.web.ratelimit import RateLimit

router = APIRouter(tags=["editors"])

COOKIE = "digest_editor"
COOKIE_PATH = "/stats"
EDITOR_SESSION = timedelta(hours=12)
LOGIN_FAILURES = "5/minute"  # wrong tokens per client address
_PURPOSE = "digest.editor-session"
MAX_TOKEN = 500


def failure_limit() -> RateLimit:
    """The counter of wrong tokens an app keeps (create_app puts it on app.state)."""
    return RateLimit("editor-login", LOGIN_FAILURES)


def failures(request: Request) -> RateLimit:
    return request.app.state.editor_failures


def _token_hash(token: str) -> str:
    return hashlib.sha256(("digest editor:" + token).encode("utf-8", "replace")).hexdigest()


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt=_PURPOSE)


def session_cookie(settings: Settings) -> str:
    return _serializer(settings).dumps(_token_hash(settings.admin_token or ""))


def _signed_in(request: Request, settings: Settings) -> bool:
    value = request.cookies.get(COOKIE)
    if not value or len(value) > MAX_TOKEN:
        return False
    try:
        held = _serializer(settings).loads(value, max_age=int(EDITOR_SESSION.total_seconds()))
    except BadData:
        return False
    return isinstance(held, str) and secrets.compare_digest(held, _token_hash(settings.admin_token or ""))


def _right(given: str, expected: str) -> bool:
    return secrets.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))


def _refuse_if_blocked(request: Request) -> None:
    client, limit = client_address(request), failures(request)
    if limit.exhausted(client):
        raise ClientError(
            429,
            f"Too many wrong admin tokens from your address (at most {limit.rate}). Wait a minute and try again.",
            field="token",
            title="Editors only",
            headers={"Retry-After": str(limit.retry_after(client))},
        )


def _count_failure(request: Request) -> None:
    failures(request).hit(client_address(request))


def bearer_admin(request: Request) -> bool:
    """Whether the request carries `Authorization: Bearer DIGEST_ADMIN_TOKEN` (a script). False without
    the header; a wrong token counts against the client's address and is refused (403, or 429 when over)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip() or not settings_of(request).admin_token:
        return False
    _refuse_if_blocked(request)
    if _right(value.strip(), settings_of(request).admin_token):
        return True
    _count_failure(request)
    raise ClientError(
        403, "The admin token is wrong (compare it with DIGEST_ADMIN_TOKEN).", field="token", title="Editors only"
    )


def require_editor(request: Request) -> Response | None:
    """None for an editor; otherwise the sign-in form for a browser, or a ClientError for a script."""
    settings = settings_of(request)
    expected = settings.admin_token
    if not expected:
        raise ClientError(404, "The stats page is off: set DIGEST_ADMIN_TOKEN to turn it on.", title="Not found")
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        _refuse_if_blocked(request)
        if _right(value.strip(), expected):
            return None
        _count_failure(request)
        raise ClientError(
            403, "The admin token is wrong (compare it with DIGEST_ADMIN_TOKEN).", field="token", title="Editors only"
        )
    if _signed_in(request, settings):
        return None
    if wants_json(request):
        raise ClientError(
            401,
            "This page is for editors: send the admin token as `Authorization: Bearer TOKEN`.",
            field="token",
            title="Editors only",
            headers={"WWW-Authenticate": 'Bearer realm="digest"'},
        )
    return sign_in_page(request, 401, in_address="token" in request.query_params)


def sign_in_page(request: Request, status_code: int, *, error: str | None = None, in_address: bool = False) -> Response:
    return pages_of(request).render(
        "sign_in.html",
        status_code=status_code,
        error=error,
        in_address=in_address,
        headers={"WWW-Authenticate": 'Bearer realm="digest"'},
    )


@router.post(
    "/stats/login",
    summary="Sign in to the editors' pages with the admin token (a form)",
    response_class=Response,
    responses={
        303: {"description": "Signed in: a session cookie, and on to /stats"},
        403: {"description": "Wrong admin token"},
        404: {"description": "The pages are off"},
        429: {"description": "Too many wrong tokens from this address; see Retry-After"},
    },
)
async def sign_in(request: Request) -> Response:
    settings = settings_of(request)
    if not settings.admin_token:
        raise ClientError(404, "The stats page is off: set DIGEST_ADMIN_TOKEN to turn it on.", title="Not found")
    _refuse_if_blocked(request)
    fields, _kind = await read_fields(request, "the admin token")
    given = fields.get("token")
    if (
        not isinstance(given, str)
        or not given.strip()
        or len(given) > MAX_TOKEN
        or not _right(given.strip(), settings.admin_token)
    ):
        _count_failure(request)
        if wants_json(request):
            raise ClientError(
                403,
                "The admin token is wrong (compare it with DIGEST_ADMIN_TOKEN).",
                field="token",
                title="Editors only",
            )
        return sign_in_page(request, 403, error="That is not the admin token. Compare it with DIGEST_ADMIN_TOKEN.")
    answer = RedirectResponse("/stats", status_code=303)
    answer.set_cookie(
        COOKIE,
        session_cookie(settings),
        max_age=int(EDITOR_SESSION.total_seconds()),
        path=COOKIE_PATH,
        secure=True,
        httponly=True,
        samesite="strict",
    )
    return answer


@router.post(
    "/stats/logout",
    summary="Sign out of the editors' pages",
    response_class=Response,
    responses={303: {"description": "Signed out, back to the sign-in form"}},
)
def sign_out() -> Response:
    answer = RedirectResponse("/stats", status_code=303)
    answer.delete_cookie(COOKIE, path=COOKIE_PATH, secure=True, httponly=True, samesite="strict")
    return answer
