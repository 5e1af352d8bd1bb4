"""Every error a client can cause becomes a 4xx that says what was wrong and where.

JSON clients get ``{"errors": [{"field": ..., "message": ...}]}``; browsers get a
page in the site's layout. The application's errors (digest.errors) and the
subscribers library's (subscribers.errors) carry no HTTP status: the tables below
map each kind to one, so routes let them propagate and never re-wrap them.
Anything unexpected is a 500 page with no stack trace; the trace goes to the log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from digest.errors import (
    BadSignature,
    BadWeek,
    ConfigError,
    DeliveryError,
    DigestError,
    EditionError,
    EditorError,
    MalformedBatch,
    NotFound,
    StoreDisconnected,
    StoreError,
    StoreFull,
    UnknownVoteLink,
    VoteNotCounted,
)
from digest.store import store_error
from digest.web.negotiate import wants_json
from subscribers.errors import (
    AlreadyReader,
    BadLink,
    ExpiredLink,
    InvalidInput,
    Problem,
    StaleLink,
    SubscribersError,
    Suppressed,
    UnknownReader,
)
from subscribers.validation import shown

log = logging.getLogger(__name__)

TITLES = {
    400: "Something in the request is wrong",
    404: "Not found",
    405: "Not allowed here",
    409: "Already done",
    410: "This link no longer works",
    413: "Too much data",
    503: "Not available just now",
    415: "Unsupported format",
    422: "Please check what you entered",
    429: "Too many attempts",
    500: "Something went wrong on our side",
}

_LIBRARY_ERRORS = (  # (kind, status, page title); the first that matches wins
    (ExpiredLink, 410, "This link has expired"),
    (StaleLink, 410, "This link no longer applies"),
    (BadLink, 400, "This link doesn't work"),
    (UnknownReader, 404, "Subscription not found"),
    (InvalidInput, 422, None),
    (AlreadyReader, 409, None),
    (Suppressed, 409, None),
)


# (kind, status, field, page title, message template); the first that matches wins.
_DIGEST_ERRORS = (
    (UnknownVoteLink, 404, "token", "This voting link does not work", "{}"),
    (VoteNotCounted, 403, "token", "This vote does not count", "{}"),
    (NotFound, 404, None, "Not found", "{}"),
    (BadSignature, 403, "signature", None, "Refused: {}. Nothing was stored."),
    (MalformedBatch, 400, "body", None, "{}. Nothing was stored."),
    (BadWeek, 400, None, None, "{}"),
    (EditionError, 409, None, None, "{}"),
    (EditorError, 409, None, None, "{}"),
)
# Not the client's doing: the operator must act. The detail goes to the log; a missing setting is
# named to the client too (a variable's name is no secret, and it tells a provider's admin what to ask for).
_SERVER_ERRORS = (
    (ConfigError, "Not configured", "This server is not set up for this yet: {}."),
    (StoreFull, None, "The server's disk is full, so nothing could be saved. Please try again later."),
    (
        StoreDisconnected,
        None,
        "The server lost its connection to its database; nothing was saved. Please try again in a moment.",
    ),
    (StoreError, None, "The database cannot be reached just now. Please try again in a few minutes."),
    (DeliveryError, None, "Mail cannot be sent just now. Please try again in a few minutes."),
)


class ClientError(Exception):
    """Raise from a route (or a dependency) to answer with `status` and a message naming the field."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        field: str | None = None,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        problems: Sequence[Problem] = (),
    ):
        super().__init__(message)
        self.status, self.message, self.field, self.title = status, message, field, title
        self.headers = dict(headers or {})
        self.problems = list(problems) or [Problem(field or "request", message)]


def error_response(
    request: Request,
    status: int,
    problems: Sequence[Problem],
    *,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    name_fields: bool = False,
) -> Response:
    """JSON or a page. `name_fields`: the messages are about a field ("is required"), so a page
    shows "email: is required"; otherwise each message is a whole sentence already."""
    if wants_json(request):
        body = {"errors": [{"field": p.field, "message": p.message} for p in problems]}
        return JSONResponse(body, status_code=status, headers=dict(headers or {}))
    pages = request.app.state.pages
    return pages.render(
        "message.html",
        status_code=status,
        headers=headers,
        title=title or TITLES.get(status, "Something is wrong"),
        messages=[str(p) if name_fields else p.message for p in problems],
        problem=True,
    )


def _client_error(request: Request, exc: ClientError) -> Response:
    return error_response(request, exc.status, exc.problems, title=exc.title, headers=exc.headers)


def _library_error(request: Request, exc: SubscribersError) -> Response:
    status, title = next(((code, title) for kind, code, title in _LIBRARY_ERRORS if isinstance(exc, kind)), (400, None))
    if isinstance(exc, InvalidInput):
        return error_response(request, status, exc.problems, title=title, name_fields=True)
    return error_response(request, status, [Problem("request", str(exc))], title=title)


def _digest_error(request: Request, exc: DigestError) -> Response:
    for kind, status, field, title, template in _DIGEST_ERRORS:
        if isinstance(exc, kind):
            log.warning("%s %s refused: %s", request.method, request.url.path, exc)
            return error_response(request, status, [Problem(field or "request", template.format(exc))], title=title)
    title, message = next(
        ((title, message.format(exc)) for kind, title, message in _SERVER_ERRORS if isinstance(exc, kind)),
        (None, "The server could not finish this request. Please try again in a few minutes."),
    )
    log.error("%s %s failed: %s", request.method, request.url.path, exc)
    return error_response(request, 503, [Problem("request", message)], title=title)


def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    if exc.status_code == 404:
        message = f"There is no page at {shown(request.url.path, 80)}."
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed at {shown(request.url.path, 80)}."
    else:
        message = str(exc.detail)
    return error_response(
        request, exc.status_code, [Problem("request", message)], headers=getattr(exc, "headers", None)
    )


def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    problems = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ()) if part not in ("body", "path", "query")]
        problems.append(Problem(".".join(location) or "request", str(error.get("msg", "is not valid"))))
    return error_response(request, 422, problems or [Problem("request", "is not valid")], name_fields=True)


def _database_error(request: Request, exc: SQLAlchemyError) -> Response:
    """A database failure digest did not raise itself: typed (a full disk, a lost connection), then
    answered as the application's own StoreError is: 503, the kind named to the client and the log."""
    return _digest_error(request, store_error(exc, request.app.state.settings.database_url))


def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(
        request,
        500,
        [Problem("request", "The server could not finish this request. Please try again in a few minutes.")],
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(ClientError, _client_error)
    app.add_exception_handler(SubscribersError, _library_error)
    app.add_exception_handler(DigestError, _digest_error)
    app.add_exception_handler(SQLAlchemyError, _database_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
