"""Keeping every edition under Gmail's clipping point, footer and all.

Gmail shows about 102 KB of a message's HTML and hides the rest behind "[Message
clipped]", and with it the unsubscribe link and the postal address. So an
edition's HTML stays under CLIP_LIMIT bytes in every reader's copy (a reader's
token is longer than the placeholder it replaces), counted as sent: the HTML
part quoted-printable encoded, CRLF line ends included (`mail.message.wire_bytes`).

Counted encoded, not sent as 8bit: whether Gmail counts decoded or encoded bytes is
disputed, and the encoded size is the larger, so fitting it is safe either way. 8bit
would be smaller on the wire, but only over SMTP, and only to servers offering 8BITMIME;
SendGrid takes the decoded HTML and encodes it itself (quoted-printable for non-ASCII
text), so its readers would still get the encoded size. One rule for every transport:
quoted-printable everywhere, and the budget is its size. It costs non-Latin scripts the
most (a kana is 3 UTF-8 bytes, 9 encoded; every "=" of the markup is 3), so a Japanese
edition fits fewer cards, and the rest go to the list linking to the web version. When cards for every
comparison would not fit, the first comparisons stay cards and the others become
one line each, linking to their card in the web version; when even those lines
would not fit, the last ones are only counted ("and 3 more in the web version").

    fit(view, compile_view) -> (view, html)   the view as it fits, and its HTML
    reader_bytes(html)                         the size of a reader's copy
    size_report(view, html)                    the line the CLI prints

Click tracking (DIGEST_CLICK_TRACKING, SendGrid only) rewrites every http(s) link of the HTML
part after this check, so then the budget counts each link as SendGrid's rewritten one:
`https://uNNNNNNN.ct.sendgrid.net/ls/click?upn=...`, whose token carries the original URL
(base64, so 4/3 of its length) and SendGrid's own ids and signature. TRACKED_LINK estimates it
as TRACKED_LINK_BASE bytes plus 4/3 of the URL, erring high: about 230 bytes more per link of
ours, 30 KB for a 30-comparison edition's 130 links, the top of what was seen (15-30 KB).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from digest.errors import EditionError
from digest.mail.message import wire_bytes
from digest.mail.placeholders import READER_TOKEN
from digest.render.context import EditionView
from subscribers.tokens import new_reader_token

CLIP_LIMIT = 100_000  # bytes; Gmail clips at about 102 KB, and a little room is kept for what a provider adds
TOKEN_LENGTH = len(new_reader_token())  # every reader's token has this length
TRACKED_LINK_BASE = 200  # bytes of a SendGrid click-tracking link besides the original URL it carries
_LINK = re.compile(r'href="(https?://[^"]*)"')


def tracked_link(url: str) -> int:
    """The estimated length of SendGrid's click-tracking rewrite of `url` (see the module's docstring)."""
    return TRACKED_LINK_BASE + (len(url.encode("utf-8")) * 4 + 2) // 3


_FILLER = "x" * TOKEN_LENGTH  # a token's characters (URL-safe ASCII) are one byte each, encoded too


def reader_bytes(html: str, click_tracking: bool = False) -> int:
    """The size of a reader's HTML part as sent: each placeholder filled with a token, each link as
    SendGrid rewrites it when click tracking is on, quoted-printable encoded with CRLF line ends."""
    copy = html.replace(READER_TOKEN, _FILLER)
    if click_tracking:
        copy = _LINK.sub(lambda link: 'href="' + "x" * tracked_link(link.group(1)) + '"', copy)
    return wire_bytes(copy)


# How many cards the last letter that did not fit whole could show (its bracket found by compiling).
# A send fits hundreds of letters made of like cards, most of them showing about as many: a letter with
# clearly more comparisons than that is not compiled whole first, and its search begins there, then
# looks one card further. Only the number of compiles depends on it: an answer is always an attempt
# compiled and found to fit, next to one compiled and found not to (or to the whole letter's).
_last_cards: int | None = None
MARGIN = 2  # a letter with more than this many comparisons beyond _last_cards is not compiled whole first
WALK = 3  # steps of one card from _last_cards before the search halves and interpolates


def _largest(
    make: Callable[[int], tuple[EditionView, str]],
    low: int,
    high: int,
    limit: int,
    click_tracking: bool,
    over: int | None = None,
    start: int | None = None,
) -> tuple[EditionView, str] | None:
    """The attempt with the largest n in [low, high] whose HTML fits (each step costs one compile).
    The size grows with n, so a bracket holds it: the largest n known to fit, the smallest known
    not to (high + 1 at first, of `over` bytes when the caller measured it). With `start`, the first
    steps walk from it one card at a time, up while attempts fit or down while they do not, at most
    WALK steps (the answer, most often, when `start` is the last letter's). Then every other step
    probes where a straight line through the bracket's sizes crosses the limit (a card adds about as
    much as the next), the others halve it: the same answer as a binary search, in fewer compiles
    when the sizes are nearly linear, and never more than twice as many."""
    best = None
    fits_at, fits_size = low - 1, None
    over_at, over_size = high + 1, over
    step = 0
    walk, way, steps = start, 0, WALK  # from `start`, one card at a time while each step goes the same way
    while fits_at + 1 < over_at:
        if walk is not None:
            middle = min(max(walk, fits_at + 1), over_at - 1)
        else:
            step += 1
            middle = (fits_at + over_at) // 2
            if step % 2 == 1 and over_size is not None:
                if fits_size is None:  # one point known: sizes taken as proportional to n
                    guess = over_at * limit // over_size
                else:
                    guess = fits_at + (limit - fits_size) * (over_at - fits_at) // max(1, over_size - fits_size)
                middle = min(max(guess, fits_at + 1), over_at - 1)
        attempt = make(middle)
        size = reader_bytes(attempt[1], click_tracking)
        if size <= limit:
            best, fits_at, fits_size = attempt, middle, size
        else:
            over_at, over_size = middle, size
        if walk is not None:
            now = 1 if size <= limit else -1
            walk, way, steps = (middle + now, now, steps - 1) if way in (0, now) and steps else (None, way, 0)
    return best


def fit(
    view: EditionView,
    compile_view: Callable[[EditionView], str],
    limit: int = CLIP_LIMIT,
    click_tracking: bool = False,
) -> tuple[EditionView, str]:
    """The view with as many cards as fit under `limit`, and its HTML."""
    global _last_cards
    total = len(view.comparisons)
    if _last_cards is None or total <= _last_cards + MARGIN:
        html = compile_view(view)
        size = reader_bytes(html, click_tracking)
        if size <= limit:
            return view, html
        high, over = total - 1, size
    else:  # not compiled whole: the search may find every card fits after all
        high, over = total, None

    def attempt(cards: int, lines: int) -> tuple[EditionView, str]:
        shaped = replace(view, in_full=cards, listed=lines)
        return shaped, compile_view(shaped)

    found = _largest(lambda cards: attempt(cards, total - cards), 0, high, limit, click_tracking, over, _last_cards)
    if found is not None:
        _last_cards = found[0].in_full
        if found[0].in_full == total:  # every card fits: the letter as it is
            html = compile_view(view)
            if reader_bytes(html, click_tracking) <= limit:
                return view, html
        return found
    found = _largest(lambda lines: attempt(0, lines), 0, total, limit, click_tracking)
    if found is None:
        raise EditionError(
            f"the edition's HTML is over {limit:,} bytes even without its comparisons: "
            "the templates' fixed parts (head, masthead, intro, footer) are too large"
        )
    return found


def size_figures(html: str, limit: int = CLIP_LIMIT, click_tracking: bool = False) -> dict[str, int]:
    """{"html_bytes": a reader's copy, "html_margin": what is left under `limit`} (for --json)."""
    size = reader_bytes(html, click_tracking)
    return {"html_bytes": size, "html_margin": limit - size}


def size_report(view: EditionView, html: str, limit: int = CLIP_LIMIT, click_tracking: bool = False) -> str:
    """'HTML: 61,234 bytes a reader as sent, 38,766 under the 100,000-byte limit (Gmail clips at about 102 KB).'"""
    size = reader_bytes(html, click_tracking)
    report = (
        f"HTML: {size:,} bytes a reader as sent, {limit - size:,} under the {limit:,}-byte limit "
        "(Gmail clips at about 102 KB)."
    )
    if view.in_full is not None:
        shown = len(view.cards)
        report += (
            f" {shown} of {len(view.comparisons)} comparisons as cards, {len(view.lines)} in a list"
            + (f", {view.unlisted} counted" if view.unlisted else "")
            + ", each in full in the web version."
        )
    return report
