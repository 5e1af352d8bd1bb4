"""`digest demo` runs from any folder on the embedded defaults, using only what is installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa


def _digest_command() -> list[str]:
    script = Path(sys.executable).parent / "digest"
    return [str(script)] if script.exists() else [sys.executable, "-m", "digest"]


def test_demo_runs_in_a_fresh_folder_and_can_be_run_again(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    for attempt in range(2):  # the second run starts from a fresh store again
        out = subprocess.run([*_digest_command(), "demo"], cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=120)
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
