"""A cap on request bodies, checked before a route reads them (ASGI middleware).

A declared Content-Length over the limit is refused at once; a body sent
without one (chunked) is counted as it arrives and refused when it passes the
limit. Either way the client gets 413 and a message, and nothing is stored.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from digest.web.errors import ClientError, error_response
from subscribers.errors import Problem


def _too_large(limit: int) -> str:
    return f"The request body is larger than this address accepts ({limit:,} bytes)."


class BodySizeLimit:
    def __init__(self, app: ASGIApp, default: int, limits: Mapping[str, int] | None = None):
        self.app = app
        self.default = default
        self.limits = sorted((limits or {}).items(), key=lambda item: -len(item[0]))  # longest prefix first

    def limit_for(self, path: str) -> int:
        return next((size for prefix, size in self.limits if path.startswith(prefix)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            problem = None
            if not (declared.strip().isascii() and declared.strip().isdigit()):
                status, problem = 400, Problem("Content-Length", "must be a whole number of bytes")
            elif int(declared) > limit:
                status, problem = 413, Problem("body", _too_large(limit))
            if problem is not None:
                response = error_response(Request(scope), status, [problem])
                await response(scope, receive, send)
                return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise ClientError(413, _too_large(limit), field="body")
            return message

        await self.app(scope, counted, send)
