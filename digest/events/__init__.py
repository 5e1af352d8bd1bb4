"""Events: what the mail provider reports back, and what it changes.

signature  verifying SendGrid's signed event webhook (pure)
parse      a webhook body -> event rows to store, and what to ignore (pure)
models     Event, one row per provider event (unique sg_event_id)
ingest     storing a batch once; the subscribers library stops mail to who bounced, complained or left
erasure    an erased reader's events, anonymized
"""
