"""The two kinds of token a reader's links carry.

* A reader token: 32 random bytes (43 URL-safe characters), stored on the
  reader. It opens /unsubscribe, /preferences and /vote for that reader. Making a
  link is string formatting, so links for a million readers cost nothing.
* A confirmation token: the reader token signed with the secret key under the
  purpose "confirm", with a timestamp, so it expires and cannot be forged,
  altered or reused for another purpose (itsdangerous; its signer is built once,
  not for every token: making one is on the path of every sign-up's mail).
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from datetime import timedelta

from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from subscribers.errors import BadLink, ExpiredLink

READER_TOKEN_BYTES = 32
_READER_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
CONFIRM_PURPOSE = "subscribers.confirm"
CONFIRM_MAX_AGE = timedelta(days=7)
MAX_SIGNED_LENGTH = 200


def new_reader_token() -> str:
    return secrets.token_urlsafe(READER_TOKEN_BYTES)


def looks_like_reader_token(value: str) -> bool:
    """Cheap shape check before a database look-up."""
    return bool(_READER_TOKEN.fullmatch(value))


class ConfirmationTokens:
    """Makes and reads signed, expiring confirmation tokens. `clock` returns Unix seconds."""

    def __init__(self, secret_key: str, max_age: timedelta = CONFIRM_MAX_AGE, clock: Callable[[], float] = time.time):
        class _Signer(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(clock())

        self.max_age = max_age
        self._serializer = URLSafeTimedSerializer(secret_key, salt=CONFIRM_PURPOSE, signer=_Signer)
        self._signer = self._serializer.make_signer(CONFIRM_PURPOSE)

    def make(self, reader_token: str) -> str:
        """What `URLSafeTimedSerializer.dumps(reader_token)` returns, by itsdangerous's own parts,
        with the signer made once (dumps makes one per token)."""
        return self._signer.sign(self._serializer.dump_payload(reader_token)).decode("ascii")

    def read(self, signed: str) -> str:
        """The reader token inside `signed`; BadLink or ExpiredLink when it cannot be trusted."""
        if not signed or len(signed) > MAX_SIGNED_LENGTH:
            raise BadLink(
                "This confirmation link is not valid. Copy the whole link from the email, "
                "or subscribe again to get a new one."
            )
        try:
            value = self._serializer.loads(signed, max_age=int(self.max_age.total_seconds()))
        except SignatureExpired:
            days = self.max_age.days or 1
            raise ExpiredLink(
                f"This confirmation link has expired (links work for {days} days). Subscribe again to get a new one."
            ) from None
        except BadData:  # bad signature, wrong purpose, garbage
            raise BadLink(
                "This confirmation link is not valid: it may have been cut short or changed. "
                "Copy the whole link from the email, or subscribe again to get a new one."
            ) from None
        if not isinstance(value, str) or not looks_like_reader_token(value):
            raise BadLink("This confirmation link is not valid. Subscribe again to get a new one.")
        return value
