"""The people who make the newsletter: editor accounts and their roles, the audit log of who did
what, and the approval rule an edition must meet before it goes out (DIGEST_APPROVALS).

    roles.py      the roles and actions, named once
    models.py     the `editor` and `audit_entry` tables
    accounts.py   add, remove, list, change a password, check one (argon2)
    audit.py      append to the log, read an edition's log
    approvals.py  approve, what an edition has and needs, the one-line refusal; changes made as someone
"""
