"""`digest demo` runs from any folder on the embedded defaults, using only what is installed, and ends by saying
what to open and the one command that serves the pages its links point to."""

from __future__ import annotations

import re
import shlex
import subprocess

import httpx
import sqlalchemy as sa
from conftest import ROOT
from helpers import clean_env, digest_command, healthy, running, scaled, start_process, wait_for

from digest.web.server import bind


def test_demo_runs_in_a_fresh_folder_and_can_be_run_again(tmp_path):
    env = clean_env()
    for _attempt in range(2):  # the second run starts from a fresh store again
        out = subprocess.run(
            [*digest_command(), "demo"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=scaled(120)
        )
        assert out.returncode == 0, out.stderr
        assert "Traceback" not in out.stderr
    assert "LanternOps Agent Studio vs Relaybench" in out.stdout
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'digest-demo' / 'digest.db'}")
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM comparison")).scalar() == 3
        assert connection.execute(sa.text("SELECT count(*) FROM tool")).scalar() == 5  # LanternOps once
    engine.dispose()
    assert not (tmp_path / "digest.db").exists(), "the demo must not touch ./digest.db"
    preview = tmp_path / "digest-demo" / "preview"
    assert "Murmurcast" in (preview / "edition.html").read_text() and (preview / "edition.txt").exists()
    outbox = sorted(p.name.split("--")[0] for p in (tmp_path / "digest-demo" / "outbox").glob("*.eml"))
    assert outbox == ["ada@example.com", "grace@example.org", "linus@example.net"]  # not the pending reader


def test_the_demo_says_what_to_open_and_its_serve_command_serves_the_pages_its_links_point_to(tmp_path):
    sock = bind()
    port = sock.getsockname()[1]
    sock.close()  # a free port for the demo's links and the server it names
    base = f"http://127.0.0.1:{port}"
    out = subprocess.run(
        [*digest_command(), "demo"],
        cwd=tmp_path,
        env=clean_env(DIGEST_BASE_URL=base),
        capture_output=True,
        text=True,
        timeout=scaled(120),
    )
    assert out.returncode == 0, out.stderr
    preview = (tmp_path / "digest-demo" / "preview" / "edition.html").resolve()
    assert f"Open the edition in a browser: {preview.as_uri()}" in out.stdout
    [command] = [line.strip() for line in out.stdout.splitlines() if line.strip().startswith("DIGEST_DATABASE_URL=")]
    assert command.endswith(f"digest serve --port {port}")
    words = shlex.split(command)
    env = clean_env(DIGEST_BASE_URL=base, **dict(word.split("=", 1) for word in words[:2]))
    assert words[2:4] == ["digest", "serve"]
    server = start_process(
        [*digest_command(), *words[3:]], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    with running(server):
        wait_for(lambda: healthy(port) or server.poll() is not None, 60, "digest serve to start", 0.2)
        assert server.poll() is None, "digest serve did not start"
        web_link = re.search(r'href="([^"]*/editions/1)"', preview.read_text(encoding="utf-8")).group(1)
        assert web_link == f"{base}/editions/1"
        edition = httpx.get(web_link, timeout=scaled(10))
        assert edition.status_code == 200 and "Murmurcast" in edition.text
        assert httpx.get(f"{base}/", timeout=scaled(10)).status_code == 200


def test_the_demo_folder_is_ignored_by_git():
    ignored = subprocess.run(["git", "check-ignore", "-q", "digest-demo/digest.db"], cwd=ROOT)
    assert ignored.returncode == 0
