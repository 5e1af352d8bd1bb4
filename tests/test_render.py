"""The edition email: what it shows (structure, not MRML's bytes), its safety, its subject and its links."""

from __future__ import annotations

import shutil
from dataclasses import replace
from html.parser import HTMLParser

import pytest
from conftest import FIXTURES
from helpers import comparison
from sqlmodel import select

from digest.content.importer import import_paths
from digest.content.models import Comparison, Entry, Tool
from digest.editions.service import build_edition, edit_edition
from digest.errors import EditionError
from digest.mail.message import fill
from digest.mail.placeholders import READER_TOKEN, reader_substitutions
from digest.render import compose, list_id, render_edition, render_view, templates_root
from digest.render.context import ComparisonFacts, ToolFacts, excerpt, literal, percent
from digest.settings import Settings
from digest.store import session_scope
from digest.weeks import week_of

SETTINGS = Settings(base_url="https://news.example.org", postal_address="Verdicts Ltd, 9 Quay Road, Leith")


class Page(HTMLParser):
    """The text a reader sees (scripts, styles and the head left out) and every link."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.links: list[str] = []
        self.tags: list[str] = []
        self._skip = 0
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag in ("script", "style", "head", "title"):
            self._skip += 1
        if tag == "a":
            self.links.append(dict(attrs).get("href", ""))

    def handle_endtag(self, tag):
        if tag in ("script", "style", "head", "title"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.chunks.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.chunks).split())


def side(
    name: str,
    ship: float,
    community: float | None,
    price: str,
    tagline: str,
    quote: str,
    verdict: str = "ship",
    slug: str | None = None,
) -> ToolFacts:
    return ToolFacts(
        slug=slug or name.lower().replace(" ", "-"),
        name=name,
        category="Agent Frameworks",
        tagline=tagline,
        panel_ship=ship,
        community=community,
        entry_price=price,
        reviews=(("builder", quote, verdict), ("buyer", "A second, unused quote.", "skip")),
    )


FACTS = [
    ComparisonFacts(
        "relaybench-vs-quillpatch",
        "Relaybench vs Quillpatch",
        "Two agent frameworks, one week.",
        "https://verdicts.example.com/compare/relaybench-vs-quillpatch",
        (
            side("Relaybench", 75, 62.5, "Free tier", "Regression tests for prompts", "Solid harness."),
            side("Quillpatch", 50, None, "$20/mo", "Agents that open pull requests", "Too early.", "skip"),
        ),
    ),
    ComparisonFacts(
        "lumen-vs-orbit",
        "Lumen vs Orbit",
        "Vector stores compared.",
        "https://verdicts.example.com/compare/lumen-vs-orbit",
        (
            side("Lumen", 40, 10, "Paid", "A vector store that fits in SQLite", "Clever."),
            side("Orbit", 90, 88, "Free", "Managed vectors at any scale", "Ship it."),
        ),
    ),
    ComparisonFacts(
        "tie-a-vs-tie-b",
        "Tie A vs Tie B",
        "Dead heat.",
        "https://verdicts.example.com/compare/tie",
        (
            side("Tie A", 60, None, "Free", "Left tagline", "Left quote."),
            side("Tie B", 60, None, "Free", "Right tagline", "Right quote."),
        ),
    ),
]


def flat(text: str) -> str:
    """The text part with its line breaks undone: it wraps long values at 78 columns."""
    return " ".join(text.split())


def render(facts=FACTS, settings=SETTINGS, **kw):
    view = compose(number=7, week="2026-W47", facts=facts, settings=settings, **kw)
    html, text, _ = render_view(view)
    return view, html, text


# --- what the email shows ----------------------------------------------------------------------


def test_every_field_of_every_comparison_appears_in_the_html_and_the_text():
    _, html, text = render()
    page = Page(html)
    for facts in FACTS:
        assert facts.title in page.text and facts.title in flat(text)
        assert facts.summary in page.text and facts.summary in flat(text)
        assert facts.url in page.links and facts.url in flat(text)
        for tool in facts.tools:
            for value in (
                tool.name,
                tool.category,
                tool.tagline,
                tool.entry_price,
                percent(tool.panel_ship),
                percent(tool.community),
                tool.reviews[0][1],
            ):
                assert value in page.text, value
                assert value in flat(text), value
            assert "A second, unused quote." not in flat(text)  # one pull-quote per tool
    assert "—" in page.text  # nobody voted for Quillpatch yet
    assert "62.5%" in page.text


def test_the_panels_favourite_is_named_and_a_tie_is_called_a_tie():
    view, html, text = render()
    page = Page(html)
    assert [c.verdict for c in view.comparisons] == [
        "The panel favours Relaybench",
        "The panel favours Orbit",
        "The panel is split evenly",
    ]
    for verdict in ("The panel favours Relaybench", "The panel favours Orbit", "The panel is split evenly"):
        assert verdict in page.text and verdict in flat(text)
    assert page.text.count("PANEL PICK") == 2
    assert "75% vs 50% of the panel would ship it" in flat(text)


def test_header_intro_and_footer_carry_name_number_links_reason_and_postal_address():
    view, html, text = render(intro="A short note.\n\nTwo paragraphs.")
    page = Page(html)
    for part in (
        SETTINGS.newsletter_name,
        "EDITION 7",
        "A short note.",
        "Two paragraphs.",
        "You are getting this because you subscribed",
        SETTINGS.postal_address,
        "Unsubscribe",
        "Update your preferences",
    ):
        assert part in page.text, part
    assert SETTINGS.postal_address in flat(text) and "Edition 7" in flat(text)
    web = "https://news.example.org/editions/7"
    assert web in page.links and web in text
    for link in (
        f"https://news.example.org/unsubscribe/{READER_TOKEN}",
        f"https://news.example.org/preferences/{READER_TOKEN}",
    ):
        assert link in page.links and link in text


def test_each_tool_has_a_vote_link_for_the_reader():
    _, html, text = render()
    link = f"https://news.example.org/vote/{READER_TOKEN}/lumen-vs-orbit/orbit"
    assert link in Page(html).links and link in text
    assert Page(html).text.count("Which would you ship?") == len(FACTS)


def test_the_subject_is_built_from_the_content_unless_the_editor_wrote_one():
    assert render()[0].subject == "Relaybench vs Quillpatch, and 2 more"
    assert render(FACTS[:1])[0].subject == "Relaybench vs Quillpatch"
    assert render(subject="A week of agents")[0].subject == "A week of agents"
    view, html, _ = render()
    assert f"<title>{view.subject}</title>" in html


def test_the_preheader_leads_with_a_verdict_or_the_editors_intro():
    view, html, _ = render()
    assert view.preheader.startswith("The panel favours Relaybench (75% vs 50% of the panel would ship it).")
    assert "Plus 2 more side-by-side verdicts." in view.preheader
    assert view.preheader in html
    assert render(intro="Agents, everywhere.\n\nMore below.")[0].preheader == "Agents, everywhere. More below."


def test_a_long_review_becomes_a_pull_quote_of_whole_sentences():
    long = "First sentence is here. " + "Second one goes on and on " * 12 + "and ends."
    assert excerpt(long) == "First sentence is here."
    endless = "word " * 100
    quoted = excerpt(endless)
    assert quoted.endswith("…") and len(quoted) <= 260


def test_the_letter_has_sender_list_id_and_categories(engine):
    with session_scope(engine) as session:
        comparison(session, "a-vs-b", "2026-11-17 09:00")
        edition = build_edition(session, SETTINGS, "2026-W47").edition
        letter = render_edition(session, edition, SETTINGS).letter
    assert letter.from_address == SETTINGS.from_address and letter.from_name == SETTINGS.newsletter_name
    assert letter.headers["List-Id"] == "Weekly AI Tool Verdicts <weekly-ai-tool-verdicts.example.com>"
    assert letter.headers["List-Id"] == list_id(SETTINGS)
    assert letter.categories == ("edition", f"edition-{edition.number}")
    assert READER_TOKEN in letter.html and READER_TOKEN in letter.text


def test_the_edition_shows_its_comparisons_in_the_editors_order_without_the_excluded(engine):
    with session_scope(engine) as session:
        for slug, day in (("first", 16), ("second", 17), ("third", 18)):
            comparison(session, slug, f"2026-11-{day} 09:00", title=f"Title {slug}")
        number = build_edition(session, SETTINGS, "2026-W47").edition.number
        edition = edit_edition(session, number, exclude=["second"], order=["first"], subject="Editor's pick")
        rendered = render_edition(session, edition, SETTINGS)
    text = rendered.letter.text
    assert text.index("Title first") < text.index("Title third")
    assert "Title second" not in text and "Title second" not in rendered.letter.html
    assert rendered.letter.subject == "Editor's pick"


def test_an_imported_page_export_renders_every_field(engine):
    pages = sorted((FIXTURES / "pages").glob("*.txt"))
    if not pages:
        pytest.fail("tests/fixtures/pages holds no page export")
    with session_scope(engine) as session:
        import_paths(session, pages, site_url="https://verdicts.example.com")
        stored = session.exec(select(Comparison)).first()
        week = week_of(stored.published_at, SETTINGS.timezone)
        edition = build_edition(session, SETTINGS, week).edition
        rendered = render_edition(session, edition, SETTINGS)
        entries = session.exec(select(Entry, Tool).join(Tool, Tool.id == Entry.tool_id)).all()
    page = Page(rendered.letter.html)
    assert stored.title in page.text and stored.title in flat(rendered.letter.text)
    for entry, tool in entries:
        for value in (tool.name, tool.tagline, entry.entry_price, percent(entry.panel_ship), percent(entry.community)):
            assert literal(value) in page.text and literal(value) in flat(rendered.letter.text)


# --- nothing a comparison says becomes code -----------------------------------------------------

HOSTILE = [
    "<script>alert('x')</script>",
    "</mj-text><mj-raw><b>raw</b></mj-raw><mj-text>",
    "{{ 7*7 }}",
    "{% if true %}yes{% endif %}",
    "Tom & Jerry &amp; co",
    '"><img src=x onerror=alert(1)>',
]


def _rendered_with(hostile: str):
    evil = ToolFacts(
        slug="evil",
        name=f"Evil {hostile}",
        category=f"Cat {hostile}",
        tagline=f"Tag {hostile}",
        panel_ship=80,
        community=None,
        entry_price=f"Price {hostile}",
        reviews=(("builder", f"Quote {hostile}", "ship"),),
    )
    facts = [
        ComparisonFacts(
            "evil-vs-good",
            f"Title {hostile}",
            f"Summary {hostile}",
            "https://verdicts.example.com/compare/evil",
            (evil, side("Good", 20, None, "Free", "Fine", "Fine.")),
        )
    ]
    return render(facts, intro=f"Intro {hostile}", subject=f"Subject {hostile}")


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_text_in_any_field_reaches_the_reader_as_literal_text(hostile):
    view, html, text = _rendered_with(hostile)
    page = Page(html)
    for label in ("Evil", "Cat", "Tag", "Price", "Quote", "Title", "Summary", "Intro"):
        assert f"{label} {hostile}" in page.text, label
        assert f"{label} {hostile}" in flat(text), label
    assert view.subject == f"Subject {hostile}"
    assert page.tags == Page(_rendered_with("harmless")[1]).tags  # not one element more or less
    assert "49" not in page.text


def test_a_comparison_cannot_forge_the_readers_placeholder():
    forged = f"click {READER_TOKEN} here %%reader_"
    facts = [
        ComparisonFacts(
            "f",
            forged,
            forged,
            "https://verdicts.example.com/compare/f",
            (side("A", 70, None, forged, forged, forged), side("B", 20, None, "Free", "t", "q")),
        )
    ]
    view, html, text = render(facts, intro=forged, subject=forged)
    values = reader_substitutions("SECRET-TOKEN")
    filled_html, filled_text = fill(html, values), fill(text, values)
    page = Page(filled_html)
    token_links = [link for link in page.links if "SECRET-TOKEN" in link]
    assert filled_html.count("SECRET-TOKEN") == len(token_links)  # only in links the template made
    assert all(
        link.startswith(
            (
                "https://news.example.org/unsubscribe/",
                "https://news.example.org/preferences/",
                "https://news.example.org/vote/",
            )
        )
        for link in token_links
    )
    assert "SECRET-TOKEN" not in fill(view.subject, values)
    for line in filled_text.splitlines():
        if "SECRET-TOKEN" in line:
            assert "https://news.example.org/" in line and "click" not in line


def test_a_link_that_is_not_http_is_not_given_to_the_reader():
    facts = [replace(FACTS[0], url="javascript:alert(1)")]
    _, html, text = render(facts)
    assert not any(link.lower().startswith("javascript") for link in Page(html).links)
    assert "javascript:" not in text


def test_one_compiled_edition_serves_every_reader_by_substitution():
    _, html, text = render()
    alice, bob = fill(html, reader_substitutions("alice-token")), fill(html, reader_substitutions("bob-token"))
    assert "/unsubscribe/alice-token" in alice and "/unsubscribe/bob-token" in bob
    assert alice.replace("alice-token", "bob-token") == bob
    assert READER_TOKEN not in alice


# --- template problems ---------------------------------------------------------------------------


def _templates_copy(tmp_path):
    root = tmp_path / "templates"
    shutil.copytree(templates_root(), root)
    return root


def test_a_template_that_is_not_valid_mjml_is_reported_by_name(tmp_path):
    root = _templates_copy(tmp_path)
    (root / "email" / "edition.mjml.j2").write_text("<mjml><mj-body><mj-section></mj-body>", encoding="utf-8")
    view = compose(number=1, week="2026-W47", facts=FACTS, settings=SETTINGS)
    with pytest.raises(EditionError, match="templates/email/edition.mjml.j2 does not compile as MJML"):
        render_view(view, root)


def test_a_jinja_syntax_error_names_the_template_and_line(tmp_path):
    root = _templates_copy(tmp_path)
    (root / "email" / "edition.txt.j2").write_text("fine\n{% if %}\n", encoding="utf-8")
    view = compose(number=1, week="2026-W47", facts=FACTS, settings=SETTINGS)
    with pytest.raises(EditionError, match=r"templates/email/edition.txt.j2, line 2"):
        render_view(view, root)
