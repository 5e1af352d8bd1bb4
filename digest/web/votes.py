"""/vote/{token}/{comparison}/{tool}: "Which would you ship?", from the email.

The link is the reader's (their token, subscribers.links.vote_url). Mail security
scanners open every link in a message, so the GET only asks: a page with one
button, which POSTs to the same address and records the vote; the thank-you page
shows the split now, with a button to move the vote to the other tool. A link
that does not count (unknown or altered token, a reader who has left, a
comparison or tool we do not have) gets a 4xx page saying why, on either method.
A comparison the reader was not mailed (or not published yet) is answered
exactly as one we do not have: the same status and the same bytes.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from digest.content.votes import MIN_VOTES, ballot, record_vote
from digest.delivery.ledger import was_mailed
from digest.store import session_scope
from digest.timeutil import utcnow
from digest.web.deps import engine_of, pages_of
from digest.web.errors import ClientError
from digest.web.negotiate import wants_json
from subscribers import engagement, links

router = APIRouter(tags=["readers"])
MAX_SLUG = 400
VOTE_PATH = "/vote/{token}/{comparison_slug}/{tool_slug}"
_REFUSED = {
    403: {"description": "The reader is not (or no longer) subscribed"},
    404: {"description": "Unknown or altered link, comparison or tool"},
}


def _check_length(comparison_slug: str, tool_slug: str) -> None:
    if len(comparison_slug) > MAX_SLUG or len(tool_slug) > MAX_SLUG:
        raise ClientError(
            404,
            "This voting link is not valid: it is longer than any link we send.",
            title="This voting link does not work",
        )


@router.get(
    VOTE_PATH,
    summary="The page a vote link opens: one button that votes (the GET records nothing)",
    response_class=Response,
    responses={200: {"content": {"text/html": {}, "application/json": {}}}, **_REFUSED},
)
def vote_page(request: Request, token: str, comparison_slug: str, tool_slug: str) -> Response:
    _check_length(comparison_slug, tool_slug)
    with session_scope(engine_of(request)) as session:
        asked = ballot(session, token, comparison_slug, tool_slug, mailed=was_mailed)
    if wants_json(request):
        return JSONResponse(
            {
                "comparison": asked.comparison_slug,
                "tool": asked.tool_slug,
                "your_vote": asked.current,
                "to_vote": "POST to this address",
            }
        )
    return pages_of(request).render(
        "vote.html", ballot=asked, action=links.vote_url("", token, asked.comparison_slug, asked.tool_slug)
    )


@router.post(
    VOTE_PATH,
    summary="Vote for a tool (the button on the vote page)",
    response_class=Response,
    responses={
        200: {
            "description": "Recorded (or unchanged, or moved); the page shows the split",
            "content": {"text/html": {}, "application/json": {}},
        },
        **_REFUSED,
    },
)
def vote(request: Request, token: str, comparison_slug: str, tool_slug: str) -> Response:
    _check_length(comparison_slug, tool_slug)
    with session_scope(engine_of(request)) as session:
        outcome = record_vote(session, token, comparison_slug, tool_slug, utcnow(), mailed=was_mailed)
        engagement.engaged(session, token, utcnow())  # a vote is a sign of life
    if wants_json(request):
        return JSONResponse(
            {
                "comparison": outcome.comparison_slug,
                "tool": outcome.tool_slug,
                "change": outcome.change,
                "votes": outcome.total,
                "split": [{"tool": line.slug, "votes": line.votes, "percent": line.percent} for line in outcome.split],
                "community_now": {
                    "source": outcome.community.source,
                    "figures": outcome.community.figures,
                },
            }
        )
    others = [
        (line, links.vote_url("", token, outcome.comparison_slug, line.slug))
        for line in outcome.split
        if not line.chosen
    ]
    return pages_of(request).render("voted.html", outcome=outcome, others=others, min_votes=MIN_VOTES)
