"""A comparison's own language (issue 24, item 5): given in the JSON import, checked as BCP 47 with
the same check as DIGEST_LANGUAGE, stored, frozen with the edition, and declared by the mail's card
and the archive wherever it differs from the newsletter's language."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest
from click.testing import CliRunner
from conftest import FIXTURES
from helpers import comparison
from sqlmodel import select
from test_import import db_fingerprint

from digest.cli import main
from digest.content.models import Comparison
from digest.editions.models import Edition
from digest.editions.service import build_edition, freeze_edition
from digest.language import direction, standard_tag
from digest.render import render_edition
from digest.render.archive import web_version
from digest.settings import Settings
from digest.store import open_store, session_scope
from digest.web import create_app

JSON_FIXTURE = FIXTURES / "comparisons.json"
SLUG = "relaybench-vs-quillpatch"


def _json_with(tmp_path, **fields) -> str:
    data = json.loads(JSON_FIXTURE.read_text(encoding="utf-8"))
    data["comparisons"][0].update(fields)
    path = tmp_path / "lang.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return str(path)


def _show(slug: str = SLUG) -> dict:
    return json.loads(CliRunner().invoke(main, ["comparisons", "show", slug, "--json"], catch_exceptions=False).stdout)


def test_the_check_is_the_settings_one_and_knows_right_to_left_scripts():
    assert standard_tag("pt_br") == "pt-BR" and standard_tag("FR") == "fr"
    for wrong in ("english", "", "xx-yy-zz-!"):
        with pytest.raises(ValueError, match="must be a language tag"):
            standard_tag(wrong)
    assert [direction(t) for t in ("ar", "he", "fa", "ur", "az-Arab")] == ["rtl"] * 5
    assert [direction(t) for t in ("en", "fr", "ja", "az")] == [None] * 4


def test_import_with_and_without_a_language(cli_env, tmp_path):
    result = CliRunner().invoke(main, ["comparisons", "import", _json_with(tmp_path, lang="pt_br")])
    assert result.exit_code == 0, result.output
    assert _show()["lang"] == "pt-BR"  # written the standard way
    result = CliRunner().invoke(main, ["comparisons", "import", str(JSON_FIXTURE)])
    assert result.exit_code == 0 and "1 updated" in result.output, result.output
    assert _show()["lang"] is None  # the file says nothing: the newsletter's language again


def test_a_bad_tag_is_refused_naming_the_file_and_field_and_nothing_is_written(cli_env, tmp_path):
    assert CliRunner().invoke(main, ["comparisons", "import", _json_with(tmp_path, lang="fr")]).exit_code == 0
    before = db_fingerprint(cli_env["DIGEST_DATABASE_URL"])
    for wrong in ("french", "fr_FR_!", 7):
        result = CliRunner().invoke(main, ["comparisons", "import", _json_with(tmp_path, lang=wrong, title="X vs Y")])
        assert result.exit_code == 1, result.output
        assert re.search(r"lang\.json: comparisons\[0\]\.lang: ", result.output), result.output
        assert "Traceback" not in result.output
        assert db_fingerprint(cli_env["DIGEST_DATABASE_URL"]) == before


def _edition(engine, settings, langs: dict[str, str | None]):
    with session_scope(engine) as session:
        for n, (slug, lang) in enumerate(langs.items()):
            made = comparison(session, slug, f"2026-11-1{7 + n} 09:00", title=f"{slug.title()} A vs B")
            made.lang = lang
        build_edition(session, settings, "2026-W47")


def _card_langs(html: str) -> list[tuple[str, str, str]]:
    """(element, lang, dir) of every element of the body declaring a lang, but for MJML's wrapper of
    the whole mail (which repeats the html element's)."""
    body = html[html.index("<body") :]
    tags = re.findall(r'<(\w+)([^>]*? lang="([^"]+)" dir="([^"]+)"[^>]*)>', body)
    return [(name, lang, way) for name, attrs, lang, way in tags if 'role="article"' not in attrs]


def test_the_card_declares_a_language_other_than_the_newsletters_and_the_frozen_edition_keeps_it(db_url, tmp_path):
    settings = replace(Settings(), database_url=db_url, outbox=tmp_path / "outbox")
    engine = open_store(db_url)
    _edition(engine, settings, {"lumen-vs-orbit": "fr", "nadir-vs-zenith": "ar", "plain-vs-simple": None})
    with session_scope(engine) as session:
        edition = session.get(Edition, 1)
        freeze_edition(session, settings, edition)
        html = render_edition(session, edition, settings).letter.html
        # a re-import after the freeze changes the stored language, not what the edition mailed
        for row in session.exec(select(Comparison)).all():
            row.lang = "de"
        edition.status = "sent"  # public: the web version
    found = _card_langs(html)
    tags = {(lang, direction) for _, lang, direction in found}
    assert tags == {("fr", "auto"), ("ar", "rtl")}, found
    titles = dict(
        (slug, tag) for tag, slug in re.findall(r'(<h2 class="title"[^>]*>)<a href="[^"]*/compare/([^"]+)"', html)
    )
    assert 'lang="fr" dir="auto"' in titles["lumen-vs-orbit"]
    assert 'lang="ar" dir="rtl"' in titles["nadir-vs-zenith"]
    assert "lang=" not in titles["plain-vs-simple"] and 'dir="auto"' in titles["plain-vs-simple"]
    # its line in the contents, then the title, summary, two categories, two prices, two taglines and two
    # pull-quotes of its card
    assert len([f for f in found if f[1] == "fr"]) == len([f for f in found if f[1] == "ar"]) == 11
    # the chrome stays in the newsletter's language: no label or button declares another
    assert not re.search(r'lang="(fr|ar)"[^>]*>(Panel ship|Community|Which would you ship)', html)
    with session_scope(engine) as session:
        again = render_edition(session, session.get(Edition, 1), settings).letter.html
        web = web_version(session, settings, 1)
    assert _card_langs(again) == found  # from the frozen comparison, not the store
    assert {lang for _, lang, _ in _card_langs(web)} == {"fr", "ar"}
    engine.dispose()


def test_a_comparison_in_the_newsletters_own_language_adds_not_a_byte(sqlite_url, tmp_path):
    engine = open_store(sqlite_url)
    french = replace(Settings(), database_url=sqlite_url, language="fr")
    _edition(engine, french, {"lumen-vs-orbit": "fr", "plain-vs-simple": None})
    with session_scope(engine) as session:
        edition = session.get(Edition, 1)
        same = render_edition(session, edition, french).letter.html
        session.get(Comparison, 1).lang = None
        session.flush()
        without = render_edition(session, edition, french).letter.html
    assert _card_langs(same) == [] and same == without
    engine.dispose()


def test_the_archive_declares_a_titles_language(sqlite_url, tmp_path):
    from starlette.testclient import TestClient

    settings = replace(Settings(), database_url=sqlite_url)
    engine = open_store(sqlite_url)
    _edition(engine, settings, {"lumen-vs-orbit": "he", "plain-vs-simple": None})
    with session_scope(engine) as session:
        session.get(Edition, 1).status = "sent"
    with TestClient(create_app(settings, engine)) as client:
        page = client.get("/editions/").text
    assert re.search(r'<li><a href="[^"]*" lang="he" dir="rtl">Lumen-Vs-Orbit A vs B</a>', page), page
    assert page.count(' lang="') == 2  # the page's own (html) and the Hebrew title's
    engine.dispose()
