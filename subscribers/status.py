"""A reader's status: the names, and which provider event changes which (pure).

    pending       signed up, not confirmed yet: gets confirmation mail, never an edition
    active        confirmed: the one status that receives editions
    unsubscribed  left (a link, a page, an operator or the provider's own unsubscribe)
    bounced       the mailbox refused mail for good
    complained    reported a mail as spam
    suppressed    an operator stopped all mail to the address for good (`digest subscribers suppress`):
                  unlike an unsubscribe, a new sign-up does not bring it back
    lapsed        stopped after DIGEST_SUNSET_AFTER editions without a sign of life and an unanswered
                  re-permission mail: no more mail until they subscribe again

Only this library writes a status; the application reads these names from here.
"""

from __future__ import annotations

PENDING = "pending"
ACTIVE = "active"
UNSUBSCRIBED = "unsubscribed"
BOUNCED = "bounced"
COMPLAINED = "complained"
SUPPRESSED = "suppressed"
LAPSED = "lapsed"

ALL = (PENDING, ACTIVE, UNSUBSCRIBED, BOUNCED, COMPLAINED, SUPPRESSED, LAPSED)
RECEIVES_EDITIONS = ACTIVE  # never an unconfirmed address
STOPPED = (UNSUBSCRIBED, BOUNCED, COMPLAINED, SUPPRESSED, LAPSED)  # a reader who left: no mail of any kind
MAY_SUPPRESS = (PENDING, ACTIVE, UNSUBSCRIBED, LAPSED)
MAY_COME_BACK = (
    UNSUBSCRIBED,
    LAPSED,
)  # a new sign-up makes them pending again  # a bounce or a complaint already stops mail for good
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


# What a status column in an import means (digest's own export, listmonk's, Mailchimp's, others'):
# a word of the first group keeps the import's own rule (pending, or active with --confirmed);
# every other known word is an opt-out the reader keeps, whatever the import is told.
_IMPORT_KEEPS = frozenset(
    {"", "active", "subscribed", "confirmed", "enabled", "pending", "unconfirmed", "opted in", "opt-in", "optin"}
)
_IMPORT_STOPS = {
    UNSUBSCRIBED: (
        "unsubscribed",
        "unsubscribe",
        "opted out",
        "opt-out",
        "optout",
        "blocklisted",
        "blacklisted",
        "blocked",
        "disabled",
        "suppressed",
    ),
    BOUNCED: ("bounced", "bounce", "hard bounce", "hard bounced", "cleaned"),
    COMPLAINED: ("complained", "complaint", "spam", "spam complaint", "spamreport", "reported spam"),
}
_IMPORT_STOP_OF = {word: stop for stop, words in _IMPORT_STOPS.items() for word in words}


def imported(word: str) -> str | None:
    """The status an import row's status word stops the reader at, or None when it does not stop
    them. An unknown word raises ValueError naming the words known: guessing could mail someone
    who left."""
    key = " ".join(word.strip().lower().replace("_", " ").split()) if word else ""
    if key in _IMPORT_KEEPS:
        return None
    stop = _IMPORT_STOP_OF.get(key)
    if stop is None:
        known = ", ".join(sorted(_IMPORT_KEEPS - {""}) + sorted(_IMPORT_STOP_OF))
        raise ValueError(f"{word.strip()[:40]!r} is not a status this import knows ({known})")
    return stop
