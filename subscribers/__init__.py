"""subscribers: a self-contained library for newsletter readers.

Subscribers, consent, tokens, preferences and suppression. It imports neither
`digest` nor `schedules`; callers hand it a database session, settings and a
mail-sending callable.

    models         Subscriber, ConsentEvent and Suppression (SQLModel tables)
    consent        the consent log: every opt-in, confirmation and opt-out, appended
    validation     checking what a reader or operator typed (email, topics, time zone)
    tokens         reader tokens and signed, expiring confirmation tokens
    rules          what each event does to a reader's status (pure)
    service        subscribe, confirm, unsubscribe, change preferences
    confirmations  the queue of confirmation mails (claim / settle / release), at least once
    operators      add, import, find, export, erase
    csvfile        reading imports, writing exports
    suppression    hashes of erased addresses
    audience       active readers in keyset batches, for a send
    links          every URL a reader is given
    errors         the exception tree
"""
