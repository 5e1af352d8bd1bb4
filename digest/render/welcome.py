"""The welcome mail a reader gets when they confirm: rendered once per process, each reader's topics,
first edition and links filled in by the sender (like the confirmation mail's link).

TOPICS, TOPICS_HTML, FIRST_EDITION and SCHEDULE (when their cadence brings a letter) mark where each
reader's values go; READER_TOKEN (as in an edition) where their token goes, in the preferences and
unsubscribe links. The send (claim, settle, release) is digest.delivery.welcomes'. `welcome_intro`
is the paragraph an edition carries instead, for a reader whose first edition goes out within
minutes of their confirmation.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from digest.mail import Letter
from digest.mail.message import ONE_CLICK
from digest.mail.placeholders import READER_TOKEN
from digest.render.notice import render_notice
from digest.settings import Settings
from subscribers import links

TOPICS = "%%topics%%"
TOPICS_HTML = "%%topics_html%%"
FIRST_EDITION = "%%first_edition%%"
SCHEDULE = "%%schedule%%"
EVERY_TOPIC = "every topic"


@dataclass(frozen=True)
class WelcomeView:
    newsletter_name: str
    postal_address: str
    topics: str
    topics_html: str
    first_edition: str
    preferences_url: str
    unsubscribe_url: str
    schedule: str  # SCHEDULE: "every Monday at 08:00 in your time zone", by the reader's cadence
    language: str = "en"  # DIGEST_LANGUAGE: the mail's `lang`


def topics_line(topics: Sequence[str]) -> str:
    return ", ".join(topics) if topics else EVERY_TOPIC


@lru_cache(maxsize=8)
def render_welcome(settings: Settings, root: Path | None = None) -> Letter:
    """The welcome mail with its per-reader placeholders. A template that does not parse, fill or
    compile is an EditionError naming the file (as for editions)."""
    view = WelcomeView(
        settings.newsletter_name,
        settings.postal_address,
        TOPICS,
        TOPICS_HTML,
        FIRST_EDITION,
        links.preferences_url(settings.base_url, READER_TOKEN),
        links.unsubscribe_url(settings.base_url, READER_TOKEN),
        SCHEDULE,
        settings.language,
    )
    return render_notice(
        settings,
        root,
        view,
        template="welcome",
        kind="welcome",
        campaign="signup",
        subject=f"Welcome to {settings.newsletter_name}",
    )


def welcome_values(settings: Settings, token: str, topics: Sequence[str], first_edition: str, schedule: str) -> dict:
    """One reader's substitutions and headers: (substitutions, headers)."""
    line = topics_line(topics)
    substitutions = {
        READER_TOKEN: token,
        TOPICS: line,
        TOPICS_HTML: html.escape(line),
        FIRST_EDITION: first_edition,
        SCHEDULE: html.escape(schedule),
    }
    headers = {
        "List-Unsubscribe": f"<{links.unsubscribe_url(settings.base_url, token)}>",
        "List-Unsubscribe-Post": ONE_CLICK,
    }
    return {"substitutions": substitutions, "headers": headers}


def welcome_intro(settings: Settings) -> str:
    """What an edition carries for a reader who has just joined, instead of a welcome mail of its own."""
    return (
        f"Welcome to {settings.newsletter_name}! You confirmed your subscription after this week's "
        "edition went out, so here it is now. From next week it arrives on the send day at the usual "
        "time, in your time zone; the preferences link at the bottom lets you choose your topics."
    )
