"""A mail of the newsletter's own to one reader (the confirmation, the welcome, the re-permission
question): one template pair, `email/TEMPLATE.mjml.j2` and `email/TEMPLATE.txt.j2`, filled with a view and
compiled once, sent from the newsletter's address with the headers of an automatic mail. Per-reader
values are placeholders in the view, which the sender fills.
"""

from __future__ import annotations

from pathlib import Path

from digest.mail import Letter
from digest.mail.message import AUTOMATIC
from digest.render import feedback_id
from digest.render.compile import compile_mjml
from digest.render.templates import fill, template_file
from digest.settings import Settings


def render_notice(
    settings: Settings, root: Path | None, view, *, template: str, kind: str, campaign: str, subject: str
) -> Letter:
    """The mail of templates `email/TEMPLATE.*` filled with `view`; `kind` is its category and, with
    `campaign`, its Feedback-ID. A template that does not parse, fill or compile is an EditionError
    naming the file (as for editions)."""
    markup_template, text_template = f"email/{template}.mjml.j2", f"email/{template}.txt.j2"
    override = settings.templates  # DIGEST_TEMPLATES: the publisher's templates come first
    markup = fill("markup", markup_template, root, override, c=view)
    return Letter(
        subject=subject,
        html=compile_mjml(markup, template_file(markup_template, root, override)),
        text=fill("text", text_template, root, override, c=view),
        from_address=settings.from_address,
        from_name=settings.newsletter_name,
        reply_to=settings.reply_to,
        categories=(kind,),
        headers={"Feedback-ID": feedback_id(settings, campaign, kind), **AUTOMATIC},
    )
