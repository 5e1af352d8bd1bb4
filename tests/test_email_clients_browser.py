"""The email in the clients readers have: narrow phones, clients that strip the <head> styles (Gmail, for
accounts that are not Google's), apps that darken it, right-to-left scripts; and nothing loaded from
elsewhere. Screenshots of each go to tests/artifacts/ for a person to look at."""

from __future__ import annotations

import pytest
from helpers import LONG_QUOTE

from digest.delivery.confirmations import CONFIRM_URL, render_confirmation
from digest.mail.message import fill
from digest.mail.placeholders import reader_substitutions
from digest.render import compose, render_view
from digest.render.context import ComparisonFacts, ToolFacts
from digest.settings import Settings

SETTINGS = Settings(base_url="https://news.example.com")
WIDTHS = (320, 375, 640, 800)


def _tool(
    name: str, ship: float, community: float | None, price: str, tagline: str, category: str, quote: str = LONG_QUOTE
) -> ToolFacts:
    return ToolFacts(
        slug=name.lower().replace(" ", "-"),
        name=name,
        category=category,
        tagline=tagline,
        panel_ship=ship,
        community=community,
        entry_price=price,
        reviews=(("builder", quote, "ship"),),
    )


FACTS = [
    ComparisonFacts(
        "northwind-vs-parallax",
        "Northwind Ledger vs Parallax Realtime Avatar Streaming SDK",
        "Which one should you ship with? The panel's verdict, the price and the community vote.",
        "https://verdicts.example.com/compare/northwind-vs-parallax",
        (
            _tool(
                "Northwind Ledger",
                75,
                None,
                "Usage-based, from $0.10/min",
                "Bookkeeping agents that reconcile every transaction overnight",
                "Accounting Software",
            ),
            _tool(
                "Parallax Realtime Avatar Streaming SDK",
                100,
                64.5,
                "Free",
                "Embed sub-second conversational avatars in any web or mobile app",
                "Developer Tools",
            ),
        ),
    ),
    ComparisonFacts(
        "relaybench-vs-quillpatch",
        "Relaybench vs Quillpatch",
        "Prompt regression testing against agentic pull requests.",
        "https://verdicts.example.com/compare/relaybench-vs-quillpatch",
        (
            _tool("Relaybench", 40, 12, "Free tier", "Regression tests for prompts", "Community Tools"),
            _tool("Quillpatch", 55, None, "$20/mo", "Agents that open pull requests", "Agents"),
        ),
    ),
]
# Hebrew and Arabic content, as a comparison page might carry it.
RTL = [
    ComparisonFacts(
        "rtl",
        "השוואה: כלי א מול כלי ב",
        "ملخص المقارنة بين الأداتين",
        "https://verdicts.example.com/c/rtl",
        (
            _tool("כלי א", 70, None, "חינם", "שורה אחת על הכלי", "סוכנים", "הציטוט של המבקר על הכלי."),
            _tool("أداة ب", 30, None, "مجاني", "سطر واحد عن الأداة", "وكلاء", "اقتباس المراجع عن الأداة."),
        ),
    )
]


def email(facts=FACTS) -> str:
    view = compose(
        number=12,
        week="2026-W47",
        facts=facts,
        settings=SETTINGS,
        intro="Two comparisons this week, one of them a landslide.",
    )
    html, _, _ = render_view(view)
    return fill(html, reader_substitutions("t" * 43))


def opened(browser, html: str, width: int):
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.set_content(html, wait_until="load")
    return page


# A word broken across lines: each run of letters (an ordinary word, up to 20 of them) whose pieces
# sit on more than one line. Runs longer than that (an unbroken token, a URL) may wrap anywhere.
BROKEN_WORDS = """() => {
  const broken = [], range = document.createRange();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (!node.parentElement || !node.parentElement.checkVisibility()) continue;
    for (const m of node.data.matchAll(/[\\p{L}\\p{N}'’]+/gu)) {
      if (m[0].length > 20) continue;
      range.setStart(node, m.index); range.setEnd(node, m.index + m[0].length);
      const lines = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
      if (lines.size > 1) broken.push(m[0]);
    }
  }
  return broken;
}"""

# Text sticking out of its verdict table cell (a label running into its value).
OVERFLOWING_CELLS = """() => [...document.querySelectorAll('.verdict th, .verdict td')].filter(cell => {
  const range = document.createRange(); range.selectNodeContents(cell);
  const text = range.getBoundingClientRect(), box = cell.getBoundingClientRect();
  return text.width > 0 && (text.left < box.left - 0.5 || text.right > box.right + 0.5);
}).map(cell => cell.innerText)"""


@pytest.mark.parametrize("width", WIDTHS)
def test_at_every_width_no_word_breaks_in_the_middle_and_no_label_runs_into_its_value(browser, artifacts, width):
    page = opened(browser, email(), width)
    try:
        page.screenshot(path=str(artifacts / f"edition-{width}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scrolling
        assert page.evaluate(BROKEN_WORDS) == []
        assert page.evaluate(OVERFLOWING_CELLS) == []
    finally:
        page.close()


STRIP_HEAD_STYLES = "() => document.querySelectorAll('head style').forEach(style => style.remove())"


def test_with_the_head_styles_stripped_the_table_keeps_its_separators_and_the_votes_stay_buttons(browser, artifacts):
    page = opened(browser, email(), 375)
    try:
        page.evaluate(STRIP_HEAD_STYLES)
        page.screenshot(path=str(artifacts / "edition-375-head-stripped.png"), full_page=True)
        rows = page.locator(".verdict tr")
        assert rows.count() == 5 * len(FACTS)
        separators = page.evaluate("""() => [...document.querySelectorAll('.verdict tr')].slice(1, 5)
            .flatMap(row => [...row.children].map(cell => getComputedStyle(cell)))
            .map(s => s.borderTopStyle + ' ' + s.borderTopWidth)""")
        assert separators == ["solid 1px"] * 12  # under each of the four rows' three cells
        # The colour, border and padding are the cell's (Outlook-safe), so they survive the head's loss.
        buttons = page.evaluate("""() => [...document.querySelectorAll('td.vb')].map(td => {
            const s = getComputedStyle(td), a = td.querySelector('a');
            return [s.backgroundColor, s.borderTopStyle, parseFloat(s.paddingTop) >= 8, s.textAlign.endsWith('center'),
                    getComputedStyle(a).display, td.getBoundingClientRect().width > 150]; })""")
        assert len(buttons) == 2 * len(FACTS)
        assert all(b == ["rgb(238, 242, 255)", "solid", True, True, "block", True] for b in buttons), buttons
        assert page.evaluate(BROKEN_WORDS) == []
    finally:
        page.close()


@pytest.mark.parametrize("width", [375, 800])
def test_in_forced_dark_mode_the_email_is_screenshotted_for_a_person_to_judge(dark_browser, artifacts, width):
    page = opened(dark_browser, email(), width)
    try:
        page.screenshot(path=str(artifacts / f"edition-{width}-forced-dark.png"), full_page=True)
        # Chromium darkened it (the page background is no longer light), and the text still reads.
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert page.locator("h1").is_visible() and page.locator(".vb a").first.is_visible()
        print("forced dark body background:", background)
    finally:
        page.close()


def test_hebrew_and_arabic_text_reads_right_to_left_and_english_left_to_right(browser, artifacts):
    page = opened(browser, email(RTL + FACTS[:1]), 375)
    try:
        page.screenshot(path=str(artifacts / "edition-rtl-375.png"), full_page=True)
        directions = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('[dir=auto]')]
            .filter(e => e.innerText.trim()).map(e => [e.innerText.trim(), getComputedStyle(e).direction]))""")
        for text in (
            "השוואה: כלי א מול כלי ב",
            "ملخص المقارنة بين الأداتين",
            "כלי א",
            "أداة ب",
            "חינם",
            "שורה אחת על הכלי",
            "سطر واحد عن الأداة",
        ):
            assert directions.get(text) == "rtl", (text, directions.get(text))
        assert directions["Northwind Ledger vs Parallax Realtime Avatar Streaming SDK"] == "ltr"
        # and right-to-left text starts at the right: the title and a tagline end at their box's right edge
        for selector, text in (("h2.title", "השוואה: כלי א מול כלי ב"), ("td.tagline", "שורה אחת על הכלי")):
            box = page.locator(selector, has_text=text).evaluate("""block => { const r = document.createRange();
                r.selectNodeContents(block); return [r.getBoundingClientRect().right,
                block.getBoundingClientRect().right - parseFloat(getComputedStyle(block).paddingRight)]; }""")
            assert abs(box[0] - box[1]) < 1.5, (text, box)
    finally:
        page.close()


def test_no_mail_loads_anything_from_elsewhere(browser):
    confirmation = render_confirmation(SETTINGS)
    for name, html in (("edition", email()), ("confirmation", fill(confirmation.html, {CONFIRM_URL: "https://x/c"}))):
        assert "googleapis" not in html and "Roboto" not in html and "@import" not in html, name
        page = browser.new_page()
        asked: list[str] = []
        page.on("request", lambda request: asked.append(request.url))
        try:
            page.set_content(html, wait_until="load")
            assert [url for url in asked if not url.startswith(("data:", "about:"))] == [], name
        finally:
            page.close()
