"""Clients without the head's styles, Outlook's Word engine, inbox previews and iOS (issue 24, item 4)."""

from __future__ import annotations

from test_email_clients_browser import STRIP_HEAD_STYLES, email, opened

ROW_HEADERS_ON_ONE_LINE = """() => [...document.querySelectorAll('.verdict th.vl')].filter(th => {
  const range = document.createRange(); range.selectNodeContents(th);
  return new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top))).size > 1;
}).map(th => th.innerText)"""


def test_without_the_head_styles_at_320_px_no_row_header_breaks_mid_word(browser, artifacts):
    page = opened(browser, email(), 320)
    try:
        page.evaluate(STRIP_HEAD_STYLES)
        page.screenshot(path=str(artifacts / "edition-320-head-stripped.png"), full_page=True)
        assert page.evaluate(ROW_HEADERS_ON_ONE_LINE) == []  # "Communi|ty" no more
        assert page.evaluate("document.documentElement.scrollWidth") <= 320
    finally:
        page.close()


def test_outlook_ios_and_inbox_previews_get_what_they_need():
    html = email()
    head = html[: html.index("</head>")]
    assert '<meta name="format-detection" content="telephone=no, date=no, address=no, email=no, url=no"' in head
    word = head[head.index("<!--[if mso]><style>.title") :]
    assert "text-align: left !important" in word[: word.index("<![endif]-->")]  # Word centres "start"
    preheader = html[html.index('<div style="display:none;max-height:0') :]
    preheader = preheader[: preheader.index("</div>")]
    assert preheader.count("&#847;&zwnj;&nbsp;") == 30  # the preview stops before the masthead's words
    assert "opacity:0" in preheader and "max-width:0" in preheader
