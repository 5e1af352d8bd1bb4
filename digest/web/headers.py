"""Headers every response carries: no framing, no sniffing, no caching of per-reader pages.

Referrer-Policy `same-origin` keeps a reader's token (in /preferences/TOKEN and
the like) from leaking to another site through the Referer header. Every
redirect's Location is relative: the app never sends anyone to another site,
and an absolute one (Starlette's trailing-slash redirect builds one from the
request's Host header) would echo whatever Host a client sent.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'self'; img-src 'self' data:; "
        b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
)


def relative(location: bytes) -> bytes:
    """A Location as a path on this site: `https://any.host/editions/?x` becomes `/editions/?x`."""
    parts = urlsplit(location.decode("latin-1"))
    if not (parts.scheme or parts.netloc) and not parts.path.startswith("//"):
        return location
    path = "/" + parts.path.lstrip("/")  # never `//host`, which a browser reads as another site
    return urlunsplit(("", "", path, parts.query, parts.fragment)).encode("latin-1")


class SecurityHeaders:
    def __init__(self, app: ASGIApp, cacheable_prefixes: tuple[str, ...] = ("/static/",)):
        self.app = app
        self.cacheable_prefixes = cacheable_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cacheable = scope["path"].startswith(self.cacheable_prefixes)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, relative(value) if name.lower() == b"location" else value)
                    for name, value in message.get("headers", [])
                ]
                present = {name.lower() for name, _ in headers}
                headers.extend(pair for pair in SECURITY_HEADERS if pair[0] not in present)
                if not cacheable and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
