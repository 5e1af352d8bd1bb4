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
from digest.mail.placeholders import READER_TOKEN
from digest.render.notice import render_notice
from digest.settings import Settings
from subscribers import links


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
    return render_notice(
        settings,
        root,
        view,
        template="repermission",
        kind="repermission",
        campaign="sunset",
        subject=f"Do you still want {settings.newsletter_name}?",
    )
