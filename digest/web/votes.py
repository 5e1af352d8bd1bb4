"""GET /vote/{token}/{comparison}/{tool}: a reader's vote, in one click from the email.

The link is the reader's (their token, subscribers.links.vote_url); the page
thanks them and shows the split now, with a link to move the vote to the other
tool. A link that does not count (unknown or altered token, a reader who has
left, a comparison or tool we do not have) gets a 4xx page saying why.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from digest.content.votes import record_vote
from digest.store import session_scope
from digest.timeutil import utcnow
from digest.web.deps import engine_of, pages_of
from digest.web.errors import ClientError
from digest.web.negotiate import wants_json
from subscribers import links

router = APIRouter(tags=["readers"])
MAX_SLUG = 400


@router.get("/vote/{token}/{comparison_slug}/{tool_slug}", summary="Vote for a tool from the email (one click)",
            responses={200: {"description": "Recorded (or unchanged, or moved); the page shows the split"},
                       403: {"description": "The reader is not (or no longer) subscribed"},
                       404: {"description": "Unknown or altered link, comparison or tool"}})
def vote(request: Request, token: str, comparison_slug: str, tool_slug: str) -> Response:
    if len(comparison_slug) > MAX_SLUG or len(tool_slug) > MAX_SLUG:
        raise ClientError(404, "This voting link is not valid: it is longer than any link we send.",
                          title="This voting link does not work")
    with session_scope(engine_of(request)) as session:
        outcome = record_vote(session, token, comparison_slug, tool_slug, utcnow())
    if wants_json(request):
        return JSONResponse({"comparison": outcome.comparison_slug, "tool": outcome.tool_slug,
                             "change": outcome.change, "votes": outcome.total,
                             "split": [{"tool": line.slug, "votes": line.votes, "percent": line.percent}
                                       for line in outcome.split]})
    others = [(line, links.vote_url("", token, outcome.comparison_slug, line.slug))
              for line in outcome.split if not line.chosen]
    return pages_of(request).render("vote.html", outcome=outcome, others=others)
