"""A NUL in the path is a 404 before any route runs (ASGI middleware).

PostgreSQL refuses a NUL character in any text value, so `/vote/TOKEN/a%00/b` or
`/preferences/%00` reached the database and failed there, a 500 (SQLite stores it,
and found nothing: a 404). No address this site gives out holds a NUL: tokens,
slugs and edition numbers never do, so such a path names nothing, on either
database, whatever its method.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from digest.web.errors import error_response
from subscribers.errors import Problem


class NulInPath:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "\x00" in scope["path"]:
            problem = Problem("path", "There is no such page: this address holds a NUL character, as none of ours do.")
            response = error_response(Request(scope), 404, [problem], title="No such page")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
