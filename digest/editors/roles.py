"""An editor's role and the audit log's actions: the names, once (pure).

editor   edits, previews, test-sends and approves
owner    also sends, pauses and resumes, and manages accounts
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    EDITOR = "editor"
    OWNER = "owner"


class Action(StrEnum):
    """What an audit entry records. CHANGES are the ones that withdraw an edition's approvals."""

    BUILD = "build"
    EDIT = "edit"
    APPROVE = "approve"
    TEST_SEND = "test-send"
    SEND = "send"
    PAUSE = "pause"
    RESUME = "resume"
    RETRY = "retry"
    READER_UNSUBSCRIBE = "reader-unsubscribe"
    READER_SUPPRESS = "reader-suppress"
    ACCOUNT_ADD = "account-add"
    ACCOUNT_REMOVE = "account-remove"
    ACCOUNT_PASSWORD = "account-password"


CHANGES = frozenset({Action.BUILD, Action.EDIT})
