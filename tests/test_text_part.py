"""The plain-text part: lines of at most 78 columns (a URL excepted), a contents list first, and every
link the HTML part has."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from helpers import LONG_QUOTE

from digest.delivery.confirmations import CONFIRM_URL, render_confirmation
from digest.render import compose, render_view
from digest.render.context import ComparisonFacts, ToolFacts
from digest.render.templates import wrap
from digest.settings import Settings

SETTINGS = Settings(base_url="https://news.example.com")
URL = re.compile(r"https?://\S+")


class Links(HTMLParser):
    def __init__(self, html: str):
        super().__init__()
        self.found: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.found.append(dict(attrs)["href"])


def facts(count: int) -> list[ComparisonFacts]:
    def tool(slug: str, ship: float) -> ToolFacts:
        return ToolFacts(
            slug,
            f"Parallax Realtime Avatar Streaming SDK {slug}",
            "Developer Tools",
            "Embed sub-second conversational avatars in any web or mobile app, with one SDK call",
            ship,
            None,
            "Usage-based, from $0.10 a minute after the first thousand minutes",
            (("builder", LONG_QUOTE, "ship"),),
        )

    return [
        ComparisonFacts(
            f"c{i}",
            f"Comparison {i}: a title as long as the longest on the site, and then some",
            "Which one should you ship with this quarter? " * 4,
            f"https://verdicts.example.com/c/{i}",
            (tool(f"a{i}", 70), tool(f"b{i}", 40)),
        )
        for i in range(1, count + 1)
    ]


def too_wide(text: str) -> list[str]:
    """Lines over 78 columns once their URLs are taken out (a URL is never cut, so it may stand longer)."""
    return [line for line in text.splitlines() if len(URL.sub("", line)) > 78]


@pytest.mark.parametrize("count", [1, 3, 30])
def test_the_text_part_wraps_at_78_starts_with_contents_and_carries_every_link_of_the_html(count):
    view = compose(
        number=4,
        week="2026-W47",
        facts=facts(count),
        settings=SETTINGS,
        intro="A long note from the editor, long enough to need wrapping over several lines of the "
        "plain-text part, which it must do between words.\n\nAnd a second paragraph.",
    )
    html, text, _ = render_view(view)
    assert too_wide(text) == []
    head = text.split("=" * 78, 1)[0]  # everything before the first comparison
    contents = head[head.index("IN THIS EDITION") :]
    numbered = re.findall(r"^ ?(\d+)\. ", contents, re.M)
    assert numbered == [str(n) for n in range(1, count + 1)]
    assert head.index("IN THIS EDITION") < head.index("A long note from the editor")
    missing = [link for link in Links(html).found if link not in text]
    assert missing == []


def test_a_long_word_or_url_is_never_cut():
    url = "https://news.example.com/unsubscribe/" + "x" * 60
    assert wrap(f"Unsubscribe: {url}") == f"Unsubscribe:\n{url}"
    assert wrap("word " * 30).splitlines()[0] == ("word " * 15).strip()  # 74 columns: a 16th would pass 78
    assert all(len(line) <= 78 for line in wrap("a " + "b" * 10 + " " + "c" * 70 + " d").splitlines())


def test_the_confirmation_mails_text_part_wraps_and_carries_its_link():
    letter = render_confirmation(SETTINGS)
    assert too_wide(letter.text) == []
    assert CONFIRM_URL in letter.text and CONFIRM_URL in Links(letter.html).found


def test_the_text_part_is_capped_like_the_html_with_the_rest_in_the_web_version():
    """5,000 comparisons: the text part carries what the HTML carries, the rest linked and counted."""
    from digest.mail.message import wire_bytes
    from digest.render.clip import CLIP_LIMIT

    view = compose(number=4, week="2026-W47", facts=facts(5000), settings=SETTINGS)
    html, text, _ = render_view(view)
    assert wire_bytes(text) < CLIP_LIMIT  # was 4.4 MB
    assert too_wide(text) == []
    web = f"{SETTINGS.base_url}/editions/4"
    counted = re.search(r"And ([\d]+) more in the web version: " + re.escape(web), text)
    listed = re.findall(re.escape(web) + r"#comparison-(\d+)$", text, re.M)
    in_full = re.findall(r"^Read the full comparison: ", text, re.M)
    assert counted and listed
    assert [int(n) for n in listed] == list(range(len(in_full) + 1, len(in_full) + len(listed) + 1))
    assert len(in_full) + len(listed) + int(counted.group(1)) == 5000
    assert text.rstrip().endswith(SETTINGS.postal_address)  # the footer, after it all
    assert "/unsubscribe/" in text[-1000:]
