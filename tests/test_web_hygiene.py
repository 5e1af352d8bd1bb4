"""What a running server answers when its input or its store goes wrong: a NUL in a path parameter is
a 404 on either database (PostgreSQL refuses NUL in text: it was a 500), and a SQLite store deleted
under the server turns /healthz and every write into 503 (a sign-up was answered 202 and lost)."""

from __future__ import annotations

from helpers import add_reader, serve_site, two_comparisons
from sqlalchemy import text

W47 = "2026-W47"


def _nul_paths(token: str) -> list[tuple[str, str]]:
    return [
        ("GET", f"/vote/{token}/a%00/b"),
        ("POST", f"/vote/{token}/a%00/b"),
        ("GET", f"/vote/{token}/lumen-vs-orbit/lumen-vs-orbit-left%00"),
        ("GET", "/vote/%00/lumen-vs-orbit/lumen-vs-orbit-left"),
        ("GET", "/editions/%00"),
        ("GET", "/editions/1%00"),
        ("GET", "/preferences/%00"),
        ("POST", "/preferences/%00"),
        ("GET", f"/preferences/{token}%00"),
        ("GET", "/unsubscribe/%00"),
        ("POST", "/unsubscribe/%00"),
        ("GET", "/confirm/%00"),
        ("POST", "/confirm/%00"),
        ("GET", "/static/%00"),
        ("HEAD", "/preferences/%00"),
    ]


def test_a_nul_in_any_path_parameter_is_a_404_never_a_500(db_url):
    with serve_site(db_url) as site:
        two_comparisons(site.engine, W47)
        _, token = add_reader(site.engine, "reader@example.com")
        for method, path in _nul_paths(token):
            answer = site.http.request(method, path, headers={"Accept": "application/json"})
            assert answer.status_code == 404, (method, path, answer.status_code, answer.text[:200])
            if method != "HEAD":
                assert answer.json()["errors"], (method, path)
        page = site.http.get("/preferences/%00")  # a person gets the site's page
        assert page.status_code == 404 and "NUL" in page.text and page.headers["content-type"].startswith("text/html")
        assert site.http.get(f"/preferences/{token}").status_code == 200  # and the server is fine


def test_a_sqlite_store_deleted_under_the_server_fails_healthz_and_refuses_sign_ups(sqlite_url):
    from digest.store import sqlite_file

    with serve_site(sqlite_url) as site:
        assert site.http.get("/healthz").status_code == 200
        joined = site.http.post("/subscribe", json={"email": "first@example.com"})
        assert joined.status_code == 202
        path = sqlite_file(sqlite_url)
        for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)
        health = site.http.get("/healthz")
        assert health.status_code == 503, health.text
        assert site.http.head("/healthz").status_code == 503
        lost = site.http.post("/subscribe", json={"email": "second@example.com"})
        assert lost.status_code == 503, lost.text
        assert "deleted" not in lost.text  # the reader is told to try later, not where our files are
        with site.engine.connect() as connection:  # the deleted file, through a pooled connection
            stored = connection.execute(text("SELECT email FROM subscriber")).scalars().all()
        assert "second@example.com" not in stored


def test_a_sqlite_store_replaced_under_the_server_is_refused_too(sqlite_url, tmp_path):
    import shutil

    from digest.store import sqlite_file

    with serve_site(sqlite_url) as site:
        path = sqlite_file(sqlite_url)
        shutil.copyfile(path, tmp_path / "copy.db")
        (tmp_path / "copy.db").replace(path)  # another file at the same path: a restore under a running server
        assert site.http.get("/healthz").status_code == 503
        assert site.http.post("/subscribe", json={"email": "third@example.com"}).status_code == 503
