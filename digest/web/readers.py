"""The reader's side of the web app: subscribe, confirm, preferences, unsubscribe.

    GET  /                          the subscribe page (a form; no JavaScript)
    POST /subscribe                 JSON or form; the same answer whether the address was new or known
    GET  /confirm/{signed}          double opt-in: a page with one button (mail scanners open links) ...
    POST /confirm/{signed}          ... that activates a pending reader
    GET  /preferences/{token}       topics and time zone ...
    POST /preferences/{token}       ... saved (form: 303 back to the page; JSON: the new values)
    GET  /keep/{token}              the re-permission mail's link: a page with one button ...
    POST /keep/{token}              ... that says "keep sending" (a sign of life)
    GET  /unsubscribe/{token}       a page with one button and a way back
    POST /unsubscribe/{token}       RFC 8058 one-click: no cookie, no further step

Routes are thin: read the request, call the subscribers library inside one
transaction, answer with a page or JSON. Sign-ups arriving together share one
transaction (digest.web.signups), each answered once it is committed. The
confirmation mail goes out after the response (a background task), so a slow
mail provider never slows a sign-up.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from digest.send_days import (
    NoMatch,
    describe_next_edition,
    describe_next_mail,
    had_current_edition,
    next_mail_for,
    topics_miss,
)
from digest.store import session_scope
from digest.timeutil import utcnow
from digest.web.deps import client_address, engine_of, pages_of, settings_of
from digest.web.errors import ClientError
from digest.web.forms import printable, read_fields
from digest.web.negotiate import wants_json
from subscribers import engagement, links, service, status, validation
from subscribers.errors import InvalidInput
from subscribers.validation import MAX_TIMEZONE

router = APIRouter(tags=["readers"])

HONEYPOT = "website"  # hidden from people by the page's CSS; bots fill in every field
ACCEPTED = (
    "Thanks! Check your inbox: if this address still needs confirming, a link to confirm it is on "
    "its way. Nothing is sent until you click it."
)


class SubscriptionBody(BaseModel):
    email: str = Field(description="The reader's email address", examples=["ada@example.com"])
    topics: list[str] | None = Field(None, description="Categories to receive; empty or absent: every one")
    timezone: str | None = Field(None, max_length=MAX_TIMEZONE, description="An IANA zone, e.g. Europe/Paris")
    cadence: str | None = Field(None, description="weekly (the default), fortnightly or monthly")


class SubscriptionForm(SubscriptionBody):
    website: str | None = Field(None, description="Leave empty (a trap for bots)")


class PreferencesBody(BaseModel):
    topics: list[str] | None = Field(None, description="Categories to receive; empty: every one")
    timezone: str | None = Field(None, max_length=MAX_TIMEZONE, description="An IANA zone, e.g. Europe/Paris")
    cadence: str | None = Field(None, description="weekly, fortnightly or monthly; absent: unchanged")


def _body_doc(json_model: type[BaseModel], form_model: type[BaseModel]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": json_model.model_json_schema()},
                "application/x-www-form-urlencoded": {"schema": form_model.model_json_schema()},
            },
        }
    }


_CLIENT_ERRORS = {
    code: {"description": text}
    for code, text in (
        (400, "Malformed body, or the honeypot field was filled in"),
        (413, "Body too large"),
        (415, "Neither JSON nor a form"),
        (422, "A field is invalid; the message names it"),
        (429, "Too many attempts from this client; see Retry-After"),
    )
}


def _known_topics(request: Request) -> frozenset[str]:
    return request.app.state.topics.get()


def _subscribe_page(
    request: Request, *, status_code: int = 200, values: dict | None = None, errors: dict | None = None
) -> Response:
    return pages_of(request).render(
        "subscribe.html",
        status_code=status_code,
        topics=sorted(_known_topics(request)),
        zones=request.app.state.zones,
        values=values or {},
        errors=errors or {},
    )


@router.get("/", summary="The subscribe page", response_class=Response, responses={200: {"content": {"text/html": {}}}})
def subscribe_page(request: Request) -> Response:
    return _subscribe_page(request)


def _consent_source(request: Request, kind: str) -> str:
    if kind == "json":
        return "JSON API (POST /subscribe)"
    page = printable(request.headers.get("referer", ""), 150) or "an unknown page"
    return f"web form (POST /subscribe) on {page}"


def _writes(request: Request):
    return request.app.state.writes.session()


@router.post(
    "/subscribe",
    summary="Ask to receive the newsletter (double opt-in)",
    status_code=202,
    openapi_extra=_body_doc(SubscriptionBody, SubscriptionForm),
    response_model=None,
    responses={202: {"description": "Accepted: a confirmation mail follows if one is due"}, **_CLIENT_ERRORS},
)
async def subscribe(request: Request) -> Response:
    client = client_address(request)
    limit = request.app.state.subscribe_limit
    if not limit.hit(client):
        raise ClientError(
            429,
            f"Too many sign-up attempts from your address (the limit is {limit.rate}). "
            "Please wait a little and try again.",
            headers={"Retry-After": str(limit.retry_after(client))},
        )
    fields, kind = await read_fields(request, "the subscription")
    if printable(fields.pop(HONEYPOT, "")).strip():
        raise ClientError(
            400,
            f"The hidden field {HONEYPOT!r} must be left empty; it is there to catch robots. "
            "If you are a person, please use the form on the subscribe page.",
            field=HONEYPOT,
        )
    as_page = kind == "form" and not wants_json(request)
    try:
        subscription = validation.subscribe_request(fields, _known_topics(request))
    except InvalidInput as exc:
        if as_page:
            values = {
                "email": printable(fields.get("email")),
                "timezone": printable(fields.get("timezone")),
                "topics": [printable(t) for t in fields.get("topics") or [] if isinstance(t, str)],
                "cadence": printable(fields.get("cadence")),
            }
            return _subscribe_page(request, status_code=422, values=values, errors=exc.by_field())
        raise
    consent = service.Consent(at=utcnow(), source=_consent_source(request, kind), ip=client)
    await request.app.state.signups.file(subscription, consent)  # committed with the sign-ups beside it
    send_confirmations = BackgroundTask(request.app.state.confirmations.nudge)
    if as_page:
        return pages_of(request).render("check_inbox.html", email=subscription.email, background=send_confirmations)
    return JSONResponse({"status": "accepted", "message": ACCEPTED}, status_code=202, background=send_confirmations)


_CONFIRM_ERRORS = {
    400: {"description": "Not a confirmation link"},
    404: {"description": "No such reader"},
    410: {"description": "Expired, or the subscription ended since"},
}


@router.get(
    "/confirm/{signed}",
    summary="The page the confirmation link opens: one button (the GET confirms nothing)",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}}, **_CONFIRM_ERRORS},
)
def confirm_page(request: Request, signed: str) -> Response:
    # Mail security scanners open every link in a message: a GET only shows the button.
    token = request.app.state.confirmation_tokens.read(signed)
    reader = _reader_to_confirm(request, token)
    if reader.status == status.ACTIVE:
        return _confirmed_page(request, reader, already=True)
    return pages_of(request).render("confirm.html", email=reader.email, action=links.confirm_url("", signed))


def _reader_to_confirm(request: Request, token: str):
    with session_scope(engine_of(request)) as session:
        return service.to_confirm(session, token)


def _confirmed_page(request: Request, reader, *, already: bool) -> Response:
    base = settings_of(request).base_url
    welcome = None if already else BackgroundTask(request.app.state.confirmations.nudge)  # the welcome mail
    return pages_of(request).render(
        "confirmed.html",
        background=welcome,
        already=already,
        email=reader.email,
        preferences_url=links.preferences_url(base, reader.token),
        unsubscribe_url=links.unsubscribe_url(base, reader.token),
        next_edition=_next_edition(request, reader)[0],
    )


@router.post(
    "/confirm/{signed}",
    summary="Confirm a subscription (the button on the confirmation page)",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}}, **_CONFIRM_ERRORS},
)
def confirm(request: Request, signed: str) -> Response:
    token = request.app.state.confirmation_tokens.read(signed)
    with _writes(request) as session:
        reader, activated = service.confirm(
            session, token, client_address(request), utcnow(), welcome=settings_of(request).welcome
        )
    return _confirmed_page(request, reader, already=not activated)


def _next_edition(request: Request, reader) -> tuple[str | None, NoMatch | None]:
    """When this reader's next edition arrives, in their time: the weekly send's slot in their zone,
    or within minutes when they joined or moved after it and have not had this week's; and, when
    their topics match none of that edition's comparisons, what it is about (it does not come)."""
    if reader.status != status.RECEIVES_EDITIONS:
        return None, None
    settings = settings_of(request)
    engine = engine_of(request)
    mail = next_mail_for(
        engine, settings, reader.id, reader.timezone, reader.updated_at, utcnow(), reader.cadence, reader.cadence_since
    )
    miss = topics_miss(engine, mail.week, reader.topics)
    if miss is not None:
        return describe_next_edition(mail.after, reader.timezone, settings), miss
    return describe_next_mail(mail, reader.timezone, settings), None


def _preferences_page(
    request: Request,
    reader,
    *,
    status_code: int = 200,
    saved: bool = False,
    values: dict | None = None,
    errors: dict | None = None,
) -> Response:
    base = settings_of(request).base_url
    chosen = values["topics"] if values else reader.topics
    topics = sorted(set(_known_topics(request)) | set(reader.topics))
    next_edition, no_match = _next_edition(request, reader)
    return pages_of(request).render(
        "preferences.html",
        status_code=status_code,
        reader=reader,
        topics=topics,
        chosen=set(chosen),
        timezone=values["timezone"] if values else (reader.timezone or ""),
        cadence=values["cadence"] if values else reader.cadence,
        zones=request.app.state.zones,
        saved=saved,
        errors=errors or {},
        action=links.preferences_url(base, reader.token),
        unsubscribe_url=links.unsubscribe_url(base, reader.token),
        next_edition=next_edition,
        no_match=no_match,
    )


def _reader(request: Request, token: str):
    with session_scope(engine_of(request)) as session:
        return service.by_token(session, token)


@router.get(
    "/preferences/{token}",
    summary="A reader's preferences page",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}}, 404: {}},
)
def preferences_page(request: Request, token: str, saved: bool = False) -> Response:
    return _preferences_page(request, _reader(request, token), saved=saved)


def _save_preferences(request: Request, token: str, fields: dict, known: frozenset[str]):
    with _writes(request) as session:
        reader = service.by_token(session, token)
        # A topic the reader chose earlier stays valid even if no tool carries it any more.
        chosen = validation.preferences(fields, known | set(reader.topics))
        now = utcnow()
        had = chosen.cadence not in (None, reader.cadence) and had_current_edition(
            engine_of(request), settings_of(request), reader.id, now
        )
        return service.change_preferences(session, token, chosen, now, had_today=had)


@router.post(
    "/preferences/{token}",
    summary="Change a reader's topics and time zone",
    response_model=None,
    openapi_extra=_body_doc(PreferencesBody, PreferencesBody),
    responses={200: {"description": "Saved (JSON)"}, 303: {"description": "Saved (form)"}, 404: {}, **_CLIENT_ERRORS},
)
async def preferences(request: Request, token: str) -> Response:
    fields, kind = await read_fields(request, "your preferences")
    as_page = kind == "form" and not wants_json(request)
    try:
        reader = await run_in_threadpool(_save_preferences, request, token, fields, _known_topics(request))
    except InvalidInput as exc:
        if not as_page:
            raise
        reader = await run_in_threadpool(_reader, request, token)
        values = {
            "topics": [printable(t) for t in fields.get("topics") or [] if isinstance(t, str)],
            "timezone": printable(fields.get("timezone")),
            "cadence": printable(fields.get("cadence")),
        }
        return _preferences_page(request, reader, status_code=422, values=values, errors=exc.by_field())
    if as_page:
        return RedirectResponse(links.preferences_url("", token) + "?saved=true", status_code=303)
    return JSONResponse({"topics": reader.topics, "timezone": reader.timezone, "cadence": reader.cadence})


def _keep_page(request: Request, reader, *, kept: bool) -> Response:
    base = settings_of(request).base_url
    return pages_of(request).render(
        "keep.html",
        reader=reader,
        kept=kept,
        action=links.keep_url(base, reader.token),
        preferences_url=links.preferences_url(base, reader.token),
        unsubscribe_url=links.unsubscribe_url(base, reader.token),
    )


@router.get(
    "/keep/{token}",
    summary="The re-permission mail's page: one button (the GET changes nothing)",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}}, 404: {}},
)
def keep_page(request: Request, token: str) -> Response:
    return _keep_page(request, _reader(request, token), kept=False)


@router.post(
    "/keep/{token}",
    summary="Keep sending: the answer to a re-permission mail, a sign of life",
    response_class=Response,
    responses={200: {"content": {"text/html": {}, "application/json": {}}}, 404: {}},
)
def keep(request: Request, token: str) -> Response:
    with _writes(request) as session:
        reader = service.by_token(session, token)
        if reader.status == status.RECEIVES_EDITIONS:
            reader = engagement.engaged(session, token, utcnow())
    if wants_json(request):
        return JSONResponse({"status": reader.status, "kept": reader.status == status.RECEIVES_EDITIONS})
    return _keep_page(request, reader, kept=reader.status == status.RECEIVES_EDITIONS)


@router.get(
    "/unsubscribe/{token}",
    summary="The unsubscribe page: one button, and a way back",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}}, 404: {}},
)
def unsubscribe_page(request: Request, token: str) -> Response:
    reader = _reader(request, token)
    base = settings_of(request).base_url
    return pages_of(request).render(
        "unsubscribe.html",
        reader=reader,
        action=links.unsubscribe_url(base, reader.token),
        preferences_url=links.preferences_url(base, reader.token),
    )


@router.post(
    "/unsubscribe/{token}",
    summary="One-click unsubscribe (RFC 8058)",
    response_class=Response,
    responses={200: {"content": {"text/html": {}, "application/json": {}}}, 404: {}},
)
def unsubscribe(request: Request, token: str) -> Response:
    # No cookie, no form token, no confirmation step: mailbox providers POST
    # "List-Unsubscribe=One-Click" here on the reader's behalf, and it must just work.
    with _writes(request) as session:
        reader = service.unsubscribe(
            session, token, utcnow(), source="one-click unsubscribe (POST /unsubscribe)", ip=client_address(request)
        )
    if wants_json(request):
        return JSONResponse({"status": reader.status})
    return pages_of(request).render(
        "unsubscribed.html", email=reader.email, subscribe_url=links.subscribe_url(settings_of(request).base_url)
    )
