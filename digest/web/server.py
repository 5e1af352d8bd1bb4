"""Running the app under uvicorn: in the foreground for `digest serve`, or in a thread for tests."""

from __future__ import annotations

import errno
import gc
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from digest.errors import ServeError


def listen(host: str = "127.0.0.1", port: int = 8000) -> socket.socket:
    """The socket `digest serve` listens on, bound before anything starts, so that a port in use (or
    one that needs privileges) is a ServeError naming it, not uvicorn's own log line and exit status."""
    try:
        return bind(host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            hint = "another program (another digest serve?) listens there; stop it, or choose another with --port"
        elif exc.errno == errno.EACCES:
            hint = "a port below 1024 needs privileges; use a higher one behind a proxy"
        else:
            hint = "check --host and --port"
        raise ServeError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); {hint}") from exc


def run(
    app: FastAPI,
    sock: socket.socket,
    log_level: str = "info",
    forwarded_allow_ips: str | None = None,
) -> None:
    """Serve on `sock` (from `listen`) until stopped. `forwarded_allow_ips` names the proxies whose
    X-Forwarded-For and X-Forwarded-Proto are believed (IP addresses or networks, comma-separated);
    without it those headers are ignored, so no client can choose the address its rate limit and
    consent record use."""
    freeze_startup_objects()
    server = uvicorn.Server(
        uvicorn.Config(app, log_level=log_level, server_header=False, **proxy_options(forwarded_allow_ips))
    )
    with sock:
        server.run(sockets=[sock])
    if not server.started:
        host, port = sock.getsockname()[:2]
        raise ServeError(f"the web server on {host}:{port} did not start; the lines above say why")


def proxy_options(forwarded_allow_ips: str | None) -> dict:
    """uvicorn's proxy-header settings: on only for the proxies named."""
    if not forwarded_allow_ips:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": forwarded_allow_ips}


def freeze_startup_objects() -> None:
    """Keep the garbage collector's full passes short while serving.

    Loading the app leaves well over 100,000 objects (modules, the ORM's and FastAPI's tables)
    that live as long as the process. A full collection walks all of them, about 100 ms on a
    small machine, and under load one comes every few seconds: every request in flight waits.
    Frozen (gc.freeze), they are left out of every later collection, which then takes a few ms.
    """
    gc.collect()
    gc.freeze()


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening socket; port 0 picks a free one (read it with getsockname).

    Made with the protocol named (IPPROTO_TCP), not 0: the connections it accepts carry that number, and
    asyncio turns Nagle's algorithm off (TCP_NODELAY) only on sockets that say they are TCP. Without it
    uvicorn's two writes per answer (the head, then the body) met the client's delayed ACK, and every
    answer took at least 40 ms on loopback (tests/bench/bench_desk.py: /healthz 44 ms, now about 1 ms)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


@contextmanager
def serving(
    app: FastAPI, sock: socket.socket, timeout: float = 10.0, forwarded_allow_ips: str | None = None
) -> Iterator[str]:
    """Serve `app` on `sock` from a background thread; yields the base URL, stops on exit."""
    server = uvicorn.Server(
        uvicorn.Config(
            app, log_level="warning", lifespan="off", server_header=False, **proxy_options(forwarded_allow_ips)
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web server did not start")
        time.sleep(0.01)
    try:
        yield base_url(sock)
    finally:
        server.should_exit = True
        thread.join(timeout)
