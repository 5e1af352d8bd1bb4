"""POST /webhooks/sendgrid: SendGrid's signed event webhook.

Order of work, so that nothing unproven is ever stored:
  1. the signature over `timestamp + raw body` (SENDGRID_WEBHOOK_PUBLIC_KEY), and
     the timestamp within digest.events.signature.TOLERANCE of now: else 403;
  2. the body as a JSON array: else 400 (SendGrid retries; a fixed sender helps);
  3. one transaction: new events stored (duplicates skipped), their readers
     suppressed where an event calls for it, and clicks counted as engagement
     where digest.events.clicks' rule lets them (DIGEST_CLICKS_ENGAGE). Events of unknown type, missing a
     field or holding a value no database stores (a NUL, a NaN) are left out and
     logged, each naming the event; the rest of the batch still counts.
The answer is 200 with what was stored and what was left out: sending the same
bytes again cannot make a left-out event storable, so it is not asked for. If
the database cannot take the batch at all, the answer is 503 and SendGrid
retries it; the events already stored are skipped as duplicates then.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from digest.delivery.ledger import mailed_at
from digest.events.ingest import ingest
from digest.events.parse import parse_batch
from digest.events.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, Verifier, verifier_for
from digest.timeutil import utcnow
from digest.web.deps import engine_of, settings_of

log = logging.getLogger(__name__)
router = APIRouter(tags=["providers"])

PATH = "/webhooks/sendgrid"
LOGGED_IGNORED = 20  # per batch, then one line with the count


@lru_cache(maxsize=4)
def _verifier(public_key: str | None) -> Verifier:
    return verifier_for(public_key)


@router.post(
    PATH,
    summary="SendGrid's event webhook (signed)",
    responses={
        200: {"description": "The batch was verified; counts of events stored, already stored and ignored"},
        400: {"description": "The body is not a JSON array of events"},
        403: {"description": "Missing or bad signature, or a timestamp too far from now; nothing stored"},
        503: {"description": "SENDGRID_WEBHOOK_PUBLIC_KEY is not set (or not a key); nothing stored"},
    },
)
async def sendgrid_events(request: Request) -> JSONResponse:
    verifier = _verifier(settings_of(request).webhook_public_key)
    body = await request.body()
    now = utcnow()
    verifier.check(body, request.headers.get(SIGNATURE_HEADER), request.headers.get(TIMESTAMP_HEADER), now)
    batch = parse_batch(body, now)
    for line in batch.ignored[:LOGGED_IGNORED]:
        log.warning("event webhook ignored %s", line)
    if len(batch.ignored) > LOGGED_IGNORED:
        log.warning("event webhook ignored %d more events in the same batch", len(batch.ignored) - LOGGED_IGNORED)

    mailed = mailed_at if settings_of(request).clicks_engage else None  # DIGEST_CLICKS_ENGAGE

    def store():
        with engine_of(request).begin() as connection:
            return ingest(connection, batch.rows, now, mailed_at=mailed)

    result = await run_in_threadpool(store)
    for sg_event_id, why in list(result.refused.items())[:LOGGED_IGNORED]:
        log.warning("event webhook: the database refused event %r: %s", sg_event_id[:100], why)
    if result.suppressed:
        log.info(
            "event webhook: %d reader(s) will get no more mail (bounce, complaint or unsubscribe)", result.suppressed
        )
    if result.engaged:
        log.info(
            "event webhook: clicks (may include link scanners) count as engagement for %d reader(s)", result.engaged
        )
    return JSONResponse(
        {
            "stored": result.stored,
            "duplicates": result.duplicates,
            "ignored": len(batch.ignored) + len(result.refused),
            "suppressed": result.suppressed,
        }
    )
