"""A reader's status: the names, and which provider event changes which (pure).

    pending       signed up, not confirmed yet: gets confirmation mail, never an edition
    active        confirmed: the one status that receives editions
    unsubscribed  left (a link, a page, an operator or the provider's own unsubscribe)
    bounced       the mailbox refused mail for good
    complained    reported a mail as spam
    suppressed    an operator stopped all mail to the address for good (`digest subscribers suppress`):
                  unlike an unsubscribe, a new sign-up does not bring it back

Only this library writes a status; the application reads these names from here.
"""

from __future__ import annotations

PENDING = "pending"
ACTIVE = "active"
UNSUBSCRIBED = "unsubscribed"
BOUNCED = "bounced"
COMPLAINED = "complained"
SUPPRESSED = "suppressed"

ALL = (PENDING, ACTIVE, UNSUBSCRIBED, BOUNCED, COMPLAINED, SUPPRESSED)
RECEIVES_EDITIONS = ACTIVE  # never an unconfirmed address
STOPPED = (UNSUBSCRIBED, BOUNCED, COMPLAINED, SUPPRESSED)  # a reader who left: no mail of any kind
MAY_SUPPRESS = (PENDING, ACTIVE, UNSUBSCRIBED)  # a bounce or a complaint already stops mail for good
MAY_UNSUBSCRIBE = (PENDING, ACTIVE)
MAILED = (ACTIVE, PENDING)  # what a provider event may still change: a reader who left keeps their reason
STRONGEST_FIRST = (COMPLAINED, BOUNCED, UNSUBSCRIBED)  # two stops for one reader in a batch: the first wins

# SendGrid drops mail to an address on its own suppression lists; the reason says which.
_DROPPED = {"Bounced Address": BOUNCED, "Spam Reporting Address": COMPLAINED, "Unsubscribed Address": UNSUBSCRIBED}


def after_provider_event(event: str, bounce_type: str | None, raw: dict) -> str | None:
    """The status a provider event gives its reader, or None when it changes nothing.

    A bounce is hard unless SendGrid classed it `blocked` (a temporary refusal,
    often the receiving server's reputation filter, worth trying again).
    """
    if event == "bounce":
        return None if bounce_type == "blocked" else BOUNCED
    if event == "spamreport":
        return COMPLAINED
    if event in ("unsubscribe", "group_unsubscribe"):
        return UNSUBSCRIBED
    if event == "dropped":
        return _DROPPED.get(raw.get("reason")) if isinstance(raw.get("reason"), str) else None
    return None
