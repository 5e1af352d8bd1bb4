"""The re-permission mail: one question to a reader who has shown no sign of life for
DIGEST_SUNSET_AFTER editions, "keep sending?", with a button that opens a page whose own button
(a POST) answers it. Rendered once per process; each reader's token fills READER_TOKEN. The send
and the lapse are digest.delivery.sunset's.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from digest.mail import Letter
from digest.mail.message import AUTOMATIC
from digest.mail.placeholders import READER_TOKEN
from digest.render import feedback_id
from digest.render.compile import compile_mjml
from digest.render.templates import fill, template_file
from digest.settings import Settings
from subscribers import links

HTML_TEMPLATE = "email/repermission.mjml.j2"
TEXT_TEMPLATE = "email/repermission.txt.j2"


@dataclass(frozen=True)
class RepermissionView:
    newsletter_name: str
    postal_address: str
    editions: int
    grace_days: int
    keep_url: str
    preferences_url: str
    unsubscribe_url: str
    language: str = "en"  # DIGEST_LANGUAGE: the mail's `lang`


@lru_cache(maxsize=8)
def render_repermission(settings: Settings, root: Path | None = None) -> Letter:
    view = RepermissionView(
        settings.newsletter_name,
        settings.postal_address,
        settings.sunset_after or 0,
        settings.sunset_grace,
        links.keep_url(settings.base_url, READER_TOKEN),
        links.preferences_url(settings.base_url, READER_TOKEN),
        links.unsubscribe_url(settings.base_url, READER_TOKEN),
        settings.language,
    )
    override = settings.templates
    markup = compile_mjml(
        fill("markup", HTML_TEMPLATE, root, override, c=view), template_file(HTML_TEMPLATE, root, override)
    )
    return Letter(
        subject=f"Do you still want {settings.newsletter_name}?",
        html=markup,
        text=fill("text", TEXT_TEMPLATE, root, override, c=view),
        from_address=settings.from_address,
        from_name=settings.newsletter_name,
        reply_to=settings.reply_to,
        categories=("repermission",),
        headers={"Feedback-ID": feedback_id(settings, "sunset", "repermission"), **AUTOMATIC},
    )
