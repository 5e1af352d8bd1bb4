"""The slow install test: the package installed NON-editably (as `pip install .` does for a publisher),
then branded after the fact: `digest templates copy`, a changed masthead, DIGEST_TEMPLATES, and `digest
editions preview` shows it. Nothing of the checkout is on the path.

The README's test command installs the package non-editably into .venv, so CI tests that install; with an
editable install (a developer's checkout) the test builds a fresh venv with `pip install .` instead, which
takes a minute or more (`-m "not slow"` leaves it out)."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import ROOT
from helpers import clean_env, comparisons_file, digest_command, scaled

from digest.timeutil import utcnow

MASTHEAD = "email/_masthead.mjml.j2"


SOURCE = (ROOT / "digest").resolve()


def outside_checkout(**extra: str) -> dict[str, str]:
    """The environment without the checkout on the path (and no DIGEST_ settings)."""
    env = clean_env(**extra)
    env.pop("PYTHONPATH", None)
    return env


def installed_package(python: Path, folder: Path) -> Path | None:
    """Where `python` imports digest from, run outside the checkout (None: it cannot)."""
    found = subprocess.run(
        [str(python), "-c", "import digest, pathlib; print(pathlib.Path(digest.__file__).parent)"],
        capture_output=True,
        text=True,
        cwd=folder,
        env=outside_checkout(),
    )
    return Path(found.stdout.strip()) if found.returncode == 0 else None


def normal_install(tmp_path: Path) -> tuple[Path, Path]:
    """(python, digest's folder) of a non-editable install: this interpreter's if it has one, else a fresh venv's."""
    python = Path(sys.executable)
    where = installed_package(python, tmp_path)
    if where is not None and where.resolve() != SOURCE:
        return python, where
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=scaled(300))
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=scaled(1500),
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    where = installed_package(python, tmp_path)
    assert where is not None and where.is_relative_to(venv), f"digest was imported from {where}, not the fresh install"
    return python, where


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_a_normal_install_is_branded_with_a_copy_of_its_templates(tmp_path):
    python, where = normal_install(tmp_path)
    assert where.resolve() != SOURCE, f"digest was imported from the checkout ({where})"
    shipped = where.joinpath("templates", *MASTHEAD.split("/"))
    assert shipped.is_file(), "the wheel carries no templates"

    digest = digest_command(python)
    env = outside_checkout(
        DIGEST_DATABASE_URL=f"sqlite:///{tmp_path / 'digest.db'}", DIGEST_OUTBOX=str(tmp_path / "out")
    )

    def run(*args: str, **extra: str) -> str:
        done = subprocess.run(
            [*digest, *args], capture_output=True, text=True, cwd=tmp_path, env={**env, **extra}, timeout=scaled(300)
        )
        assert done.returncode == 0, f"digest {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout

    run("templates", "copy", "brand")
    copy = tmp_path / "brand" / MASTHEAD
    assert copy.read_text(encoding="utf-8") == shipped.read_text(encoding="utf-8")
    copy.write_text(
        copy.read_text(encoding="utf-8").replace("side-by-side verdict", "ACME INSTALLED VERDICT"), encoding="utf-8"
    )
    run("comparisons", "import", str(comparisons_file(tmp_path, [utcnow() - timedelta(seconds=5)])))

    run("editions", "preview", "--out", "plain")
    assert "side-by-side verdict" in (tmp_path / "plain" / "edition.html").read_text(encoding="utf-8")
    shown = run("editions", "preview", "--out", "branded", DIGEST_TEMPLATES=str(tmp_path / "brand"))
    assert shown.startswith("Edition 1 for ")
    html = (tmp_path / "branded" / "edition.html").read_text(encoding="utf-8")
    assert "ACME INSTALLED VERDICT this week" in html
    assert shipped.read_text(encoding="utf-8").count("ACME") == 0  # the installed copy was never touched
