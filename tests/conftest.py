"""Shared fixtures: real databases, a real browser, and strict mode for CI.

DIGEST_REQUIRE_SERVICES=1 (set by .ci/run) turns a missing PostgreSQL,
Chromium, SpamAssassin, the npm tools in tests/node (axe-core, doiuse-email) or
../shared (SendGrid's official description, the sample page) into a failure
instead of a skip, so CI can never pass by skipping. On a fresh clone with
nothing beside it those tests skip, naming what is missing.
"""

from __future__ import annotations

import os
import shutil
import uuid
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


def missing_service(what: str) -> None:
    """Skip on a laptop without `what`; fail in CI."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required here (DIGEST_REQUIRE_SERVICES=1) but is not available")
    pytest.skip(f"{what} is not available")


def _pg_admin():
    import psycopg

    try:
        return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        missing_service(f"PostgreSQL at {PG_ADMIN_URL}")


@pytest.fixture
def pg_url():
    """A brand-new PostgreSQL database for one test, dropped afterwards."""
    admin = _pg_admin()
    name = f"digest_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'digest.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """Each test that takes it runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'digest.db'}"
    return request.getfixturevalue("pg_url")


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
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def dark_browser(playwright):
    """A second headless Chromium that darkens light pages itself, as some mail apps do."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + FORCED_DARK_ARGS)
    yield browser
    browser.close()


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
