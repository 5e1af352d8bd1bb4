"""Verifying SendGrid's signed event webhook.

SendGrid signs `timestamp + raw body` with ECDSA (P-256, SHA-256) and sends the
base64 DER signature and the Unix timestamp in two headers. The check itself is
sendgrid's own `EventWebhook.verify_signature`; around it we refuse what it
would not catch: a missing header, a timestamp too far from now (a replayed
request), a body that is not UTF-8 (the helper verifies text), a garbled key or
signature (the helper would raise instead of answering False).
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid.helpers.eventwebhook import EventWebhook
from sendgrid.helpers.eventwebhook.eventwebhook_header import EventWebhookHeader

from digest.errors import BadSignature, ConfigError

SIGNATURE_HEADER = EventWebhookHeader.SIGNATURE  # X-Twilio-Email-Event-Webhook-Signature
TIMESTAMP_HEADER = EventWebhookHeader.TIMESTAMP  # X-Twilio-Email-Event-Webhook-Timestamp
# How far a request's timestamp may be from our clock. SendGrid signs each POST
# (retries included) when it makes it, so an old timestamp means a replay.
TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class Verifier:
    """Holds the parsed public key; build it once per process (`verifier_for`)."""

    webhook: EventWebhook
    tolerance: timedelta = TOLERANCE

    def check(self, body: bytes, signature: str | None, timestamp: str | None, now: datetime) -> None:
        """Return if `body` is signed by the key and timestamped near `now`; else raise BadSignature."""
        if not signature or not timestamp:
            missing = [
                name for name, value in ((SIGNATURE_HEADER, signature), (TIMESTAMP_HEADER, timestamp)) if not value
            ]
            raise BadSignature(f"the request is unsigned: missing {' and '.join(missing)}")
        try:
            seconds = int(timestamp.strip())
        except ValueError:
            raise BadSignature(f"{TIMESTAMP_HEADER} must be Unix seconds, got {timestamp[:40]!r}") from None
        skew = abs(now.timestamp() - seconds)
        if skew > self.tolerance.total_seconds():
            raise BadSignature(
                f"{TIMESTAMP_HEADER} is {int(skew)} s away from now (at most "
                f"{int(self.tolerance.total_seconds())} s allowed): a replayed or delayed request"
            )
        try:
            payload = body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadSignature("the body is not UTF-8, so it cannot be what SendGrid signed") from None
        try:
            valid = self.webhook.verify_signature(payload, signature.strip(), timestamp.strip())
        except (binascii.Error, ValueError, InvalidSignature, UnsupportedAlgorithm):
            valid = False
        if not valid:
            raise BadSignature(f"the {SIGNATURE_HEADER} does not match the body and timestamp")


def verifier_for(public_key: str | None, tolerance: timedelta = TOLERANCE) -> Verifier:
    """A Verifier for SENDGRID_WEBHOOK_PUBLIC_KEY: the base64 key SendGrid shows, or the same in PEM."""
    if not public_key:
        raise ConfigError(
            "SENDGRID_WEBHOOK_PUBLIC_KEY is not set, so SendGrid's events cannot be verified; "
            "copy the verification key from SendGrid's Mail Settings > Signed Event Webhook"
        )
    key = "".join(line.strip() for line in public_key.strip().splitlines() if not line.startswith("-----"))
    try:
        webhook = EventWebhook(key)
    except (ValueError, binascii.Error, UnsupportedAlgorithm) as exc:
        raise ConfigError(
            "SENDGRID_WEBHOOK_PUBLIC_KEY is not a public key (expected the base64 text "
            f"SendGrid shows, which begins MFkw...): {exc}"
        ) from exc
    if not isinstance(webhook.public_key, ec.EllipticCurvePublicKey):
        raise ConfigError(
            "SENDGRID_WEBHOOK_PUBLIC_KEY is not an elliptic-curve (ECDSA) key; "
            "copy the verification key from SendGrid's Signed Event Webhook settings"
        )
    return Verifier(webhook, tolerance)
