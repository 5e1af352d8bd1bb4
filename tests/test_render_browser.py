"""The compiled email in a real browser: a 375 px phone and a 640 px desktop window."""

from __future__ import annotations

import pytest

from digest.mail.message import fill
from digest.mail.placeholders import reader_substitutions
from digest.render import compose, render_view
from digest.render.context import ComparisonFacts, ToolFacts
from digest.settings import Settings

LONG_QUOTE = (
    "The primitive is a streaming session object behind a small SDK, which is the right shape for the "
    "problem. The docs get you to a first call in minutes. Everything after that is detail."
)


def _tool(name, ship, community, price, tagline):
    return ToolFacts(
        slug=name.lower().replace(" ", "-"),
        name=name,
        category="Developer Tools",
        tagline=tagline,
        panel_ship=ship,
        community=community,
        entry_price=price,
        reviews=(("builder", LONG_QUOTE, "ship"),),
    )


FACTS = [
    ComparisonFacts(
        "a",
        "Parallax Realtime Avatar Streaming SDK v3 vs Minnow Vision Language Model Turbo",
        "Which one should you ship with? The panel's verdict, the price and the community vote.",
        "https://verdicts.example.com/compare/a",
        (
            _tool(
                "Parallax Realtime Avatar Streaming SDK v3",
                75,
                None,
                "Usage-based, from $0.10/min",
                "Embed sub-second conversational avatars in any web or mobile app",
            ),
            _tool(
                "Minnow Vision Language Model Turbo",
                100,
                64.5,
                "Free",
                "A sub-2B vision model that runs on your phone, offline-first",
            ),
        ),
    ),
    ComparisonFacts(
        "b",
        "Relaybench vs Quillpatch",
        "Prompt regression testing against agentic pull requests.",
        "https://verdicts.example.com/compare/b",
        (
            _tool(
                "Relaybench",
                40,
                12,
                "Free tier",
                "Regression tests for prompts; averyveryverylongunbrokenwordthatwouldforcesidewaysscrolling",
            ),
            _tool("Quillpatch", 55, None, "$20/mo", "Agents that open pull requests"),
        ),
    ),
]


@pytest.fixture(scope="module")
def email_html() -> str:
    view = compose(
        number=12,
        week="2026-W47",
        facts=FACTS,
        settings=Settings(),
        intro="Two comparisons this week, one of them a landslide.",
    )
    html, _, _ = render_view(view)
    return fill(html, reader_substitutions("sample-reader"))


def _open(browser, html: str, width: int):
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.set_content(html, wait_until="load")
    return page


def test_on_a_375px_phone_the_email_needs_no_sideways_scrolling(browser, artifacts, email_html):
    page = _open(browser, email_html, 375)
    try:
        page.screenshot(path=str(artifacts / "edition-375.png"), full_page=True)
        document_width = page.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")
        assert document_width <= 375
    finally:
        page.close()


@pytest.mark.parametrize("width", [375, 640])
def test_every_verdict_value_is_visible_inside_the_window(browser, artifacts, email_html, width):
    page = _open(browser, email_html, width)
    try:
        page.screenshot(path=str(artifacts / f"edition-{width}.png"), full_page=True)
        tables = page.locator(".verdict table")
        assert tables.count() == len(FACTS)
        for index, facts in enumerate(FACTS):
            table = tables.nth(index)
            for tool in facts.tools:
                ship = f"{tool.panel_ship:g}%"
                community = "—" if tool.community is None else f"{tool.community:g}%"
                for value in (tool.name, ship, community, tool.entry_price):
                    cell = table.locator("th, td").filter(has_text=value).last
                    assert cell.is_visible(), f"{value} is not visible at {width}px"
                    box = cell.bounding_box()
                    assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, (
                        f"{value} sticks out of a {width}px window: {box}"
                    )
    finally:
        page.close()


def test_on_a_desktop_the_two_tools_sit_side_by_side_and_on_a_phone_too(browser, email_html):
    for width in (375, 640):
        page = _open(browser, email_html, width)
        try:
            first = page.locator(".verdict table").first.locator("tr").first.locator("th")  # the two tools
            left, right = first.nth(0).bounding_box(), first.nth(1).bounding_box()
            assert abs(left["y"] - right["y"]) < 1 and right["x"] > left["x"]  # one row, two columns
        finally:
            page.close()


def test_on_a_phone_the_pull_quotes_stack_and_on_a_desktop_they_sit_abreast(browser, email_html):
    positions = {}
    for width in (375, 640):
        page = _open(browser, email_html, width)
        try:
            quotes = page.locator(".quote")
            positions[width] = (quotes.nth(0).bounding_box(), quotes.nth(1).bounding_box())
        finally:
            page.close()
    phone_first, phone_second = positions[375]
    desk_first, desk_second = positions[640]
    assert phone_second["y"] >= phone_first["y"] + phone_first["height"] - 1
    assert abs(desk_first["y"] - desk_second["y"]) < 1 and desk_second["x"] > desk_first["x"]
