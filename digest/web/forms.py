"""Reading a reader's submission: a JSON object or form fields, as one plain mapping.

Form fields with one value become a string and with several a list (`topics`
is always a list). Anything else (another content type, broken JSON, a file
upload) is a ClientError that says what was expected.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request

from digest.web.errors import ClientError
from digest.web.negotiate import FORM_TYPES, JSON, media_type
from subscribers.validation import shown

LIST_FIELDS = ("topics",)


async def read_fields(request: Request, what: str) -> tuple[dict[str, Any], str]:
    """(fields, "json" | "form"). `what` names the submission in messages ("the subscription")."""
    media = media_type(request)
    if media == JSON:
        body = await request.body()
        try:
            data = json.loads(body) if body.strip() else None
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise ClientError(400, f"The body is not valid JSON: {shown(str(exc), 120)}", field="body") from None
        if not isinstance(data, dict):
            raise ClientError(
                422, f'Send {what} as a JSON object, such as {{"email": "you@example.com"}}.', field="body"
            )
        return data, "json"
    if media in FORM_TYPES:
        form = await request.form()
        fields: dict[str, Any] = {}
        for key in form.keys():
            values = form.getlist(key)
            if any(isinstance(value, UploadFile) for value in values):
                raise ClientError(422, "files are not accepted", field=shown(key))
            fields[key] = values if key in LIST_FIELDS or len(values) > 1 else values[0]
        return fields, "form"
    given = shown(media) if media else "no Content-Type"
    raise ClientError(
        415,
        f"Send {what} as JSON (Content-Type: application/json) or as a form "
        f"(application/x-www-form-urlencoded); got {given}.",
        field="Content-Type",
    )


def printable(value: Any, limit: int = 320) -> str:
    """A submitted value safe to show back in a form field: text only, no control characters."""
    if isinstance(value, list):
        value = value[0] if value else ""
    if not isinstance(value, str):
        return ""
    return "".join(ch for ch in value[:limit] if unicodedata.category(ch)[0] != "C" or ch == " ")
