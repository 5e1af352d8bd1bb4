"""Branding after a normal install: DIGEST_TEMPLATES overrides the shipped templates by name, `digest templates
copy` starts the folder, errors name the file actually read, and the preview page follows every change."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from helpers import scaled, serve_site, two_comparisons

from digest.cli import main
from digest.delivery.confirmations import render_confirmation
from digest.editions.models import Edition
from digest.editions.service import edit_edition
from digest.render.preview import preview_server
from digest.render.templates import environment, templates_root
from digest.settings import Settings
from digest.store import open_store, session_scope

W47 = "2026-W47"
MASTHEAD = "email/_masthead.mjml.j2"


def _shipped(name: str) -> str:
    return (templates_root() / name).read_text(encoding="utf-8")


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    stat = path.stat()
    os.utime(path, (stat.st_atime + 5, stat.st_mtime + 5))  # a new mtime even within the same second
    return path


def _branded_masthead(folder: Path) -> Path:
    text = _shipped(MASTHEAD).replace("side-by-side verdict", "ACME BRANDED VERDICT").replace("#0f172a", "#7c2d12")
    return _write(folder, MASTHEAD, text)


def _seed(url: str) -> None:
    engine = open_store(url)
    two_comparisons(engine, W47)
    engine.dispose()


# --- digest templates copy -----------------------------------------------------------------------------


def test_templates_copy_writes_every_shipped_template_and_leaves_existing_files_alone(tmp_path):
    brand = tmp_path / "brand"
    done = CliRunner().invoke(main, ["templates", "copy", str(brand)])
    assert done.exit_code == 0, done.output
    shipped = {p.relative_to(templates_root()) for p in templates_root().rglob("*") if p.is_file()}
    copied = {p.relative_to(brand) for p in brand.rglob("*") if p.is_file()}
    assert copied == shipped and Path(MASTHEAD) in copied and Path("pages/static/pages.css") in copied
    assert (brand / MASTHEAD).read_text(encoding="utf-8") == _shipped(MASTHEAD)
    assert f"DIGEST_TEMPLATES={brand.resolve()}" in done.output

    mine = _write(brand, MASTHEAD, "my masthead")
    again = CliRunner().invoke(main, ["templates", "copy", str(brand)])
    assert again.exit_code == 1
    assert "already holds" in again.output and "nothing was copied" in again.output and "--force" in again.output
    assert mine.read_text(encoding="utf-8") == "my masthead"
    forced = CliRunner().invoke(main, ["templates", "copy", str(brand), "--force"])
    assert forced.exit_code == 0 and mine.read_text(encoding="utf-8") == _shipped(MASTHEAD)

    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    refused = CliRunner().invoke(main, ["templates", "copy", str(a_file)])
    assert refused.exit_code in (1, 2) and "Traceback" not in refused.output


# --- DIGEST_TEMPLATES --------------------------------------------------------------------------------


def test_an_override_of_one_partial_brands_the_preview_and_the_rest_stays_shipped(cli_env, tmp_path, monkeypatch):
    _seed(cli_env["DIGEST_DATABASE_URL"])
    brand = tmp_path / "brand"
    _branded_masthead(brand)  # the folder holds this one partial only
    monkeypatch.setenv("DIGEST_TEMPLATES", str(brand))
    out = tmp_path / "look"
    shown = CliRunner().invoke(main, ["editions", "preview", "--out", str(out)])
    assert shown.exit_code == 0, shown.output
    html = (out / "edition.html").read_text(encoding="utf-8")
    assert "ACME BRANDED VERDICTs this week" in html and "#7c2d12" in html
    assert "side-by-side verdicts this week" not in html
    assert "Unsubscribe</a>" in html and "Relaybench vs Quillpatch" in html  # footer and body: shipped
    monkeypatch.delenv("DIGEST_TEMPLATES")
    plain = CliRunner().invoke(main, ["editions", "preview", "--out", str(tmp_path / "plain")])
    assert plain.exit_code == 0
    assert "side-by-side verdicts this week" in (tmp_path / "plain" / "edition.html").read_text(encoding="utf-8")


def test_pages_stylesheets_and_the_confirmation_mail_follow_the_override_too(sqlite_url, tmp_path):
    brand = tmp_path / "brand"
    _write(brand, "pages/base.html", _shipped("pages/base.html").replace("Skip to content", "ACME skip link"))
    _write(brand, "pages/static/pages.css", "/* ACME colours */ body { color: #7c2d12; }\n")
    _write(brand, "email/confirm.txt.j2", "ACME says: confirm at {{ c.confirm_url }}\n")
    with serve_site(sqlite_url, templates=brand) as site:
        page = site.http.get("/")
        assert page.status_code == 200 and "ACME skip link" in page.text
        assert site.http.get("/static/pages.css").text.startswith("/* ACME colours */")
        assert "ACME" not in site.http.get("/static/feedback.css").text  # not overridden: the shipped one
        letter = render_confirmation(site.settings)
    assert letter.text.startswith("ACME says: confirm at ")
    assert "Confirm" in letter.html  # the HTML part was not overridden


def test_template_errors_name_the_file_actually_read_and_its_line(cli_env, tmp_path, monkeypatch):
    _seed(cli_env["DIGEST_DATABASE_URL"])
    brand = tmp_path / "brand"
    broken = _write(brand, MASTHEAD, "<mj-section>\n{% if %}\n</mj-section>\n")
    monkeypatch.setenv("DIGEST_TEMPLATES", str(brand))
    syntax = CliRunner().invoke(main, ["editions", "preview", "--out", str(tmp_path / "p")])
    assert syntax.exit_code == 1
    assert f"{broken}, line 2" in syntax.output and "Traceback" not in syntax.output
    footer = _write(
        brand,
        "email/_footer.mjml.j2",
        "<mj-section><mj-column>\n<mj-text>{{ e.no_such_field }}</mj-text>\n</mj-column></mj-section>\n",
    )
    _write(brand, MASTHEAD, _shipped(MASTHEAD))
    filling = CliRunner().invoke(main, ["editions", "preview", "--out", str(tmp_path / "p")])
    assert filling.exit_code == 1
    assert f"{footer}, line 2 cannot be filled" in filling.output and "no_such_field" in filling.output

    monkeypatch.setenv("DIGEST_TEMPLATES", str(tmp_path / "nowhere"))
    missing = CliRunner().invoke(main, ["editions", "preview"])
    assert missing.exit_code == 1
    assert "DIGEST_TEMPLATES must name a folder of templates" in missing.output and "not there" in missing.output


def test_an_override_created_or_removed_after_a_template_was_read_is_noticed(tmp_path):
    brand = tmp_path / "brand"
    brand.mkdir()
    env = environment("text", None, brand)
    name = "email/confirm.txt.j2"
    assert env.get_template(name).filename == str(templates_root() / name)
    mine = _write(brand, name, "branded {{ c }}")
    assert env.get_template(name).filename == str(mine)
    mine.unlink()
    assert env.get_template(name).filename == str(templates_root() / name)


# --- the preview page follows templates and the edition -------------------------------------------------


@pytest.fixture
def previewing(engine, tmp_path):
    """`digest editions preview --serve` on a free port with DIGEST_TEMPLATES set to an empty folder."""
    brand = tmp_path / "brand"
    brand.mkdir()
    two_comparisons(engine, W47)
    with preview_server(engine, Settings(templates=brand), port=0, number=1).running() as server:
        yield server, brand


def _version(server) -> str:
    return httpx.get(server.url + "version").text


def test_the_version_changes_with_a_template_or_the_edition_and_only_then(previewing, engine):
    server, brand = previewing
    first = _version(server)
    assert first == _version(server)  # nothing changed: the page stays
    _branded_masthead(brand)
    branded = _version(server)
    assert branded != first
    with session_scope(engine) as session:
        edit_edition(session, 1, intro="A word from the editor.")
    assert _version(server) != branded
    broken = _write(brand, MASTHEAD, "{% if %}")
    assert _version(server) != branded  # the error page's own version: it reloads once fixed
    page = httpx.get(server.url)
    assert page.status_code == 500 and f"{broken}, line 1" in page.text and 'data-version="' in page.text


def test_the_preview_page_shows_the_editions_state(previewing, engine):
    server, _ = previewing
    with session_scope(engine) as session:
        edit_edition(session, 1, exclude=["lumen-vs-orbit"])
    page = httpx.get(server.url).text
    assert 'id="state"' in page and ">draft</strong>" in page
    assert "Left out: Lumen vs Orbit" in page
    with engine.begin() as connection:
        connection.execute(Edition.__table__.update().values(status="sent"))
    page = httpx.get(server.url).text
    assert ">sent</strong>" in page and "this is what readers got" in page


def test_the_preview_page_reloads_by_itself_when_a_template_or_the_edition_changes(
    previewing, engine, browser, artifacts
):
    server, brand = previewing
    page = browser.new_page(viewport={"width": 1700, "height": 1000})
    try:
        page.goto(server.url)
        phone = page.frame_locator(".phone iframe")
        assert phone.get_by_text("2 side-by-side verdicts this week").is_visible()
        before = page.evaluate("document.body.dataset.version")
        _branded_masthead(brand)  # a new file in DIGEST_TEMPLATES: nobody touches the browser
        page.wait_for_function("v => document.body.dataset.version !== v", arg=before, timeout=scaled(15_000))
        page.wait_for_load_state()
        assert phone.get_by_text("2 ACME BRANDED VERDICTs this week").is_visible()
        page.screenshot(path=str(artifacts / "reloaded-after-template.png"))

        before = page.evaluate("document.body.dataset.version")
        with session_scope(engine) as session:
            edit_edition(session, 1, exclude=["relaybench-vs-quillpatch"])
        page.wait_for_function("v => document.body.dataset.version !== v", arg=before, timeout=scaled(15_000))
        page.wait_for_load_state()
        assert page.locator("#left-out").inner_text() == "Left out: Relaybench vs Quillpatch"
        assert phone.get_by_text("1 ACME BRANDED VERDICT this week").is_visible()
        page.screenshot(path=str(artifacts / "reloaded-after-edit.png"))
    finally:
        page.close()


def test_a_card_filled_once_is_the_macros_own_and_an_edited_card_template_is_filled_anew(tmp_path):
    """`once` (the edition template's cards): the same output as the macro filled directly, and a partial
    edited on disk afterwards gives its new card, not the kept one."""
    brand = tmp_path / "brand"
    brand.mkdir()
    env = environment("markup", None, brand)
    name = "email/_card.j2"
    _write(brand, name, "{% macro card(c, n) %}<p>{{ c }} of {{ n }}</p>{% endmacro %}")
    page = "{% from 'email/_card.j2' import card %}{{ once(card, c, 3) }}|{{ card(c, 3) }}"
    assert env.from_string(page).render(c="<b>") == "<p>&lt;b&gt; of 3</p>|<p>&lt;b&gt; of 3</p>"
    mine = _write(brand, name, "{% macro card(c, n) %}<div>{{ c }}/{{ n }}</div>{% endmacro %}")
    os.utime(mine, (os.path.getmtime(mine) + 5,) * 2)  # a later edit, whatever the file system's clock grain
    assert env.from_string(page).render(c="<b>") == "<div>&lt;b&gt;/3</div>|<div>&lt;b&gt;/3</div>"
