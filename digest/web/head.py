"""HEAD answered as GET without a body, on every page (ASGI middleware).

RFC 9110 (9.3.2): a server that answers GET answers HEAD the same way, without
the content. Starlette's own `Route` adds HEAD to every GET route, but FastAPI's
`APIRoute` does not (fastapi/fastapi#1773, open): every `@router.get` answered
HEAD with 405, `/healthz` included, and monitors and link checkers that probe
with HEAD saw a page that was down. Adding "HEAD" to each route's methods would
depend on every new route remembering it and would put a HEAD operation beside
each GET in the OpenAPI description; this middleware covers every path at once,
the static files, the 404 page and routes added later included.

A HEAD request goes through the app as a GET (GET pages change nothing: the
confirmation, vote and unsubscribe pages only show a button), so its status and
headers, Content-Length included, are those of the GET; the body is dropped here,
whatever the server does. A HEAD on a path that has no GET gets the GET's 405.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # the rest of a streamed body: dropped, the last message ends the answer
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)
