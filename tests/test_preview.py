"""An editor's preview: files on disk, the local page with template reload, and a test send to the outbox."""

from __future__ import annotations

import email
import os
import re
import shutil
from email import policy
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from helpers import comparison, two_comparisons
from sqlmodel import select

from digest.cli import main
from digest.editions.models import Edition
from digest.mail.placeholders import READER_TOKEN
from digest.render import templates_root
from digest.render.preview import SAMPLE_READER, preview_server
from digest.settings import Settings
from digest.store import open_store, session_scope

W47 = "2026-W47"


def _seed(url: str, build: bool = False) -> None:
    engine = open_store(url)
    two_comparisons(engine, W47 if build else None)
    engine.dispose()


def _editions(url: str) -> list[Edition]:
    engine = open_store(url)
    with session_scope(engine) as session:
        found = list(session.exec(select(Edition)).all())
    engine.dispose()
    return found


def test_preview_writes_the_html_and_text_with_a_sample_readers_links(cli_env, tmp_path):
    _seed(cli_env["DIGEST_DATABASE_URL"], build=True)
    out = tmp_path / "look"
    result = CliRunner().invoke(main, ["editions", "preview", "--edition", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    heading, subject, size, *paths = result.stdout.splitlines()
    assert heading == "Edition 1 for 2026-W47 (draft)"
    assert subject == "Subject: Lumen vs Orbit, and 1 more"
    assert paths == [str(out / "edition.html"), str(out / "edition.txt")]
    html_bytes = len((out / "edition.html").read_bytes())  # the sample token is shorter than a reader's
    assert re.fullmatch(
        r"HTML: ([\d,]+) bytes a reader as sent, ([\d,]+) under the 100,000-byte limit "
        r"\(Gmail clips at about 102 KB\)\.",
        size,
    ), size
    shown, margin = (int(n.replace(",", "")) for n in re.findall(r"[\d,]{4,}", size)[:2])
    assert shown + margin == 100_000 and shown > html_bytes
    for name in ("edition.html", "edition.txt"):
        written = (out / name).read_text(encoding="utf-8")
        assert READER_TOKEN not in written
        assert f"/unsubscribe/{SAMPLE_READER}" in written and "Relaybench vs Quillpatch" in written


def test_previewing_a_week_not_built_yet_shows_its_draft_and_saves_nothing(cli_env, tmp_path):
    _seed(cli_env["DIGEST_DATABASE_URL"])
    result = CliRunner().invoke(main, ["editions", "preview", "--week", W47, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Lumen vs Orbit" in (tmp_path / "edition.txt").read_text(encoding="utf-8")
    assert _editions(cli_env["DIGEST_DATABASE_URL"]) == []


@pytest.mark.parametrize(
    "args,complaint",
    [
        (["editions", "preview", "--week", W47], f"nothing to preview: no new comparisons in {W47}"),
        (["editions", "preview", "--edition", "4"], "there is no edition 4"),
        (["editions", "preview", "--week", W47, "--edition", "1"], "give --week or --edition, not both"),
        (["editions", "preview", "--week", "2026-W99"], "2026 has no ISO week 99"),
        (["editions", "send-test", "--to", "not-an-address"], "--to"),
        (["editions", "send-test", "--to", "a@b.example\nBcc: x@y.example"], "--to"),
    ],
)
def test_preview_and_send_test_name_what_was_wrong(cli_env, args, complaint):
    result = CliRunner().invoke(main, args)
    assert result.exit_code in (1, 2)
    assert complaint in result.output
    assert "Traceback" not in result.output


def test_send_test_puts_the_edition_for_one_address_in_the_outbox(cli_env):
    _seed(cli_env["DIGEST_DATABASE_URL"], build=True)
    result = CliRunner().invoke(main, ["editions", "send-test", "--to", "Editor@Example.com", "--edition", "1"])
    assert result.exit_code == 0, result.output
    assert "Sent a test of edition 1 to Editor@example.com through outbox" in result.output
    files = list(Path(cli_env["DIGEST_OUTBOX"]).glob("*.eml"))
    assert len(files) == 1
    message = email.message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert message["Subject"] == "[Test] Lumen vs Orbit, and 1 more"
    assert message["To"] == "Editor@example.com"
    assert message["List-Id"] == "Weekly AI Tool Verdicts <weekly-ai-tool-verdicts.example.com>"
    assert message["List-Unsubscribe"] is None  # the address is no reader's: nobody to unsubscribe
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    for part in (html, text):
        assert "[Test] A test send of edition 1, not sent to readers." in part
        assert "/unsubscribe/" not in part and "/preferences/" not in part and "/vote/" not in part
        assert SAMPLE_READER not in part and READER_TOKEN not in part


def test_every_link_of_a_test_send_works_and_changes_nothing(db_url):
    """Each link into the site answers (no 404), and following them all changes no reader and no vote."""
    from helpers import add_reader, serve_site

    from digest.mail.memory import MemorySender
    from digest.render.preview import preview, send_test

    with serve_site(db_url) as site:
        two_comparisons(site.engine, W47)
        add_reader(site.engine, "reader@example.com")
        with session_scope(site.engine) as session:
            result = preview(session, site.settings, number=1)
        sender = MemorySender()
        assert send_test(result, sender, "editor@example.com", site.settings.base_url).accepted
        letter = sender.sent[0].letter
        assert letter.subject.startswith("[Test] ")
        ours = set(re.findall(re.escape(site.url) + r"[^\s\"'<>]*", letter.html + letter.text))
        assert ours and all(READER_TOKEN not in link for link in ours)
        before = _counts(site.engine)
        for link in ours:
            for method in ("GET", "HEAD"):
                answer = site.http.request(method, link.replace("&amp;", "&"))
                assert answer.status_code == 200, (method, link, answer.status_code)
        assert _counts(site.engine) == before


def _counts(engine) -> tuple:
    from sqlalchemy import text

    with engine.connect() as connection:
        return tuple(
            connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
            for table in ("subscriber", "vote", "consent_event")
        )


# --- the local page -----------------------------------------------------------------------------------


@pytest.fixture
def served(engine, tmp_path):
    """`digest preview --serve` on a free port, reading a copy of the templates that the test may edit."""
    root = tmp_path / "templates"
    shutil.copytree(templates_root(), root)
    with session_scope(engine) as session:
        comparison(session, "relaybench-vs-quillpatch", "2026-11-17 09:00", title="Relaybench vs Quillpatch")
    with preview_server(engine, Settings(), port=0, root=root, week=W47).running() as server:
        yield server, root


def _touch_later(path):
    stat = path.stat()
    os.utime(path, (stat.st_atime + 5, stat.st_mtime + 5))  # a new mtime even within the same second


def test_the_preview_page_shows_subject_both_widths_and_the_text_part(served):
    server, _ = served
    page = httpx.get(server.url)
    assert page.status_code == 200
    assert "Relaybench vs Quillpatch" in page.text and "Not built yet" in page.text
    assert 'class="phone"' in page.text and 'class="desktop"' in page.text
    assert f"/unsubscribe/{SAMPLE_READER}" in page.text  # the text part, filled
    size = r'<dd id="size">HTML: [\d,]+ bytes a reader as sent, [\d,]+ under the 100,000-byte limit'
    assert re.search(size, page.text)
    html = httpx.get(server.url + "edition.html")
    assert html.headers["content-type"].startswith("text/html") and "<mj-" not in html.text
    assert httpx.get(server.url + "edition.txt").headers["content-type"].startswith("text/plain")
    assert httpx.get(server.url + "nope").status_code == 404


def test_the_preview_page_picks_up_a_template_edit_on_reload(served):
    server, root = served
    text_template = root / "email" / "edition.txt.j2"
    assert "EDITED BY THE EDITOR" not in httpx.get(server.url + "edition.txt").text
    text_template.write_text("EDITED BY THE EDITOR\n" + text_template.read_text(encoding="utf-8"), encoding="utf-8")
    _touch_later(text_template)
    assert httpx.get(server.url + "edition.txt").text.startswith("EDITED BY THE EDITOR")


def test_a_broken_template_shows_an_error_page_that_names_it(served):
    server, root = served
    broken = root / "email" / "_footer.mjml.j2"
    broken.write_text("{% if %}", encoding="utf-8")
    _touch_later(broken)
    page = httpx.get(server.url)
    assert page.status_code == 500
    assert "templates/email/_footer.mjml.j2, line 1" in page.text and "Traceback" not in page.text


def test_the_preview_page_in_a_browser_shows_a_phone_and_a_desktop_frame(served, browser, artifacts):
    server, _ = served
    page = browser.new_page(viewport={"width": 1700, "height": 1000})
    try:
        page.goto(server.url)
        frames = page.locator("iframe")
        assert [round(frames.nth(i).bounding_box()["width"]) for i in range(2)] == [375, 640]
        assert page.locator("#subject").inner_text() == "Relaybench vs Quillpatch"
        for frame in (".phone iframe", ".desktop iframe"):
            title = page.frame_locator(frame).get_by_role("link", name="Relaybench vs Quillpatch", exact=True)
            assert title.is_visible(), f"the title is not visible in {frame}"
        page.screenshot(path=str(artifacts / "preview-page.png"))
    finally:
        page.close()
