"""A comparison's identity and history (issue 22, item 4): a slug names one comparison of two tools for
good; a re-import is an update recorded as a new version, never a silent rewrite."""

from __future__ import annotations

import json

import sqlalchemy as sa
from click.testing import CliRunner
from test_import import snapshot

from digest.cli import main
from digest.content.versions import changes


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def page(
    title: str, left: str, right: str, ship=(70, 40), price="Free", quote="Ship it.", summary="Which ships."
) -> dict:
    def side(name: str, share: float, cost: str) -> dict:
        return {
            "name": name,
            "category": "Agents",
            "tagline": f"{name} in a line",
            "description": f"What {name} does.",
            "panel_ship": share,
            "community": None,
            "entry_price": cost,
        }

    return {
        "title": title,
        "summary": summary,
        "published_at": "2026-11-17T09:00:00Z",
        "tools": [side(left, ship[0], price), side(right, ship[1], "$10/mo")],
        "reviews": [{"tool": left, "lens": "builder", "quote": quote, "verdict": "ship"}],
    }


def write(tmp_path, name: str, *items: dict):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"comparisons": list(items)}), encoding="utf-8")
    return str(path)


def test_a_slug_taken_by_another_comparison_is_refused_naming_both_and_nothing_is_written(cli_env, tmp_path):
    first = write(tmp_path, "first", page("C++ Copilot vs Go Agent", "C++ Copilot", "Go Agent"))
    assert run("comparisons", "import", first).exit_code == 0
    before = snapshot(cli_env["DIGEST_DATABASE_URL"])
    second = write(
        tmp_path,
        "second",
        page("Rust Agent vs Zig Agent", "Rust Agent", "Zig Agent"),  # fine on its own: must not be written either
        page("C Copilot vs Go Agent", "C Copilot", "Go Agent"),
    )
    result = run("comparisons", "import", second)
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert "“C Copilot vs Go Agent”" in result.output and "“C++ Copilot vs Go Agent”" in result.output
    assert "'c-copilot-vs-go-agent'" in result.output
    assert snapshot(cli_env["DIGEST_DATABASE_URL"]) == before
    history = json.loads(run("comparisons", "show", "c-copilot-vs-go-agent", "--history", "--json").stdout)
    assert [line["version"] for line in history] == [1]


def test_a_tool_slug_taken_by_another_tool_is_refused(cli_env, tmp_path):
    assert run(
        "comparisons", "import", write(tmp_path, "a", page("C++ Copilot vs Go Agent", "C++ Copilot", "Go Agent"))
    )
    item = page("C Copilot vs Ruby Agent", "C Copilot", "Ruby Agent")
    item["slug"] = "c-copilot-vs-ruby-agent"
    result = run("comparisons", "import", write(tmp_path, "b", item))
    assert result.exit_code != 0
    assert "'C Copilot'" in result.output and "'C++ Copilot'" in result.output and "'c-copilot'" in result.output


def test_a_reimport_is_a_new_version_with_its_date_and_what_changed(cli_env, tmp_path):
    slug = "relaybench-vs-quillpatch"
    assert (
        run(
            "comparisons", "import", write(tmp_path, "v1", page("Relaybench vs Quillpatch", "Relaybench", "Quillpatch"))
        ).exit_code
        == 0
    )
    again = run(
        "comparisons", "import", write(tmp_path, "v1", page("Relaybench vs Quillpatch", "Relaybench", "Quillpatch"))
    )
    assert "0 new, 0 updated, 1 unchanged" in again.output
    changed = page("Relaybench vs Quillpatch", "Relaybench", "Quillpatch", ship=(45, 80), price="$5/mo", quote="Wait.")
    assert "1 updated" in run("comparisons", "import", write(tmp_path, "v2", changed)).output
    typo = page(
        "Relaybench vs Quillpatch",
        "Relaybench",
        "Quillpatch",
        ship=(45, 80),
        price="$5/mo",
        quote="Wait.",
        summary="Which one ships.",
    )
    assert "1 updated" in run("comparisons", "import", write(tmp_path, "v3", typo)).output

    lines = json.loads(run("comparisons", "show", slug, "--history", "--json").stdout)
    assert [line["version"] for line in lines] == [1, 2, 3]
    assert all(line["recorded_at"].endswith("Z") for line in lines)
    assert {(c["what"], c["tool"], c["old"], c["new"]) for c in lines[1]["changes"]} == {
        ("Panel pick", None, "Relaybench", "Quillpatch"),
        ("Ship share", "Relaybench", "70%", "45%"),
        ("Ship share", "Quillpatch", "40%", "80%"),
        ("Entry price", "Relaybench", "Free", "$5/mo"),
        ("Verdict", "Relaybench", "Ship it. (ship)", "Wait. (ship)"),
    }
    assert lines[2]["changes"] == [] and lines[2]["differs"] is True
    text = run("comparisons", "show", slug, "--history").output
    assert "version 1" in text and "Panel pick: Relaybench -> Quillpatch" in text
    assert "version 3" in text and "nothing readers are told about" in text


def test_small_moves_are_not_changes_that_matter():
    def shot(ship_a, ship_b):
        tool = lambda slug, ship: {"slug": slug, "name": slug, "panel_ship": ship, "entry_price": "Free", "reviews": []}  # noqa: E731
        return {"tools": [tool("a", ship_a), tool("b", ship_b)]}

    assert changes(shot(70, 40), shot(75, 45)) == []  # 5 points each, the pick stands
    assert [c.what for c in changes(shot(70, 40), shot(80, 40))] == ["Ship share"]  # 10 points: it matters


def test_a_removed_comparison_takes_its_versions_along(cli_env, tmp_path):
    assert run("comparisons", "import", write(tmp_path, "v1", page("Lumen vs Orbit", "Lumen", "Orbit"))).exit_code == 0
    assert run("comparisons", "remove", "lumen-vs-orbit", "--yes").exit_code == 0
    from digest.store import open_store

    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM comparison_version")).scalar_one() == 0
    engine.dispose()
