"""DIGEST_LANGUAGE (issue 24, item 5): the `lang` every mail and page declares, checked as a BCP 47 tag."""

from __future__ import annotations

import warnings

import pytest
from helpers import two_comparisons

from digest.editions.models import Edition
from digest.errors import ConfigError
from digest.render import render_edition
from digest.render.confirmation import render_confirmation
from digest.render.repermission import render_repermission
from digest.render.welcome import render_welcome
from digest.settings import Settings
from digest.store import open_store, session_scope
from digest.web import create_app

warnings.filterwarnings("ignore", message=".*httpx.*starlette.testclient.*")
from starlette.testclient import TestClient  # noqa: E402


def test_the_language_is_a_checked_tag_written_the_standard_way():
    assert Settings.from_env({}).language == "en"
    assert Settings.from_env({"DIGEST_LANGUAGE": "pt_br"}).language == "pt-BR"
    for wrong in ("english", "xx-yy-zz-!"):
        with pytest.raises(ConfigError, match="DIGEST_LANGUAGE must be a language tag such as en, fr or pt-BR"):
            Settings.from_env({"DIGEST_LANGUAGE": wrong})


def test_every_mail_and_page_declares_the_newsletters_language(sqlite_url, tmp_path):
    settings = Settings.from_env(
        {"DIGEST_DATABASE_URL": sqlite_url, "DIGEST_LANGUAGE": "fr", "DIGEST_OUTBOX": str(tmp_path / "outbox")}
    )
    engine = open_store(sqlite_url)
    two_comparisons(engine, build="2026-W47")
    with session_scope(engine) as session:
        letter = render_edition(session, session.get(Edition, 1), settings).letter
    assert '<html lang="fr"' in letter.html and 'lang="en"' not in letter.html
    assert '<html lang="fr"' in render_confirmation(settings).html
    assert '<html lang="fr"' in render_welcome(settings).html  # the welcome, later too
    assert '<html lang="fr"' in render_repermission(settings).html
    with TestClient(create_app(settings, engine)) as client:
        assert '<html lang="fr">' in client.get("/").text
    engine.dispose()
