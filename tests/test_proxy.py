"""Behind a proxy (issue 12, item 6): X-Forwarded-For and X-Forwarded-Proto count only from the
proxies `--forwarded-allow-ips` (DIGEST_FORWARDED_ALLOW_IPS) names, for the rate limit and the
consent record; redirects carry relative locations, never the Host a client sent."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import digest_env, digest_serve, free_port, scaled, serve_site

from digest.cli import main
from digest.store import open_store
from subscribers.models import Subscriber


def consent_ips(engine) -> dict[str, str]:
    table = Subscriber.__table__
    with engine.connect() as connection:
        return dict(connection.execute(sa.select(table.c.email, table.c.consent_ip)).all())


def sign_up(site, email: str, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return site.http.post("/subscribe", json={"email": email}, headers=headers).status_code


def test_without_trusted_proxies_x_forwarded_for_is_ignored(db_url, tmp_path):
    with serve_site(db_url, outbox=tmp_path / "outbox", subscribe_rate_limit="2/minute") as site:
        assert [sign_up(site, f"r{n}@example.com", f"198.51.100.{n}") for n in range(3)] == [202, 202, 429]
        assert set(consent_ips(site.engine).values()) == {"127.0.0.1"}  # the header did not choose it


def test_a_trusted_proxy_names_the_reader_for_the_rate_limit_and_the_consent_record(db_url, tmp_path):
    with serve_site(
        db_url, outbox=tmp_path / "outbox", subscribe_rate_limit="2/minute", forwarded_allow_ips="127.0.0.1"
    ) as site:
        assert [sign_up(site, f"a{n}@example.com", "198.51.100.7") for n in range(3)] == [202, 202, 429]
        assert sign_up(site, "b@example.com", "203.0.113.9") == 202  # another reader behind the same proxy
        assert consent_ips(site.engine) == {
            "a0@example.com": "198.51.100.7",
            "a1@example.com": "198.51.100.7",
            "b@example.com": "203.0.113.9",
        }


def test_a_proxy_that_is_not_named_is_not_believed(db_url, tmp_path):
    with serve_site(db_url, outbox=tmp_path / "outbox", forwarded_allow_ips="10.0.0.0/8") as site:
        assert sign_up(site, "ada@example.com", "198.51.100.7") == 202
        assert consent_ips(site.engine) == {"ada@example.com": "127.0.0.1"}


@pytest.mark.parametrize("path", ["/healthz/", "/editions"])
def test_redirects_are_relative_and_never_echo_the_host_header(sqlite_url, tmp_path, path):
    with serve_site(sqlite_url, outbox=tmp_path / "outbox", forwarded_allow_ips="127.0.0.1") as site:
        answer = site.http.get(path, headers={"Host": "evil.example", "X-Forwarded-Proto": "https"})
        assert answer.is_redirect
        location = answer.headers["location"]
        assert location.startswith("/") and not location.startswith("//") and "evil.example" not in location


def test_digest_serve_takes_its_proxies_from_the_variable_and_refuses_a_malformed_list(db_url, tmp_path):
    refused = CliRunner().invoke(
        main, ["serve", "--forwarded-allow-ips", "the load balancer"], env=digest_env(DIGEST_DATABASE_URL=db_url)
    )
    assert refused.exit_code == 1
    assert refused.output.startswith("Error: --forwarded-allow-ips must list IP addresses or networks")
    port = free_port()
    env = digest_env(
        DIGEST_DATABASE_URL=db_url,
        DIGEST_OUTBOX=str(tmp_path / "outbox"),
        DIGEST_BASE_URL=f"http://127.0.0.1:{port}",
        DIGEST_FORWARDED_ALLOW_IPS="127.0.0.1",
    )
    with digest_serve(env, tmp_path / "serve.log", port):
        answer = httpx.post(
            f"http://127.0.0.1:{port}/subscribe",
            json={"email": "ada@example.com"},
            headers={"X-Forwarded-For": "198.51.100.7"},
            timeout=scaled(10),
        )
        assert answer.status_code == 202
    engine = open_store(db_url)
    assert consent_ips(engine) == {"ada@example.com": "198.51.100.7"}
    engine.dispose()
