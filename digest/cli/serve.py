"""`digest serve`: the web app (reader pages and endpoints) under uvicorn."""

from __future__ import annotations

import signal

import click

from digest.cli.app import App, check_for_serving, pass_app
from digest.settings import check_proxies


@click.command("serve")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="The address to listen on (0.0.0.0: every interface, e.g. behind a proxy).",
)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="The TCP port.")
@click.option(
    "--forwarded-allow-ips",
    metavar="IPS",
    help="The proxies to trust (IP addresses or networks, comma-separated, e.g. 127.0.0.1): only "
    "their X-Forwarded-For and X-Forwarded-Proto count, for the rate limit and the consent "
    "record. Default: DIGEST_FORWARDED_ALLOW_IPS; unset, those headers are ignored.",
)
@click.option(
    "--with-scheduler",
    is_flag=True,
    help="Also run the scheduler (the weekly send) in this process: a single-box install.",
)
@pass_app
def serve(app: App, host: str, port: int, forwarded_allow_ips: str | None, with_scheduler: bool) -> None:
    """Serve the reader pages and endpoints over HTTP.

    The subscribe page and POST /subscribe, the confirmation, preferences and
    one-click unsubscribe links (see README.md, "Endpoints"). Confirmation
    mails leave through DIGEST_BACKEND right after each sign-up. Set
    DIGEST_BASE_URL to the address readers reach it at.

    \b
    With --with-scheduler the weekly send runs in the same process, as
    `digest scheduler run` would; stopping the server stops it too.

    \b
    Example:
        digest serve --host 127.0.0.1 --port 8000
        digest serve --with-scheduler
        digest serve --forwarded-allow-ips 127.0.0.1   # behind nginx on the same box
    """
    proxies = app.settings.forwarded_allow_ips
    if forwarded_allow_ips is not None:
        proxies = check_proxies("--forwarded-allow-ips", forwarded_allow_ips)
    check_for_serving(app, "digest serve")
    # FastAPI, Starlette and uvicorn load here, so that no other command pays their start-up time.
    from digest.web import create_app
    from digest.web.server import listen, run

    sock = listen(host, port)  # a port in use is one Error: line, before anything starts
    web_app = create_app(app.settings, app.engine)
    click.echo(
        f"Serving {app.settings.newsletter_name} on http://{host}:{port} (links point to {app.settings.base_url})."
    )
    runner = None
    if with_scheduler:
        # The scheduler (APScheduler) loads only when asked for.
        from digest.cli.scheduler import configure_logging
        from digest.jobs import build_scheduler

        configure_logging()
        runner = build_scheduler(app.engine, app.settings)
        runner.start()  # in a background thread; uvicorn owns the signals and returns on SIGTERM/Ctrl-C
        # uvicorn re-raises the signal it caught once it has shut down; land it here
        # rather than in the default handler, so the scheduler below still stops cleanly.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: None)
    try:
        run(web_app, sock, forwarded_allow_ips=proxies)
    finally:
        if runner is not None:
            runner.stop(wait=True)
