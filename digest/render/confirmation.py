"""The double opt-in mail: rendered once per process, each reader's link filled in by the sender.

CONFIRM_URL marks where each reader's link goes, like digest.mail.placeholders.READER_TOKEN; the
send (claim, settle, release) is digest.delivery.confirmations'.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from digest.mail import Letter
from digest.mail.message import AUTOMATIC
from digest.render import feedback_id
from digest.render.compile import compile_mjml
from digest.render.templates import fill, template_file
from digest.settings import Settings
from subscribers.tokens import ConfirmationTokens

CONFIRM_URL = "%%confirm_url%%"  # filled per recipient, like digest.mail.placeholders.READER_TOKEN
HTML_TEMPLATE = "email/confirm.mjml.j2"
TEXT_TEMPLATE = "email/confirm.txt.j2"


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
    override = settings.templates  # DIGEST_TEMPLATES: the publisher's templates come first
    html = compile_mjml(
        fill("markup", HTML_TEMPLATE, root, override, c=view), template_file(HTML_TEMPLATE, root, override)
    )
    text = fill("text", TEXT_TEMPLATE, root, override, c=view)
    return Letter(
        subject=f"Confirm your subscription to {settings.newsletter_name}",
        html=html,
        text=text,
        from_address=settings.from_address,
        from_name=settings.newsletter_name,
        reply_to=settings.reply_to,
        categories=("confirmation",),
        headers={"Feedback-ID": feedback_id(settings, "signup", "confirmation"), **AUTOMATIC},
    )
