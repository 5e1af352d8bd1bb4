"""What a route needs, taken from the app it runs in (create_app puts them on app.state)."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.engine import Engine

from digest.settings import Settings


def settings_of(request: Request) -> Settings:
    return request.app.state.settings


def engine_of(request: Request) -> Engine:
    return request.app.state.engine


def pages_of(request: Request):
    """The digest.web.pages.Pages renderer."""
    return request.app.state.pages


def client_address(request: Request) -> str:
    """The client's IP address (uvicorn has already applied trusted proxy headers)."""
    return request.client.host if request.client else "unknown"
