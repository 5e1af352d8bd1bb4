"""Running the app under uvicorn: in the foreground for `digest serve`, or in a thread for tests."""

from __future__ import annotations

import gc
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI


def run(
    app: FastAPI,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "info",
    forwarded_allow_ips: str | None = None,
) -> None:
    """Serve until stopped. `forwarded_allow_ips` names the proxies whose X-Forwarded-For and
    X-Forwarded-Proto are believed (IP addresses or networks, comma-separated); without it those
    headers are ignored, so no client can choose the address its rate limit and consent record use."""
    freeze_startup_objects()
    uvicorn.run(
        app, host=host, port=port, log_level=log_level, server_header=False, **proxy_options(forwarded_allow_ips)
    )


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
    """A listening socket; port 0 picks a free one (read it with getsockname)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
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
