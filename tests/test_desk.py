"""The desk over HTTP: sign-in with a name and password (a signed, Secure, HttpOnly, SameSite=Strict
cookie), limits on wrong passwords per name and per address that lapse, CSRF and origin checks on every
POST, roles, the week at a glance, approvals by a second editor, and the bearer token for scripts."""

from __future__ import annotations

import html
import re
import time
import warnings
from dataclasses import replace

import pytest
import schemathesis
import sqlalchemy as sa
from helpers import add_reader, add_readers, comparison, edition_status, ledger, serve_site, wait_for
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from sendgrid_server import SendGridServer
from sqlmodel import select

from digest.editions.service import change_status, get_edition
from digest.editions.status import EditionStatus
from digest.editors.accounts import add_editor, set_password
from digest.editors.approvals import build_as, edit_as
from digest.editors.audit import edition_log
from digest.editors.models import AuditEntry
from digest.editors.roles import Role
from digest.settings import Settings
from digest.store import open_store, session_scope
from digest.web import create_app
from digest.web.desk import session as desk_session
from digest.web.desk.figures import CHEAP, MIN_AGE, Figures
from subscribers.models import Subscriber

PASSWORD = "correct horse battery"
TOKEN = "s3cret-admin-token"
HTML = {"Accept": "text/html"}


@pytest.fixture
def site(db_url):
    with serve_site(db_url, admin_token=TOKEN, approvals=1) as site:
        with session_scope(site.engine) as session:
            add_editor(session, "ada", PASSWORD, Role.OWNER, "test")
            add_editor(session, "grace", PASSWORD, Role.EDITOR, "test")
        yield site


def _token(page_text: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page_text).group(1)


def sign_in(site, name: str, password: str = PASSWORD, **headers):
    form = site.http.get("/desk/login")
    return site.http.post(
        "/desk/login",
        data={"csrf": _token(form.text), "name": name, "password": password},
        headers={**HTML, **headers},
        follow_redirects=False,
    )


class Editor:
    """One signed-in browser, as far as HTTP goes: its session cookie and the CSRF token of its pages."""

    def __init__(self, site, name: str):
        answer = sign_in(site, name)
        assert answer.status_code == 303, answer.text
        self.site, self.cookie = site, answer.headers["set-cookie"].split(";")[0]

    def get(self, path: str, **headers):
        return self.site.http.get(path, headers={**HTML, "Cookie": self.cookie, **headers}, follow_redirects=False)

    def post(self, path: str, data: dict | None = None, *, headers: dict | None = None):
        token = _token(self.get("/desk").text)
        return self.site.http.post(
            path,
            data={"csrf": token, **(data or {})},
            headers={**HTML, "Cookie": self.cookie, **(headers or {})},
            follow_redirects=False,
        )


def reader_status(engine, email: str) -> str:
    table = Subscriber.__table__
    with engine.connect() as connection:
        return connection.execute(sa.select(table.c.status).where(table.c.email == email)).scalar_one()


def _edition(site, by: str = "ada") -> int:
    add_reader(site.engine, "reader@example.com")
    with session_scope(site.engine) as session:
        comparison(session, "w11-a-vs-b", "2026-03-11 09:00")
        return build_as(session, site.settings, "2026-W11", by).edition.number


def test_signing_in_sets_a_secure_http_only_strict_cookie_limited_in_time_and_to_the_desk(site):
    assert site.http.get("/desk", follow_redirects=False).headers["location"] == "/desk/login"
    form = site.http.get("/desk/login")
    assert '<label for="name">Name</label>' in form.text and '<label for="password">Password</label>' in form.text
    answer = sign_in(site, "ada")
    assert answer.status_code == 303 and answer.headers["location"] == "/desk"
    cookie = answer.headers["set-cookie"].lower()
    assert {"secure", "httponly", "samesite=strict", "path=/desk"} <= {p.strip() for p in cookie.split(";")}
    assert f"max-age={int(desk_session.DESK_SESSION.total_seconds())}" in cookie
    assert PASSWORD not in answer.headers["set-cookie"]
    ada = Editor(site, "ada")
    page = ada.get("/desk")
    assert page.status_code == 200 and "ada · owner" in page.text
    out = ada.post("/desk/logout")
    assert out.status_code == 303 and 'digest_desk=""' in out.headers["set-cookie"]


def test_a_new_password_signs_the_old_sessions_out(site):
    ada = Editor(site, "ada")
    assert ada.get("/desk").status_code == 200
    with session_scope(site.engine) as session:
        set_password(session, "ada", "a brand new password", "test")
    assert ada.get("/desk").headers["location"] == "/desk/login"


def test_wrong_passwords_are_limited_per_name_and_per_address_and_the_limit_lapses(db_url, monkeypatch):
    monkeypatch.setattr(desk_session, "FAILURES_PER_NAME", "3 per 8 seconds")
    monkeypatch.setattr(desk_session, "FAILURES_PER_ADDRESS", "5 per 8 seconds")
    with serve_site(db_url) as site:
        with session_scope(site.engine) as session:
            add_editor(session, "ada", PASSWORD, Role.OWNER, "test")
        for _ in range(3):
            wrong = sign_in(site, "ada", "not the password")
            assert wrong.status_code == 403 and "do not match an editor" in wrong.text
        refused = sign_in(site, "ada")  # the right password too, for now
        assert refused.status_code == 429 and "for this name" in refused.text and "retry-after" in refused.headers
        for _ in range(2):
            assert sign_in(site, "nobody", "not the password").status_code == 403
        by_address = sign_in(site, "someone-else", "not the password")
        assert by_address.status_code == 429 and "for your address" in by_address.text
        # The window passes: the right password works again (refused tries in the meantime count for nothing).
        wait_for(lambda: sign_in(site, "ada").status_code == 303, timeout=20, what="a sign-in", interval=0.5)


def test_a_post_without_the_token_or_from_another_origin_is_refused(site):
    number = _edition(site)
    ada = Editor(site, "ada")
    path = f"/desk/editions/{number}/approve"
    bare = site.http.post(path, data={}, headers={**HTML, "Cookie": ada.cookie})
    assert bare.status_code == 403 and "CSRF" in bare.text
    forged = site.http.post(path, data={"csrf": "forged"}, headers={**HTML, "Cookie": ada.cookie})
    assert forged.status_code == 403
    elsewhere = ada.post(path, headers={"Origin": "https://evil.example"})
    assert elsewhere.status_code == 403 and "another site" in elsewhere.text
    cross = ada.post(path, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    signed_out = site.http.post(path, data={"csrf": "x"}, headers=HTML)
    assert signed_out.status_code == 401
    login_forged = site.http.post("/desk/login", data={"csrf": "x", "name": "ada", "password": PASSWORD})
    assert login_forged.status_code == 403 and "set-cookie" not in login_forged.headers
    with session_scope(site.engine) as session:
        assert edition_log(session, number)[-1].action == "build"  # nothing was approved


def test_an_editor_approves_but_may_not_send_and_may_not_approve_their_own_change(site):
    number = _edition(site, by="grace")
    grace, ada = Editor(site, "grace"), Editor(site, "ada")
    own = grace.post(f"/desk/editions/{number}/approve")
    assert own.status_code == 409
    assert "grace changed edition 1 last, so cannot approve it" in own.text
    send = grace.post(f"/desk/editions/{number}/send", {"confirm": str(number)})
    assert send.status_code == 403 and "Only an owner" in send.text
    assert grace.get(f"/desk/editions/{number}/confirm-send").status_code == 403
    refused = ada.get(f"/desk/editions/{number}/confirm-send")
    assert refused.status_code == 409 and "waits for approval" in refused.text
    approved = ada.post(f"/desk/editions/{number}/approve")
    assert approved.status_code == 303
    page = ada.get(f"/desk/editions/{number}")
    assert "1 of 1 needed: approved by ada" in page.text
    assert re.search(r"<strong>ada</strong> approve", page.text)


def test_the_week_at_a_glance_and_the_bearer_token_for_scripts(site):
    number = _edition(site)
    with session_scope(site.engine) as session:
        comparison(session, "w11-c-vs-d", "2026-03-12 09:00")
        build_as(session, site.settings, "2026-W11", "ada", rebuild=True)
        edit_as(session, site.settings, number, "ada", exclude=["w11-c-vs-d"])
    page = site.http.get("/desk", headers={**HTML, "Authorization": f"Bearer {TOKEN}"})
    assert page.status_code == 200 and "admin-token · owner" in page.text
    assert f"<h1>Edition {number} · 2026-W11</h1>" in page.text
    comparisons = page.text.split('id="comparisons"')[1].split("</table>")[0]
    assert "w11-a-vs-b" in comparisons and "w11-c-vs-d" not in comparisons
    held = page.text.split('id="held"')[1].split("</ul>")[0]
    assert "w11-c-vs-d" in held and "left out by an editor" in held
    assert re.search(r"[\d,]+ of 100,000 bytes \(\d+% of the clip limit\)", page.text)
    assert "Readers per wave" in page.text and "once approved: it needs 1 approval (has none)" in page.text
    assert "<strong>ada</strong> edit: left out w11-c-vs-d" in page.text
    wrong = site.http.get("/desk", headers={**HTML, "Authorization": "Bearer wrong"})
    assert wrong.status_code == 403
    assert edition_status(site.engine, number) == "draft"


def test_an_owner_pauses_a_send_in_progress_and_resumes_it(db_url):
    with SendGridServer(api_key="SG.test-key") as sendgrid:
        sendgrid.delay = 1.0  # one request per variant, a second each
        with serve_site(
            db_url, backend="sendgrid", sendgrid_api_key=sendgrid.api_key, sendgrid_api_url=sendgrid.url
        ) as site:
            with session_scope(site.engine) as session:
                add_editor(session, "ada", PASSWORD, Role.OWNER, "test")
                for slug, topic in (("voice-a-vs-b", "Voice"), ("video-c-vs-d", "Video"), ("code-e-vs-f", "Code")):
                    comparison(session, slug, "2026-03-10 09:00", tool_fields=({"category": topic},) * 2)
                build_as(session, site.settings, "2026-W11", "ada")
            for topic in ("Voice", "Video", "Code"):
                add_readers(site.engine, [f"{topic.lower()}{i}@example.com" for i in range(5)], topics=[topic])
            ada = Editor(site, "ada")
            assert ada.post("/desk/editions/1/send", {"confirm": "1"}).status_code == 303
            wait_for(lambda: sendgrid.requests >= 1, timeout=30, what="the first request")
            paused = ada.post("/desk/editions/1/pause")
            assert paused.status_code == 303
            wait_for(lambda: edition_status(site.engine, 1) == "paused", timeout=30, what="the pause")
            wait_for(lambda: "it ended paused" in ada.get("/desk/editions/1/send").text, timeout=30, what="its end")
            sent = sum(1 for state in ledger(site.engine, 1).values() if state == "sent")
            assert 0 < sent < 15
            page = ada.get("/desk/editions/1/send")
            assert "Resume the send" in page.text and "paused." in page.text
            assert ada.post("/desk/editions/1/resume").status_code == 303
            wait_for(lambda: edition_status(site.engine, 1) == "sent", timeout=60, what="the send's end")
            assert sorted(ledger(site.engine, 1).values()) == ["sent"] * 15
            assert max(sendgrid.counts().values()) == 1
            with session_scope(site.engine) as session:
                actions = [e.action for e in edition_log(session, 1)]
            assert actions == ["build", "send", "pause", "resume"]
            twice = ada.post("/desk/editions/1/pause")
            assert twice.status_code == 409 and "nothing to pause" in twice.text


def test_an_editor_previews_each_variant_in_frames_and_sends_a_test_to_themselves(site):
    number = _edition(site)
    grace = Editor(site, "grace")
    page = grace.get(f"/desk/editions/{number}/preview")
    assert page.status_code == 200 and "frame-src 'self'" in page.headers["content-security-policy"]
    assert page.text.count("<iframe ") == 2 and 'width="375"' in page.text and 'width="620"' in page.text
    text_part = page.text.split('id="text-part">')[1].split("</pre>")[0]
    assert "W11 A Vs B Left vs W11 A Vs B Right" in text_part
    frame = grace.get(f"/desk/editions/{number}/preview/frame")
    assert frame.status_code == 200 and frame.headers["x-frame-options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in frame.headers["content-security-policy"] and "<html" in frame.text.lower()
    assert site.http.get(f"/desk/editions/{number}/preview/frame", follow_redirects=False).status_code == 303
    bad = grace.get(f"/desk/editions/{number}/preview?variant=x")
    assert bad.status_code == 422 and "variant" in bad.text
    sent = grace.post(f"/desk/editions/{number}/test", {"address": "grace@example.com", "variant": "0"})
    assert sent.status_code == 303 and "tested=yes" in sent.headers["location"]
    [mail] = list(site.settings.outbox.glob("*.eml"))
    assert "[Test]" in mail.read_text(encoding="utf-8")
    wrong = grace.post(f"/desk/editions/{number}/test", {"address": "not an address"})
    assert wrong.status_code == 422 and "Your address" in wrong.text
    with session_scope(site.engine) as session:
        assert edition_log(session, number)[-1].detail == "the whole edition to grace@example.com"


def test_an_owner_finds_a_reader_and_unsubscribes_them_after_confirming(site):
    number = _edition(site)  # reader@example.com
    ada, grace = Editor(site, "ada"), Editor(site, "grace")
    assert grace.get("/desk/readers").status_code == 403
    assert '<label for="email">Address</label>' in ada.get("/desk/readers").text
    assert grace.post("/desk/readers", {"email": "reader@example.com"}).status_code == 403
    missing = ada.post("/desk/readers", {"email": "nobody@example.com"})
    assert missing.status_code == 404 and "No reader has the address nobody@example.com" in missing.text
    found = ada.post("/desk/readers", {"email": "Reader@Example.com"})
    assert found.status_code == 200 and 'id="reader-status">active<' in found.text
    asked = ada.post("/desk/readers/confirm", {"email": "reader@example.com", "action": "unsubscribe"})
    assert asked.status_code == 200 and "Unsubscribe reader@example.com?" in asked.text
    assert reader_status(site.engine, "reader@example.com") == "active"  # asking changes nothing
    unconfirmed = ada.post("/desk/readers/change", {"email": "reader@example.com", "action": "unsubscribe"})
    assert unconfirmed.status_code == 422
    done = ada.post("/desk/readers/change", {"email": "reader@example.com", "action": "unsubscribe", "confirm": "yes"})
    assert done.status_code == 200 and "reader@example.com is now unsubscribed." in done.text
    assert reader_status(site.engine, "reader@example.com") == "unsubscribed"
    again = ada.post("/desk/readers/change", {"email": "reader@example.com", "action": "suppress", "confirm": "yes"})
    assert "is now suppressed" in again.text
    odd = ada.post("/desk/readers/change", {"email": "reader@example.com", "action": "erase", "confirm": "yes"})
    assert odd.status_code == 422
    with session_scope(site.engine) as session:
        entries = session.exec(select(AuditEntry).where(AuditEntry.action.like("reader-%"))).all()
    assert [(e.actor, e.action, "@" in e.detail) for e in entries] == [
        ("ada", "reader-unsubscribe", False),
        ("ada", "reader-suppress", False),
    ]
    assert number == 1


def test_a_costly_figure_is_answered_from_its_last_count_and_recounted_in_the_background():
    figures = Figures()
    cheap = iter(range(10))
    assert [figures.get("cheap", lambda: next(cheap))[0] for _ in range(3)] == [0, 1, 2]  # always afresh
    counts = []

    def costly() -> int:
        counts.append(None)
        time.sleep(CHEAP * 1.5)  # a pass over a big ledger
        return len(counts)

    assert figures.get("costly", costly)[0] == 1
    assert figures.get("costly", costly)[0] == 1 and len(counts) == 1  # answered at once, not recounted yet
    time.sleep(MIN_AGE + 0.05)
    began = time.perf_counter()
    assert figures.get("costly", costly)[0] == 1  # still the last count, with a recount begun
    assert time.perf_counter() - began < CHEAP
    wait_for(lambda: figures.get("costly", costly)[0] == 2, timeout=10, what="the recount")


def test_one_costly_figure_is_recounted_at_a_time():
    """Two stale costly figures: the second waits for the first's recount to end (both cores stay free
    for the pages), and is recounted at a later request."""
    figures = Figures()
    running, most = [], []

    def costly(name: str):
        def count() -> str:
            running.append(name)
            most.append(len(running))
            time.sleep(CHEAP * 1.5)
            running.remove(name)
            return name

        return count

    for name in ("a", "b"):
        figures.get(name, costly(name))
    assert most == [1, 1]
    time.sleep(MIN_AGE + 0.05)
    figures.get("a", costly("a"))  # stale: its recount begins
    figures.get("b", costly("b"))  # stale too, but a recount is running: answered as it was
    assert figures.settle(timeout=10)  # the first recount ends
    assert most == [1, 1, 1] and not running
    figures.get("b", costly("b"))  # now its turn
    wait_for(lambda: len(most) == 4 and not running, timeout=10, what="the second recount")
    assert max(most) == 1


def test_no_generated_request_to_the_desk_gets_a_server_error(sqlite_url, tmp_path):
    """Schemathesis over the desk's operations, signed in as a script (the bearer token), with an edition
    and a reader in the store: whatever it sends, no 5xx."""
    engine = open_store(sqlite_url)
    settings = replace(
        Settings(), database_url=sqlite_url, outbox=tmp_path / "outbox", admin_token=TOKEN, secret_key="fuzz-secret"
    )
    add_reader(engine, "reader@example.com")
    with session_scope(engine) as session:
        add_editor(session, "ada", PASSWORD, Role.OWNER, "test")
        comparison(session, "w11-a-vs-b", "2026-03-11 09:00")
        build_as(session, settings, "2026-W11", "ada")
    app = create_app(settings, engine)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [op.ok() for op in schema.get_all_operations() if op.ok().path.startswith("/desk")]
    assert len(operations) >= 15
    try:
        for operation in operations:
            if operation.path.endswith(("/send", "/resume", "/retry")) and operation.method.upper() == "POST":
                continue  # these start a send in a background thread; their refusals are tested above

            @given(case=operation.as_strategy())
            @hypothesis_settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            def no_server_error(case):
                case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, checks=[not_a_server_error])

            no_server_error()
    finally:
        engine.dispose()


def test_with_no_edition_built_the_desk_shows_the_week_and_its_waves(site):
    page = Editor(site, "grace").get("/desk")
    assert page.status_code == 200 and "<h1>The week of 20" in page.text
    assert "Nothing yet: the edition of" in page.text and 'id="waves"' in page.text
    missing = Editor(site, "grace").get("/desk/editions/7")
    assert missing.status_code == 404 and "there is no edition 7" in missing.text
    too_big = Editor(site, "grace").get(f"/desk/editions/{2**70}")
    assert too_big.status_code == 422


def _three(site) -> int:
    """A draft of three comparisons, a, b, c in that order, built by grace (so ada may approve it)."""
    add_reader(site.engine, "reader@example.com")
    with session_scope(site.engine) as session:
        for slug, day in (("w11-a-vs-b", "13"), ("w11-c-vs-d", "12"), ("w11-e-vs-f", "11")):  # newest first
            comparison(session, slug, f"2026-03-{day} 09:00")
        return build_as(session, site.settings, "2026-W11", "grace").edition.number


def _order(page_text: str) -> list[str]:
    table = page_text.split('id="comparisons"')[1].split("</table>")[0]
    return re.findall(r'<tr id="comparison-([^"]+)"', table)


def _last_edit(site, number: int) -> AuditEntry:
    with session_scope(site.engine) as session:
        return edition_log(session, number)[-1]


def test_an_editor_saves_the_subject_and_intro_and_so_withdraws_an_approval(site):
    number = _three(site)
    ada, grace = Editor(site, "ada"), Editor(site, "grace")
    assert ada.post(f"/desk/editions/{number}/approve").status_code == 303
    assert "1 of 1 needed: approved by ada" in grace.get(f"/desk/editions/{number}").text
    form = grace.get(f"/desk/editions/{number}").text
    assert '<label for="subject">Subject</label>' in form and '<label for="intro">Intro</label>' in form
    saved = grace.post(f"/desk/editions/{number}/words", {"subject": "Agents  week", "intro": "Hello.\r\n\r\nMore."})
    assert saved.status_code == 303 and saved.headers["location"] == f"/desk/editions/{number}?edited=words#edit"
    page = grace.get(saved.headers["location"].split("#")[0]).text
    assert "Subject and intro saved. Approvals given before this change are withdrawn." in page
    assert "0 of 1 needed" in page and 'value="Agents week"' in page and "Hello.\n\nMore.</textarea>" in page
    entry = _last_edit(site, number)
    assert (entry.actor, entry.action) == ("grace", "edit")
    assert entry.detail == "intro; subject; withdrew the approval of ada"
    again = grace.post(f"/desk/editions/{number}/words", {"subject": "Agents week", "intro": "Hello.\n\nMore."})
    assert again.headers["location"].endswith("?edited=unchanged#edit")
    assert _last_edit(site, number).id == entry.id  # saving the same words records nothing


def test_an_over_long_subject_is_refused_with_the_clis_words_next_to_it_and_nothing_written(site):
    number = _three(site)
    grace = Editor(site, "grace")
    refused = grace.post(f"/desk/editions/{number}/words", {"subject": "x" * 201, "intro": "Kept."})
    assert refused.status_code == 422
    said = "the subject is 201 characters; at most 200 are allowed"
    assert f'<p class="error" id="subject-error" role="alert">{said}</p>' in refused.text
    assert 'aria-invalid="true"' in refused.text and "Kept.</textarea>" in refused.text  # what was typed stays
    too_long_intro = grace.post(f"/desk/editions/{number}/words", {"subject": "Fine", "intro": "y" * 4001})
    assert too_long_intro.status_code == 422 and 'id="intro-error"' in too_long_intro.text
    assert "the intro is 4001 characters; at most 4000 are allowed" in too_long_intro.text
    with session_scope(site.engine) as session:
        assert [e.action for e in edition_log(session, number)] == ["build"]
    page = grace.get(f"/desk/editions/{number}").text
    assert 'value=""' in page and "Fine" not in page


def test_an_editor_moves_leaves_out_and_brings_back_comparisons(site):
    number = _three(site)
    ada, grace = Editor(site, "ada"), Editor(site, "grace")
    path = f"/desk/editions/{number}"
    assert _order(grace.get(path).text) == ["w11-a-vs-b", "w11-c-vs-d", "w11-e-vs-f"]
    assert ada.post(f"{path}/approve").status_code == 303
    moved = grace.post(f"{path}/move", {"slug": "w11-e-vs-f", "direction": "up"})
    assert moved.status_code == 303 and moved.headers["location"].endswith("?edited=moved#edit")
    assert _order(grace.get(path).text) == ["w11-a-vs-b", "w11-e-vs-f", "w11-c-vs-d"]
    assert _last_edit(site, number).detail == "order w11-a-vs-b, w11-e-vs-f, w11-c-vs-d; withdrew the approval of ada"
    assert grace.post(f"{path}/move", {"slug": "w11-a-vs-b", "direction": "down"}).status_code == 303
    assert _order(grace.get(path).text) == ["w11-e-vs-f", "w11-a-vs-b", "w11-c-vs-d"]
    first = grace.post(f"{path}/move", {"slug": "w11-e-vs-f", "direction": "up"})
    assert first.status_code == 409 and "'w11-e-vs-f' is first in edition 1 already" in html.unescape(first.text)
    assert grace.post(f"{path}/move", {"slug": "w11-e-vs-f", "direction": "sideways"}).status_code == 422

    out = grace.post(f"{path}/leave-out", {"slug": "w11-a-vs-b"})
    assert out.status_code == 303 and out.headers["location"].endswith("?edited=left-out#edit")
    page = grace.get(path).text
    assert _order(page) == ["w11-e-vs-f", "w11-c-vs-d"]
    held = page.split('id="held"')[1].split("</ul>")[0]
    assert "w11-a-vs-b" in held and "left out by an editor" in held and "Bring back" in held
    assert _last_edit(site, number).detail == "left out w11-a-vs-b"
    unknown = grace.post(f"{path}/leave-out", {"slug": "no-such-thing"})
    assert unknown.status_code == 409 and "'no-such-thing' is not in edition 1" in html.unescape(
        unknown.text
    )  # the CLI's words
    assert grace.post(f"{path}/leave-out", {"slug": "w11-e-vs-f"}).status_code == 303
    last = grace.post(f"{path}/leave-out", {"slug": "w11-c-vs-d"})
    assert last.status_code == 409 and "edition 1 would have no comparisons left; keep at least one" in last.text
    assert _order(grace.get(path).text) == ["w11-c-vs-d"]  # nothing half-written

    back = grace.post(f"{path}/bring-back", {"slug": "w11-a-vs-b"})
    assert back.status_code == 303 and back.headers["location"].endswith("?edited=brought-back#edit")
    assert _order(grace.get(path).text) == ["w11-a-vs-b", "w11-c-vs-d"]
    assert _last_edit(site, number).detail == "brought back w11-a-vs-b"
    assert grace.post(f"{path}/move", {"slug": "", "direction": "up"}).status_code == 422


def test_a_sent_edition_shows_why_it_cannot_be_edited_and_refuses_an_edit(site):
    number = _three(site)
    with session_scope(site.engine) as session:
        edition = get_edition(session, number=number)
        assert change_status(session, edition.id, EditionStatus.SENDING)
        assert change_status(session, edition.id, EditionStatus.SENT)
    grace = Editor(site, "grace")
    page = grace.get(f"/desk/editions/{number}").text
    assert "It cannot be edited: only a draft can, and this one is sent" in page
    assert f"/desk/editions/{number}/words" not in page and "/leave-out" not in page
    refused = grace.post(f"/desk/editions/{number}/words", {"subject": "Too late", "intro": ""})
    assert refused.status_code == 409 and "edition 1 is sent; only a draft can be edited" in refused.text
    too_long = grace.post(f"/desk/editions/{number}/words", {"subject": "x" * 201})  # the state first, as the CLI
    assert too_long.status_code == 409 and "only a draft can be edited" in too_long.text
    same = grace.post(f"/desk/editions/{number}/words", {"subject": "", "intro": ""})
    assert same.status_code == 409 and "only a draft can be edited" in same.text
    moved = grace.post(f"/desk/editions/{number}/leave-out", {"slug": "w11-a-vs-b"})
    assert moved.status_code == 409 and "only a draft can be edited" in moved.text
    with session_scope(site.engine) as session:
        assert [e.action for e in edition_log(session, number)] == ["build"]


def test_an_edit_without_the_csrf_token_is_refused(site):
    number = _three(site)
    grace = Editor(site, "grace")
    for action, data in (("words", {"subject": "Sneaky"}), ("move", {"slug": "w11-c-vs-d", "direction": "up"})):
        bare = site.http.post(f"/desk/editions/{number}/{action}", data=data, headers={**HTML, "Cookie": grace.cookie})
        assert bare.status_code == 403 and "CSRF" in bare.text
    with session_scope(site.engine) as session:
        assert [e.action for e in edition_log(session, number)] == ["build"]
