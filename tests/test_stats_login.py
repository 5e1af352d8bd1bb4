"""The admin token never lands in a log: /stats takes a bearer header or a sign-in form that sets a signed,
Secure, HttpOnly, SameSite cookie; never the query string; wrong tokens are limited."""

from __future__ import annotations

from dataclasses import replace

import pytest
from helpers import serve_site

from digest.web.editors import COOKIE, session_cookie

TOKEN = "s3cret-editor-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
HTML = {"Accept": "text/html"}


@pytest.fixture
def site(db_url):
    with serve_site(db_url, admin_token=TOKEN) as site:
        yield site


def _sign_in(site, token: str, **headers):
    return site.http.post("/stats/login", data={"token": token}, headers={**HTML, **headers}, follow_redirects=False)


def test_the_page_is_off_without_an_admin_token(db_url):
    with serve_site(db_url) as off:
        assert off.http.get("/stats").status_code == 404
        assert off.http.post("/stats/login", data={"token": "x"}).status_code == 404


def test_a_browser_without_a_session_gets_the_sign_in_form_and_a_script_a_json_error(site):
    form = site.http.get("/stats", headers=HTML)
    assert form.status_code == 401 and form.headers["www-authenticate"].startswith("Bearer")
    assert '<form class="form" method="post" action="/stats/login"' in form.text
    assert 'type="password"' in form.text and 'id="in-address"' not in form.text
    script = site.http.get("/stats", headers={"Accept": "application/json"})
    assert script.status_code == 401 and script.json()["errors"][0]["field"] == "token"
    assert site.http.get("/stats", headers=BEARER).status_code == 200


def test_the_token_in_the_query_string_is_not_taken(site):
    page = site.http.get(f"/stats?token={TOKEN}", headers=HTML)
    assert page.status_code == 401  # not signed in, even with the right token in the address
    assert 'id="in-address"' in page.text and "addresses end up in logs" in page.text
    assert "<h1>Edition stats</h1>" not in page.text


def test_signing_in_sets_a_secure_http_only_same_site_cookie_that_opens_the_page(site):
    answer = _sign_in(site, TOKEN)
    assert answer.status_code == 303 and answer.headers["location"] == "/stats"
    cookie = answer.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"secure", "httponly", "samesite", "max-age", "path"} <= attributes
    assert "samesite=strict" in cookie.lower() and "path=/stats" in cookie.lower()
    value = cookie.split(";")[0].split("=", 1)[1]
    assert TOKEN not in value
    page = site.http.get("/stats", headers={**HTML, "Cookie": f"{COOKIE}={value}"})
    assert page.status_code == 200 and "<h1>Edition stats</h1>" in page.text
    signed_out = site.http.post("/stats/logout", headers={"Cookie": f"{COOKIE}={value}"}, follow_redirects=False)
    assert signed_out.status_code == 303 and f'{COOKIE}=""' in signed_out.headers["set-cookie"]


def test_a_forged_altered_or_outdated_cookie_opens_nothing(site):
    good = session_cookie(site.settings)
    for value in (
        "forged",
        good[:-2] + ("AA" if good[-2:] != "AA" else "BB"),
        session_cookie(replace(site.settings, secret_key="another-key")),
        session_cookie(replace(site.settings, admin_token="the-old-token")),
    ):
        assert site.http.get("/stats", headers={**HTML, "Cookie": f"{COOKIE}={value}"}).status_code == 401, value
    assert site.http.get("/stats", headers={**HTML, "Cookie": f"{COOKIE}={good}"}).status_code == 200


def test_a_wrong_token_on_the_form_shows_it_again_saying_so(site):
    wrong = _sign_in(site, "guess")
    assert wrong.status_code == 403 and "set-cookie" not in wrong.headers
    assert "That is not the admin token" in wrong.text and 'aria-invalid="true"' in wrong.text
    assert site.http.post("/stats/login", json={"token": "guess"}).status_code == 403


def test_wrong_tokens_are_limited_by_header_and_by_form_alike(site):
    assert site.http.get("/stats", headers={"Authorization": "Bearer wrong"}).status_code == 403
    for attempt in range(4):
        assert _sign_in(site, f"guess-{attempt}").status_code == 403
    blocked = _sign_in(site, TOKEN)  # the sixth attempt, even with the right token
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
    assert "Too many wrong admin tokens" in blocked.text
    assert site.http.get("/stats", headers=BEARER).status_code == 429


def test_an_editor_signs_in_in_a_browser_and_stays_signed_in(sqlite_url, browser, artifacts):
    with serve_site(sqlite_url, admin_token=TOKEN) as site:
        context = browser.new_context(viewport={"width": 390, "height": 844})
        page = context.new_page()
        try:
            assert page.goto(f"{site.url}/stats").status == 401
            page.screenshot(path=str(artifacts / "sign-in.png"), full_page=True)
            page.get_by_label("Admin token").fill("wrong")
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_load_state()
            assert page.locator("#token-error").inner_text().startswith("That is not the admin token")
            page.get_by_label("Admin token").fill(TOKEN)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_load_state()
            assert page.url == f"{site.url}/stats"
            assert page.locator("h1").inner_text() == "Edition stats"
            [cookie] = [c for c in context.cookies() if c["name"] == COOKIE]
            assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"], cookie["path"]) == (
                True,
                True,
                "Strict",
                "/stats",
            )
            assert page.evaluate("document.cookie") == ""  # out of reach of scripts
            page.reload()
            assert page.locator("h1").inner_text() == "Edition stats"
            page.screenshot(path=str(artifacts / "stats-on-a-phone.png"), full_page=True)
            page.get_by_role("button", name="Sign out").click()
            page.wait_for_load_state()
            assert page.get_by_label("Admin token").is_visible()
        finally:
            context.close()
