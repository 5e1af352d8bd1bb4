"""The links a reader's token opens. One place builds them, so every email and page agrees.

Each is plain string formatting over the stored token: building links for a
million readers costs well under a second. (`vote_url` quotes the slugs it is
given; the token is URL-safe already.)
"""

from __future__ import annotations

from urllib.parse import quote


def subscribe_url(base_url: str) -> str:
    return f"{base_url}/"


def unsubscribe_url(base_url: str, token: str) -> str:
    return f"{base_url}/unsubscribe/{token}"


def preferences_url(base_url: str, token: str) -> str:
    return f"{base_url}/preferences/{token}"


def vote_url(base_url: str, token: str, comparison_slug: str, tool_slug: str) -> str:
    return f"{base_url}/vote/{token}/{quote(comparison_slug)}/{quote(tool_slug)}"


def confirm_url(base_url: str, signed: str) -> str:
    return f"{base_url}/confirm/{signed}"


def list_unsubscribe_headers(base_url: str, token: str) -> dict[str, str]:
    """RFC 8058 one-click unsubscribe: mailbox providers POST `List-Unsubscribe=One-Click` to the URL."""
    return {
        "List-Unsubscribe": f"<{unsubscribe_url(base_url, token)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def keep_url(base_url: str, token: str) -> str:
    """The page whose button answers a re-permission mail: keep sending."""
    return f"{base_url}/keep/{token}"
