"""HEAD answers like GET without a body, and changes nothing, on every page the app serves (a real
uvicorn server): FastAPI's routes answered it 405, /healthz included."""

from __future__ import annotations

import re

import pytest
from helpers import add_reader, serve_site, two_comparisons
from sqlalchemy import text

from digest.web import create_app

W47 = "2026-W47"


def _counts(engine) -> tuple:
    with engine.connect() as connection:
        return tuple(
            connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
            for table in ("subscriber", "vote", "consent_event", "edition")
        )


def _get_paths(site, token: str) -> list[str]:
    """Every GET operation the app describes, its parameters filled with values that exist, and the
    paths it serves outside its description."""
    values = {
        "token": token,
        "signed": "not-a-signed-token",
        "number": "1",
        "comparison_slug": "lumen-vs-orbit",
        "tool_slug": "lumen-vs-orbit-left",
    }
    described = create_app(site.settings, site.engine).openapi()["paths"]
    paths = [
        re.sub(r"\{(\w+)\}", lambda name: values[name.group(1)], path)
        for path, operations in described.items()
        if "get" in operations
    ]
    return [*paths, "/editions", "/static/pages.css", "/no-such-page", "/unsubscribe/no-such-token"]


def test_head_answers_every_page_like_get_without_a_body_and_changes_nothing(db_url):
    with serve_site(db_url) as site:
        two_comparisons(site.engine, W47)
        _, token = add_reader(site.engine, "reader@example.com")
        paths = _get_paths(site, token)
        assert "/healthz" in paths and f"/preferences/{token}" in paths and len(paths) >= 12
        before = _counts(site.engine)
        for path in paths:
            got = site.http.get(path)
            head = site.http.head(path)
            assert head.status_code == got.status_code, (path, head.status_code, got.status_code)
            assert head.content == b"", path
            assert head.headers.get("content-type") == got.headers.get("content-type"), path
            assert head.headers.get("location") == got.headers.get("location"), path
            if got.status_code == 200 and "content-length" in got.headers and path != "/healthz":
                assert head.headers["content-length"] == got.headers["content-length"], path
        assert site.http.head("/healthz").status_code == 200
        assert _counts(site.engine) == before


@pytest.mark.parametrize("path", ["/subscribe", "/webhooks/sendgrid", "/stats/login"])
def test_head_on_a_path_without_get_is_refused_like_get(db_url, path):
    with serve_site(db_url) as site:
        got, head = site.http.get(path), site.http.head(path)
        assert head.status_code == got.status_code == 405 and head.content == b""
        assert head.headers.get("allow") == got.headers.get("allow")
