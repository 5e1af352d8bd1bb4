"""Per-reader placeholders: rendered into an edition once, filled per recipient.

The edition's HTML and text are compiled once with READER_TOKEN where a reader's
token belongs (unsubscribe, preferences and vote links). A sender fills it per
recipient: SendGrid through substitutions, SMTP and the outbox by string
replacement (digest.mail.message.fill). The renderer guarantees no comparison
text can contain the placeholder.
"""

from __future__ import annotations

READER_TOKEN = "%%reader_token%%"


def reader_substitutions(token: str) -> dict[str, str]:
    """What fills the placeholders for one reader."""
    return {READER_TOKEN: token}
