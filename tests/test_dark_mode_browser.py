"""Dark mode, declared (issue 24, item 3): the email says it supports light and dark, and in a dark client
the masthead stands out from the page, cards from the page, the panel pick's column keeps its tint, pills
and bars stay visible and text reads. Screenshots in tests/artifacts/ for a person to look at."""

from __future__ import annotations

import pytest
from test_email_clients_browser import SETTINGS, email, opened


def opened_dark(browser, html: str, width: int):
    """The email in a client that is dark: prefers-color-scheme says so (the forced-dark browser also
    darkens, at paint time, any page that does not declare dark support)."""
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme="dark")
    page.set_content(html, wait_until="load")
    return page


COLOURS = """() => {
  const bg = (el) => { while (el) { const c = getComputedStyle(el).backgroundColor;
      if (c !== 'rgba(0, 0, 0, 0)') return c; el = el.parentElement; } return 'rgb(255, 255, 255)'; };
  const cell = (sel) => document.querySelector(sel);
  const favoured = [...document.querySelectorAll('.verdict td.vc')].find(td => td.style.background);
  const plain = [...document.querySelectorAll('.verdict td.vc')].find(td => !td.style.background);
  return {
    page: bg(document.body),
    masthead: bg(cell('.masthead h1')),
    mastheadBorder: getComputedStyle(cell('.masthead > table > tbody > tr > td')).borderTopColor,
    card: bg(cell('.card .summary')),
    title: getComputedStyle(cell('.card h2 a')).color,
    summary: getComputedStyle(cell('.card .summary')).color,
    pick: bg(favoured), plain: bg(plain),
    pill: bg(cell('.pill')), pillText: getComputedStyle(cell('.pill')).color,
    track: getComputedStyle(cell('.bar')).backgroundColor,
    scheme: document.querySelector('meta[name=color-scheme]').content,
  };
}"""


def rgb(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text[text.index("(") + 1 : text.index(")")].split(",")[:3])


def luminance(text: str) -> float:
    def channel(v: float) -> float:
        v /= 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb(text))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("width", [320, 600])
def test_in_a_dark_client_every_part_stands_out_and_reads(dark_browser, artifacts, width):
    page = opened_dark(dark_browser, email(), width)
    try:
        page.screenshot(path=str(artifacts / f"edition-{width}-dark.png"), full_page=True)
        seen = page.evaluate(COLOURS)
    finally:
        page.close()
    assert seen["scheme"] == "light dark"
    assert luminance(seen["page"]) < 0.05 and luminance(seen["card"]) < 0.05, seen  # dark, as the client asked
    assert seen["card"] != seen["page"] and seen["masthead"] != seen["page"], seen
    assert contrast(seen["mastheadBorder"], seen["page"]) > 3, seen  # the masthead's edge shows
    assert seen["pick"] != seen["plain"], seen  # the panel pick keeps its tint
    assert seen["pill"] != seen["card"] and contrast(seen["pillText"], seen["pill"]) >= 4.5, seen
    assert seen["track"] != seen["card"], seen  # the ship bar's track shows
    for text in ("title", "summary"):
        assert contrast(seen[text], seen["card"]) >= 4.5, (text, seen)


def test_in_a_light_client_nothing_changes(browser, artifacts):
    page = opened(browser, email(), 600)
    try:
        seen = page.evaluate(COLOURS)
    finally:
        page.close()
    assert seen["page"] == "rgb(238, 241, 246)" and seen["card"] == "rgb(255, 255, 255)", seen
    assert seen["pick"] == "rgb(240, 253, 244)" and seen["masthead"] == "rgb(15, 23, 42)", seen


# --- the confirmation, welcome and re-permission mails: the same dark styles (email/_dark.mjml.j2) ----------

SMALL_COLOURS = """() => {
  const bg = (el) => { while (el) { const c = getComputedStyle(el).backgroundColor;
      if (c !== 'rgba(0, 0, 0, 0)') return c; el = el.parentElement; } return 'rgb(255, 255, 255)'; };
  const one = (sel) => document.querySelector(sel);
  const button = [...document.querySelectorAll('.card a')].find(a => getComputedStyle(a).display === 'inline-block');
  const link = [...document.querySelectorAll('.card p a')][0];
  return {
    page: bg(document.body),
    masthead: bg(one('.masthead h1')), mastheadText: getComputedStyle(one('.masthead h1')).color,
    mastheadBorder: getComputedStyle(one('.masthead > table > tbody > tr > td')).borderTopColor,
    card: bg(one('.card h2')),
    heading: getComputedStyle(one('.card h2')).color,
    text: getComputedStyle(one('.card p')).color,
    link: link ? getComputedStyle(link).color : null,
    button: bg(button), buttonText: getComputedStyle(button).color,
    foot: getComputedStyle(one('.foot div')).color,
    scheme: document.querySelector('meta[name=color-scheme]').content,
  };
}"""


def small_mails() -> dict[str, str]:
    from digest.mail.message import fill
    from digest.mail.placeholders import reader_substitutions
    from digest.render.confirmation import render_confirmation
    from digest.render.repermission import render_repermission
    from digest.render.welcome import render_welcome

    mails = {
        "confirmation": render_confirmation(SETTINGS).html,
        "welcome": render_welcome(SETTINGS).html,
        "repermission": render_repermission(SETTINGS).html,
    }
    return {name: fill(html, reader_substitutions("t" * 43)) for name, html in mails.items()}


@pytest.mark.parametrize("width", [320, 600])
@pytest.mark.parametrize("name", ["confirmation", "welcome", "repermission"])
def test_the_small_mails_are_dark_in_a_dark_client_and_read(dark_browser, artifacts, name, width):
    page = opened_dark(dark_browser, small_mails()[name], width)
    try:
        page.screenshot(path=str(artifacts / f"{name}-{width}-dark.png"), full_page=True)
        seen = page.evaluate(SMALL_COLOURS)
    finally:
        page.close()
    assert seen["scheme"] == "light dark"
    assert luminance(seen["page"]) < 0.05 and luminance(seen["card"]) < 0.05, seen
    assert seen["card"] != seen["page"] and seen["masthead"] != seen["page"], seen
    assert contrast(seen["mastheadBorder"], seen["page"]) > 3, seen
    for text, ground in (("mastheadText", "masthead"), ("heading", "card"), ("text", "card"), ("buttonText", "button")):
        assert contrast(seen[text], seen[ground]) >= 4.5, (text, seen)
    if seen["link"]:
        assert contrast(seen["link"], seen["card"]) >= 4.5, seen
    assert contrast(seen["foot"], seen["page"]) >= 4.5, seen


@pytest.mark.parametrize("name", ["confirmation", "welcome", "repermission"])
def test_the_small_mails_in_a_light_client_are_unchanged(browser, name):
    page = opened(browser, small_mails()[name], 600)
    try:
        seen = page.evaluate(SMALL_COLOURS)
    finally:
        page.close()
    assert seen["page"] == "rgb(238, 241, 246)" and seen["card"] == "rgb(255, 255, 255)", seen
    assert seen["masthead"] == "rgb(15, 23, 42)" and seen["heading"] == "rgb(15, 23, 42)", seen
    assert seen["button"] == "rgb(79, 70, 229)" and seen["buttonText"] == "rgb(255, 255, 255)", seen
    assert seen["foot"] == "rgb(71, 85, 105)", seen
