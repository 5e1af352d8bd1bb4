"""subscribers: a self-contained library for newsletter readers.

Subscribers, consent, tokens, preferences and suppression. It imports neither
`digest` nor `schedules`; callers hand it a database session, settings and a
mail-sending callable.

    consent        the consent log: every opt-in, confirmation and opt-out, appended
    validation     checking what a reader or operator typed (email, topics, time zone)
    tokens         reader tokens and signed, expiring confirmation tokens
    rules          what each event does to a reader's status (pure)
    cadence        how often a reader gets a letter, and which editions it carries (pure)
    service        subscribe, confirm, unsubscribe, change preferences
    confirmations  the queue of confirmation mails (claim / settle / release), at least once
    welcomes       the queue of welcome mails to readers who confirmed, the same way
    engagement     a reader's signs of life, the re-permission question and the lapse
    operators      add, import, find, export, erase
    csvfile        reading imports, writing exports
    audience       active readers in keyset batches, for a send
    links          every URL a reader is given
    errors         the exception tree

Its public surface is the modules above, used as namespaces (`audience.readers(...)`,
`links.unsubscribe_url(...)`, `status.ACTIVE`), and their names without a leading underscore;
`__all__` lists them. The rest is private: `models` (the tables: Subscriber, ConsentEvent,
Suppression, which only this library writes; importing the package registers them) and
`suppression` (used through `operators`). digest's layering test fails when digest imports a
module that is not listed here.
"""

from subscribers import (
    audience,
    cadence,
    confirmations,
    consent,
    csvfile,
    engagement,
    errors,
    links,
    operators,
    rules,
    service,
    status,
    tokens,
    validation,
    welcomes,
)

__all__ = [
    "audience",
    "cadence",
    "confirmations",
    "consent",
    "csvfile",
    "engagement",
    "errors",
    "links",
    "operators",
    "rules",
    "service",
    "status",
    "tokens",
    "validation",
    "welcomes",
]
