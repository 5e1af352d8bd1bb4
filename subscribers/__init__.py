"""subscribers: a self-contained library for newsletter readers.

Subscribers, consent, tokens, preferences and suppression. It imports neither
`digest` nor `schedules`; callers hand it a database session, settings and a
mail-sending callable.
"""
