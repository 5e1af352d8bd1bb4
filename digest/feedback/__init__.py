"""Feedback: what comes back from SendGrid and from readers, and what it changes.

    models       Event (one row per provider event, unique sg_event_id) and Vote
    signature    verifying SendGrid's signed event webhook (pure)
    events       a webhook body -> event rows to store, and what to ignore (pure)
    ingest       storing a batch once, and suppressing readers who bounced, complained or left
    guard        whether a send in progress must pause: its complaint or bounce rate
    votes        one vote per reader per comparison, and the community share it adds up to
    archive      past editions as web pages and an Atom feed
    privacy      an erased reader's events, anonymized
    chart        the stats as one chart per metric (matplotlib, Agg)
"""
