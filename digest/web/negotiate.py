"""Whether to answer a request with JSON or with an HTML page."""

from __future__ import annotations

from starlette.requests import HTTPConnection

JSON = "application/json"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def media_type(request: HTTPConnection) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def wants_json(request: HTTPConnection) -> bool:
    """A JSON body gets a JSON answer; otherwise a browser (Accept: text/html) gets a page."""
    if media_type(request) == JSON:
        return True
    accept = request.headers.get("accept", "").lower()
    if "text/html" in accept:
        return False
    return "json" in accept
