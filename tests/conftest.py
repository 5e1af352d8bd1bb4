"""Shared fixtures: real databases, a real browser, and strict mode for CI.

DIGEST_REQUIRE_SERVICES=1 (set by .ci/run) turns a missing PostgreSQL,
Chromium, SpamAssassin, the npm tools in tests/node (axe-core, doiuse-email) or
../shared (SendGrid's official description, the sample page) into a failure
instead of a skip, so CI can never pass by skipping. On a fresh clone with
nothing beside it those tests skip, naming what is missing.

Also here, each explained where it is defined:
- markers: `postgres` and `browser` follow from the fixtures a test uses; the fast loop is
  `pytest -m "not postgres and not browser and not slow"`;
- databases: every test gets a clone of one migrated template per session (`db_url`, `pg_url`,
  `sqlite_url`); `empty_*` fixtures for the tests of migrations;
- DIGEST_TEST_WAIT_SCALE stretches every wait (helpers.scaled) and pytest-timeout's limit;
- DIGEST_TEST_SEED replays a run's randomness; a failing test prints its seed;
- processes started through helpers.start_process are stopped, with their group, when the test ends.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
REQUIRE_SERVICES = os.environ.get("DIGEST_REQUIRE_SERVICES") == "1"
PG_ADMIN_URL = os.environ.get("DIGEST_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
CHROMIUM = os.environ.get("DIGEST_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# What some mail apps do to a light email on a dark phone: Chromium's own "auto dark mode".
FORCED_DARK_ARGS = ["--enable-features=WebContentsForceDark", "--force-dark-mode"]
NODE_TOOLS = Path(__file__).resolve().parent / "node"  # package.json pins them; `npm ci --prefix tests/node`


# --- markers, from the fixtures a test uses ------------------------------------------------
#
# `postgres` and `browser` are never written by hand: a test that uses one of these fixtures (directly
# or through another fixture), or runs db_url/empty_db_url's PostgreSQL case, gets its marker here.
# So `pytest -m "not postgres and not browser"` is the fast loop, and cannot drift.
POSTGRES_FIXTURES = frozenset({"pg_server", "pg_template", "pg_url", "empty_pg_url"})
POSTGRES_PARAMETERS = ("db_url", "empty_db_url")
BROWSER_FIXTURES = frozenset({"playwright", "browser", "dark_browser"})


def uses_postgres(item) -> bool:
    params = getattr(getattr(item, "callspec", None), "params", {})
    return bool(POSTGRES_FIXTURES & set(item.fixturenames)) or any(
        params.get(name) == "postgresql" for name in POSTGRES_PARAMETERS
    )


def uses_browser(item) -> bool:
    return bool(BROWSER_FIXTURES & set(item.fixturenames))


def pytest_collection_modifyitems(config, items):
    from helpers import WAIT_SCALE

    for item in items:
        if uses_postgres(item):
            item.add_marker(pytest.mark.postgres)
        if uses_browser(item):
            item.add_marker(pytest.mark.browser)
        if WAIT_SCALE != 1:  # pytest-timeout's limit stretches with every other wait
            limit = item.get_closest_marker("timeout")
            seconds = limit.args[0] if limit and limit.args else config.getini("timeout")
            if seconds:
                item.add_marker(pytest.mark.timeout(float(seconds) * WAIT_SCALE), append=False)


# --- seeds: one per run, printed, replayable ------------------------------------------------
#
# Randomness in a test comes from one seed: DIGEST_TEST_SEED, or a random one, printed in the
# header. Each test gets its own seed derived from it and its node id (so one test
# replays alone or in the full run alike): the module `random` is seeded with it before the test,
# the `rng` fixture is a random.Random on it, and a failing test's report shows it (a "seed"
# section; also in user_properties for junit XML). Replay: DIGEST_TEST_SEED=<run seed> pytest <node id>.


def _run_seed() -> int:
    value = os.environ.get("DIGEST_TEST_SEED")
    return int(value) if value else int.from_bytes(os.urandom(4), "big")


RUN_SEED = _run_seed()


def seed_of(nodeid: str) -> int:
    """The seed of one test: the run's seed and the test's node id, hashed."""
    import hashlib

    return int.from_bytes(hashlib.sha256(f"{RUN_SEED}:{nodeid}".encode()).digest()[:4], "big")


def pytest_report_header(config):
    from helpers import WAIT_SCALE

    return [f"digest: DIGEST_TEST_SEED={RUN_SEED} DIGEST_TEST_WAIT_SCALE={WAIT_SCALE:g}"]


@pytest.fixture(autouse=True)
def _seeded(request):
    """random seeded per test; the seed recorded for the report."""
    import random

    seed = seed_of(request.node.nodeid)
    request.node.user_properties.append(("seed", seed))
    request.node.user_properties.append(("DIGEST_TEST_SEED", RUN_SEED))
    random.seed(seed)
    yield


@pytest.fixture
def rng(request):
    """A random.Random on this test's seed (printed when the test fails; DIGEST_TEST_SEED replays it)."""
    import random

    return random.Random(seed_of(request.node.nodeid))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        report.sections.append(
            (
                "seed",
                f"this test's seed: {seed_of(item.nodeid)}; replay: "
                f"DIGEST_TEST_SEED={RUN_SEED} python -m pytest '{item.nodeid}'",
            )
        )
    return report


# --- no process outlives its test -----------------------------------------------------------


def _stop_started_processes() -> None:
    helpers = sys.modules.get("helpers")  # not imported: nothing was started through it
    if helpers is not None:
        helpers.stop_started_processes()


@pytest.fixture(autouse=True)
def stop_leftover_processes():
    """Every process started through helpers.start_process (digest serve, schedulers, senders) is
    stopped, with its process group, when the test ends: passed, failed or timed out."""
    yield
    _stop_started_processes()


def pytest_unconfigure(config):
    _stop_started_processes()  # after an interrupted run, too


def missing_service(what: str) -> None:
    """Skip on a laptop without `what`; fail in CI."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required here (DIGEST_REQUIRE_SERVICES=1) but is not available")
    pytest.skip(f"{what} is not available")


# --- databases: each test gets a clone of one migrated template -----------------------------
#
# The session migrates one template database per dialect, once, the first time a test asks for it:
# a PostgreSQL database `digest_template_<pid>_<random>` and a SQLite file in the session's temporary
# folder. Each test then gets a clone: `CREATE DATABASE ... TEMPLATE` on PostgreSQL, a file copy on
# SQLite. The names are unique to the run, and the session drops what it made, so no run depends on
# an earlier one nor collides with one beside it. Tests of migrations themselves take the
# `empty_*` fixtures (a database nothing has touched).


def _pg_admin():
    import psycopg

    try:
        return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        missing_service(f"PostgreSQL at {PG_ADMIN_URL}")


def _pg_url_of(name: str) -> str:
    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The PostgreSQL server's admin URL (skips, or fails in CI, when there is none)."""
    _pg_admin().close()
    return PG_ADMIN_URL


@contextmanager
def _pg_database(template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database (a copy of `template`, or empty), dropped afterwards."""
    admin = _pg_admin()
    name = f"digest_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    try:
        yield _pg_url_of(name)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def pg_template(pg_server) -> Iterator[str]:
    """The name of a PostgreSQL database migrated to the newest revision, for this session only."""
    from digest.store import open_store

    admin = _pg_admin()
    name = f"digest_template_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        open_store(_pg_url_of(name)).dispose()  # no connection may stay open on a template
        yield name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def pg_url(pg_template) -> Iterator[str]:
    """A PostgreSQL database of its own for one test, already migrated (a clone of the template)."""
    with _pg_database(pg_template) as url:
        yield url


@pytest.fixture
def empty_pg_url(pg_server) -> Iterator[str]:
    """A brand-new, empty PostgreSQL database (no schema yet), dropped afterwards."""
    with _pg_database() as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A SQLite file migrated to the newest revision, for this session only."""
    import sqlite3

    from digest.store import open_store

    path = tmp_path_factory.mktemp("template") / "digest.db"
    open_store(f"sqlite:///{path}").dispose()
    with sqlite3.connect(path) as connection:  # fold the write-ahead log into the file: one file to copy
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture
def sqlite_url(sqlite_template, tmp_path) -> str:
    """A SQLite file of its own for one test (tmp_path/digest.db), already migrated (a copy of the template)."""
    path = tmp_path / "digest.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def empty_sqlite_url(tmp_path) -> str:
    """A SQLite file that does not exist yet (tmp_path/digest.db)."""
    return f"sqlite:///{tmp_path / 'digest.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request) -> str:
    """Each test that takes it runs once on SQLite and once on PostgreSQL, on a migrated database of its own."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request) -> str:
    """db_url, but empty: for the tests of migrations themselves."""
    return request.getfixturevalue("empty_sqlite_url" if request.param == "sqlite" else "empty_pg_url")


@pytest.fixture
def engine(db_url):
    from digest.store import open_store

    engine = open_store(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def cli_env(db_url, tmp_path, monkeypatch):
    """Environment for CLI tests: the test's database and outbox, no stray settings."""
    for name in list(os.environ):
        if name.startswith("DIGEST_") or name.startswith("SENDGRID_"):
            monkeypatch.delenv(name)
    env = {"DIGEST_DATABASE_URL": db_url, "DIGEST_OUTBOX": str(tmp_path / "outbox")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture(scope="session")
def playwright():
    """Playwright, started once: its sync API runs one instance per thread."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        missing_service(f"Chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_service("Playwright for Python")
    with sync_playwright() as started:
        yield started


@pytest.fixture(scope="session")
def browser(playwright):
    """One headless Chromium for the session (Debian's package, driven by Playwright)."""
    browser = scaled_timeouts(playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS))
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def dark_browser(playwright):
    """A second headless Chromium that darkens light pages itself, as some mail apps do."""
    browser = scaled_timeouts(
        playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + FORCED_DARK_ARGS)
    )
    yield browser
    browser.close()


PLAYWRIGHT_TIMEOUT_MS = 30_000  # Playwright's own default for every action and navigation


def scaled_timeouts(browser):
    """`browser`, whose new pages and contexts wait as long as DIGEST_TEST_WAIT_SCALE says (Playwright's
    default of 30 s, scaled); a timeout a test passes itself goes through helpers.scaled."""
    from helpers import scaled

    new_context, new_page = browser.new_context, browser.new_page

    def context(*args, **kwargs):
        made = new_context(*args, **kwargs)
        made.set_default_timeout(scaled(PLAYWRIGHT_TIMEOUT_MS))
        return made

    def page(*args, **kwargs):
        made = new_page(*args, **kwargs)
        made.set_default_timeout(scaled(PLAYWRIGHT_TIMEOUT_MS))
        return made

    browser.new_context, browser.new_page = context, page
    return browser


@pytest.fixture(scope="session")
def axe_script() -> Path:
    """axe-core's browser build (npm, pinned in tests/node/package.json), to inject into pages."""
    path = NODE_TOOLS / "node_modules" / "axe-core" / "axe.min.js"
    if not path.exists():
        missing_service(f"axe-core in {NODE_TOOLS} (run: npm ci --prefix tests/node)")
    return path


@pytest.fixture(scope="session")
def node_tools() -> Path:
    """tests/node with its packages installed, and node to run them."""
    if shutil.which("node") is None:
        missing_service("node (Debian package nodejs)")
    if not (NODE_TOOLS / "node_modules" / "@jsx-email" / "doiuse-email").is_dir():
        missing_service(f"@jsx-email/doiuse-email in {NODE_TOOLS} (run: npm ci --prefix tests/node)")
    return NODE_TOOLS


@pytest.fixture(scope="session")
def spamassassin() -> str:
    found = shutil.which("spamassassin")
    if found is None:
        missing_service("SpamAssassin (Debian package spamassassin)")
    return found


@pytest.fixture
def artifacts(request) -> Path:
    """A folder for screenshots and other things a person may want to look at."""
    folder = ARTIFACTS / request.node.name.replace("/", "_").replace("[", "-").replace("]", "")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def shared_comparison_pages() -> list[Path]:
    folder = SHARED / "comparisons"
    return sorted(folder.glob("*.txt")) if folder.is_dir() else []


def require_shared(path: Path) -> Path:
    """`path` inside ../shared; a test that needs it skips on a bare clone and fails in CI."""
    if not path.exists():
        missing_service(f"{path} (the ../shared folder beside the checkout)")
    return path


@pytest.fixture
def sample_pages() -> list[Path]:
    """The real comparison page(s) exported from the site, in ../shared/comparisons/."""
    pages = shared_comparison_pages()
    if not pages:
        missing_service(f"a page export in {SHARED / 'comparisons'} (the ../shared folder beside the checkout)")
    return pages
