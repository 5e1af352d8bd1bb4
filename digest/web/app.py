"""The app factory: `create_app(settings, engine)` builds the whole web app for `digest serve`.

Everything a route needs hangs on app.state (settings, engine, pages, and the
reader side's topics, rate limit, sign-up book and confirmation pump); routers
listed in digest.web.routers are mounted; every error is answered by
digest.web.errors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from importlib import import_module

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from digest import __version__
from digest.delivery.confirmations import ConfirmationQueue
from digest.delivery.welcomes import WelcomeQueue
from digest.mail import make_sender
from digest.send_days import reader_schedule, welcome_timing
from digest.settings import Settings
from digest.timeutil import utcnow
from digest.web import errors
from digest.web.bodysize import BodySizeLimit
from digest.web.desk.figures import Figures
from digest.web.desk.sends import DeskSends
from digest.web.desk.session import failure_limits as desk_failure_limits
from digest.web.editors import failure_limit
from digest.web.head import HeadAsGet
from digest.web.headers import SecurityHeaders
from digest.web.nul import NulInPath
from digest.web.pages import Pages, static_files
from digest.web.pump import ConfirmationPump
from digest.web.ratelimit import RateLimit
from digest.web.routers import BODY_LIMITS, DEFAULT_BODY_LIMIT, ROUTERS
from digest.web.signups import SignupBook
from digest.web.topics import KnownTopics
from digest.web.writes import WriteGate
from subscribers import operators, validation
from subscribers.tokens import ConfirmationTokens


def load_router(spec: str):
    module, _, attribute = spec.partition(":")
    return getattr(import_module(module), attribute)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Starting: mails left waiting, or claimed by a process that died (kill -9), go out now.
    app.state.confirmations.wake()
    yield
    # The server is stopping: let the confirmation mails being sent leave first.
    await run_in_threadpool(app.state.confirmations.stop)
    await run_in_threadpool(app.state.desk_sends.stop)  # desk sends stop after the request in flight
    app.state.confirmation_queue.close()
    app.state.welcome_queue.close()


def create_app(settings: Settings, engine: Engine) -> FastAPI:
    app = FastAPI(
        title=settings.newsletter_name,
        version=__version__,
        docs_url=None,
        redoc_url=None,
        description='Sign up, confirm, choose topics and leave; see README.md, "Endpoints".',
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    operators.use_erasure_key(settings.secret_key)  # what an erasure keeps (and the webhook checks) is keyed
    app.state.pages = Pages(settings)
    app.state.writes = WriteGate(engine)
    app.state.signups = SignupBook(app.state.writes.session)
    app.state.topics = KnownTopics(engine)
    app.state.zones = validation.zones()  # places and UTC, never localtime or Factory
    app.state.subscribe_limit = RateLimit("subscribe", settings.subscribe_rate_limit)
    app.state.editor_failures = failure_limit()  # wrong admin tokens, per client
    app.state.desk_failures = desk_failure_limits()  # wrong desk passwords, per name and per client
    app.state.desk_sends = DeskSends(engine, settings)  # sends an owner started from the desk
    app.state.desk_figures = Figures()  # the desk's costly reader counts, recounted in the background
    app.state.confirmation_tokens = ConfirmationTokens(settings.secret_key)
    app.state.confirmation_queue = ConfirmationQueue(engine, settings, app.state.writes.session)
    app.state.welcome_queue = WelcomeQueue(
        engine,
        settings,
        welcome_timing(engine, settings, utcnow),
        partial(reader_schedule, settings),
        app.state.writes.session,
    )

    def send_mails(sender) -> int:  # confirmation mails, then welcomes: one pump for both
        claimed = app.state.confirmation_queue.send_batch(sender, size=sender.max_batch).claimed
        welcomed = app.state.welcome_queue.send_batch(sender, size=sender.max_batch)
        return max(claimed, welcomed.claimed - welcomed.deferred)

    app.state.confirmations = ConfirmationPump(send_mails, partial(make_sender, settings))
    errors.install(app)

    @app.get("/healthz", summary="Liveness: the app answers and the database is reachable", tags=["operators"])
    def healthz(request: Request) -> JSONResponse:
        app.state.writes.store_file.check()  # a SQLite file deleted under the server: 503, not "ok"
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        return JSONResponse({"status": "ok"})

    for spec in ROUTERS:
        app.include_router(load_router(spec))
    app.mount("/static", static_files(settings), name="static")
    app.add_middleware(BodySizeLimit, default=DEFAULT_BODY_LIMIT, limits=BODY_LIMITS)
    app.add_middleware(NulInPath)  # no address of ours holds a NUL; PostgreSQL would refuse it (a 500)
    app.add_middleware(HeadAsGet)  # HEAD on every page, as GET without a body (FastAPI answers it 405)
    app.add_middleware(SecurityHeaders)  # added last: outermost, so every answer carries the headers
    return app
