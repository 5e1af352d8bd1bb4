"""/desk/editions/N/preview: each variant as readers get it, at phone and desktop width, its text part,
and a test send to the editor's own address.

    GET  /desk/editions/N/preview?variant=K         the page: variants, two frames, the text part
    GET  /desk/editions/N/preview/frame?variant=K   the email's HTML alone, for the frames
    POST /desk/editions/N/test                      send a test of variant K to an address (editors)

The preview is digest.render.preview's (the same Letter readers get, with a sample reader's links); the
test send is `digest editions send-test`'s. The frame's document keeps the email's inline styles, loads
nothing from elsewhere (images: this site and data: only), and may be framed by the desk alone.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from digest.editors import audit
from digest.editors.roles import Action
from digest.errors import DeliveryError
from digest.mail import make_sender
from digest.render.preview import preview, send_test
from digest.store import session_scope
from digest.web.deps import engine_of, pages_of, settings_of
from digest.web.desk import session as desk_session
from digest.web.errors import ClientError
from digest.web.headers import SECURITY_HEADERS

router = APIRouter(tags=["desk"])
PAGE_CSP = dict(SECURITY_HEADERS)[b"content-security-policy"].decode() + "; frame-src 'self'"
FRAME_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'none'; "
    "frame-ancestors 'self'; base-uri 'none'"
)
WIDTHS = (("Phone", 375), ("Desktop", 620))


def _variant(request: Request) -> int | None:
    given = request.query_params.get("variant")
    if given in (None, "", "0"):
        return None
    if not given.isdigit() or len(given) > 4:
        raise ClientError(422, "variant must be a variant's number, such as 2", field="variant")
    return int(given)


def _preview(request: Request, number: int, variant: int | None):
    with session_scope(engine_of(request)) as session:
        return preview(session, settings_of(request), number=number, variant=variant, count_readers=True)


@router.get("/desk/editions/{number}/preview", summary="An edition's variants at phone and desktop width (editors)")
def preview_page(request: Request, number: desk_session.EditionNumber) -> Response:
    desk = desk_session.require(request)
    if isinstance(desk, Response):
        return desk
    variant = _variant(request)
    result = _preview(request, number, variant)
    return pages_of(request).render(
        "desk/preview.html",
        desk=desk,
        number=number,
        result=result,
        variant=variant,
        widths=WIDTHS,
        test_sent=request.query_params.get("tested") == "yes",
        headers={"Content-Security-Policy": PAGE_CSP},
    )


@router.get("/desk/editions/{number}/preview/frame", summary="An edition's email HTML, for the desk's frames")
def preview_frame(request: Request, number: desk_session.EditionNumber) -> Response:
    desk = desk_session.require(request)
    if isinstance(desk, Response):
        return desk
    result = _preview(request, number, _variant(request))
    return HTMLResponse(
        result.html,
        headers={"Content-Security-Policy": FRAME_CSP, "X-Frame-Options": "SAMEORIGIN"},
    )


@router.post("/desk/editions/{number}/test", summary="Send a test of an edition's variant to one address (editors)")
async def test_send(request: Request, number: desk_session.EditionNumber) -> Response:
    desk, fields = await desk_session.desk_form(request, "the test send")
    given = fields.get("address")
    try:
        address = validate_email(given if isinstance(given, str) else "", check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ClientError(422, f"Your address: {exc}", field="address") from None
    variant = fields.get("variant")
    variant = int(variant) if isinstance(variant, str) and variant.isdigit() and variant != "0" else None
    settings = settings_of(request)

    def run() -> None:
        result = _preview(request, number, variant)
        sender = make_sender(settings)
        outcome = send_test(result, sender, address, settings.base_url)
        if address not in outcome.accepted:
            reason = outcome.rejected.get(address, "no reason given")
            raise DeliveryError(f"the {sender.name} sender did not take {address}: {reason}")
        with request.app.state.writes.session() as session:
            which = f"variant {variant}" if variant else "the whole edition"
            audit.record(session, desk.name, Action.TEST_SEND, edition=number, detail=f"{which} to {address}")

    await run_in_threadpool(run)
    back = f"/desk/editions/{number}/preview?tested=yes" + (f"&variant={variant}" if variant else "")
    return RedirectResponse(back, status_code=303)
