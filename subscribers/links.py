"""The links a reader's token opens. One place builds them, so every email and page agrees."""

from __future__ import annotations

from urllib.parse import quote


def unsubscribe_url(base_url: str, token: str) -> str:
    return f"{base_url}/unsubscribe/{token}"


def preferences_url(base_url: str, token: str) -> str:
    return f"{base_url}/preferences/{token}"


def vote_url(base_url: str, token: str, comparison_slug: str, tool_slug: str) -> str:
    return f"{base_url}/vote/{token}/{quote(comparison_slug)}/{quote(tool_slug)}"


def confirm_url(base_url: str, signed: str) -> str:
    return f"{base_url}/confirm/{signed}"
