"""The double opt-in mail: rendered once per process, each reader's link filled in by the sender.

CONFIRM_URL marks where each reader's link goes, like digest.mail.placeholders.READER_TOKEN; the
send (claim, settle, release) is digest.delivery.confirmations'.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from digest.mail import Letter
from digest.render.notice import render_notice
from digest.settings import Settings
from subscribers.tokens import ConfirmationTokens

CONFIRM_URL = "%%confirm_url%%"  # filled per recipient, like digest.mail.placeholders.READER_TOKEN


@dataclass(frozen=True)
class ConfirmationView:
    newsletter_name: str
    postal_address: str
    confirm_url: str
    expires_days: int
    language: str = "en"  # DIGEST_LANGUAGE: the mail's `lang`


@lru_cache(maxsize=8)
def render_confirmation(settings: Settings, root: Path | None = None) -> Letter:
    """The confirmation mail, rendered once per process; CONFIRM_URL marks where each reader's link goes.
    A template that does not parse, fill or compile is an EditionError naming the file (as for editions)."""
    view = ConfirmationView(
        settings.newsletter_name,
        settings.postal_address,
        CONFIRM_URL,
        ConfirmationTokens(settings.secret_key).max_age.days,
        settings.language,
    )
    return render_notice(
        settings,
        root,
        view,
        template="confirm",
        kind="confirmation",
        campaign="signup",
        subject=f"Confirm your subscription to {settings.newsletter_name}",
    )
