"""Every button in the mails is Outlook-safe: Word (Outlook for Windows) drops the padding and the
background of an `<a>`, so a padded link shows there as bare underlined text. Each button's colour and
padding sit on a table cell instead (bgcolor, and cellpadding or the cell's own padding), which Word
honours, and the link inside carries no padding or background of its own to lose.

The edition's buttons (a vote button per tool, "Read the full comparison" per card) are the ones that
repeat, so their markup is kept lean: a normal 10-comparison week still fits under Gmail's clip whole
(tests/test_clip.py). The confirmation, welcome and re-permission mails use MJML's mj-button, which is
the same construction."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from helpers import LONG_QUOTE

from digest.delivery.confirmations import render_confirmation
from digest.render import compose, render_view
from digest.render.context import ComparisonFacts, ToolFacts
from digest.settings import Settings

SETTINGS = Settings(base_url="https://news.example.com", postal_address="Verdicts Ltd, 9 Quay Road, Leith EH6 6LX")


def style(attrs: dict) -> dict[str, str]:
    declarations = (d.split(":", 1) for d in (attrs.get("style") or "").split(";") if ":" in d)
    return {name.strip().lower(): value.strip() for name, value in declarations}


class Buttons(HTMLParser):
    """Each link with the attributes of the link itself and of the table cell and table around it."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.open: list[tuple[str, dict]] = []
        self.links: list[dict] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a":
            cells = [a for t, a in self.open if t == "td"]
            tables = [a for t, a in self.open if t == "table"]
            self.links.append(
                {"a": attrs, "td": cells[-1] if cells else {}, "table": tables[-1] if tables else {}, "text": ""}
            )
        if tag not in ("br", "img", "meta", "link", "input", "hr", "col"):
            self.open.append((tag, attrs))

    def handle_endtag(self, tag):
        for i in range(len(self.open) - 1, -1, -1):
            if self.open[i][0] == tag:
                del self.open[i:]
                break

    def handle_data(self, data):
        if self.open and self.open[-1][0] == "a" and self.links:
            self.links[-1]["text"] += data


def cell_padding(link: dict) -> float:
    """The padding Word gives the cell: its own `padding`, else the table's cellpadding."""
    padding = style(link["td"]).get("padding") or style(link["td"]).get("mso-padding-alt")
    if padding:
        return min(float(p.removesuffix("px")) for p in padding.split())
    return float(link["table"].get("cellpadding", 0))


def is_button(link: dict) -> bool:
    a = style(link["a"])
    return bool(link["td"].get("bgcolor") or "background" in a or "background-color" in a or "padding" in a)


def assert_outlook_safe(link: dict) -> None:
    a = style(link["a"])
    assert "padding" not in a and "background" not in a and "background-color" not in a, (link["text"], a)
    assert re.fullmatch(r"#[0-9a-f]{6}", link["td"].get("bgcolor", "")), (link["text"], link["td"])
    assert cell_padding(link) >= 8, (link["text"], link["td"], link["table"])


def facts(count: int) -> list[ComparisonFacts]:
    def tool(slug: str, name: str) -> ToolFacts:
        return ToolFacts(slug, name, "Testing", "A tagline", 60, None, "Free", (("builder", LONG_QUOTE, "ship"),))

    return [
        ComparisonFacts(
            f"c{i}",
            f"Relaybench vs Quillpatch {i}",
            "Summary.",
            f"https://v.example/c{i}",
            (tool(f"a{i}", f"Relaybench {i}"), tool(f"b{i}", f"Quillpatch {i}")),
        )
        for i in range(count)
    ]


def test_every_button_in_a_10_comparison_edition_has_its_colour_and_padding_on_a_table_cell():
    html, _, _ = render_view(compose(number=3, week="2026-W47", facts=facts(10), settings=SETTINGS))
    buttons = [link for link in Buttons(html).links if is_button(link)]
    votes = [b for b in buttons if b["text"].startswith("I’d ship")]
    reads = [b for b in buttons if b["text"].startswith("Read the full comparison")]
    assert len(votes) == 20 and len(reads) == 10 and len(buttons) == 30, [b["text"] for b in buttons]
    for button in buttons:
        assert_outlook_safe(button)
    assert {b["td"]["bgcolor"] for b in votes} == {"#eef2ff"} and {b["td"]["bgcolor"] for b in reads} == {"#4f46e5"}
    # No other link in the edition is a padded or coloured box Word would flatten.
    for link in Buttons(html).links:
        a = style(link["a"])
        assert "padding" not in a and "background" not in a, (link["text"], a)


def test_the_confirmation_mails_button_is_built_the_same_way():
    mail = render_confirmation(SETTINGS)
    buttons = [link for link in Buttons(mail.html).links if link["td"].get("bgcolor")]
    assert [b["text"].strip() for b in buttons] == ["Yes, subscribe me"]
    td = style(buttons[0]["td"])
    assert buttons[0]["td"]["bgcolor"] == "#4f46e5" and td.get("mso-padding-alt") == "13px 26px"
