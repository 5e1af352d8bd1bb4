"""A SendGrid-compatible mail/send server on loopback, for tests.

It checks every POST /v3/mail/send against SendGrid's own OpenAPI description
(../shared/sendgrid/tsg_mail_v3.json, from twilio/sendgrid-oai; with jsonschema) and against the limits
SendGrid documents but the description does not encode: 1000 recipients per
request, 30 MB per request, 10,000 bytes of substitutions and of custom args
per personalization, string header and custom-arg values, headers it will not
let you set, text/plain before text/html, a subject somewhere, send_at at most
72 h ahead. `tracking_settings` is checked strictly: the description types each
setting but lets unknown keys through, and SendGrid ignores a misspelt one (so the
account's tracking would apply); here an unknown key is refused. A request
that passes is recorded and answered 202 with an X-Message-Id; one that fails gets SendGrid's error shape, 400
`{"errors": [{"message", "field", "help"}]}`.

Faults, for the next N requests (or for given addresses):

    server.rate_limit(times=1, reset_in=1.0)   429 with X-RateLimit-Reset (Unix seconds)
    server.fail(times=1, status=500)           any status, SendGrid's error body
    server.reject({"bad@example.com"})         400 naming each personalization with that address
    server.hang(times=1, seconds=5)            records the message, then answers only after `seconds`
    server.delay = 0.05                        every accepted request takes this long (a slow provider)
    server.drop(times=1, record=True)          reads the request (records it), closes without answering

In a test:

    with SendGridServer(api_key="test-key") as server:
        ... SENDGRID_API_URL=server.url ...
        server.recipients()   # every (address, personalization) accepted, in order

From a shell (for someone else's end-to-end test): `python tests/sendgrid_server.py --port 8025`.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jsonschema

# SendGrid's own description (twilio/sendgrid-oai spec/json/tsg_mail_v3.json), in ../shared beside the checkout.
SPEC = Path(__file__).resolve().parent.parent.parent / "shared" / "sendgrid" / "tsg_mail_v3.json"
MAX_BODY = 30 * 1024 * 1024
MAX_RECIPIENTS = 1000
MAX_PERSONALIZATION_BYTES = 10_000
RESERVED_HEADERS = {
    "x-sg-id",
    "x-sg-eid",
    "received",
    "dkim-signature",
    "content-type",
    "content-transfer-encoding",
    "to",
    "from",
    "subject",
    "reply-to",
    "cc",
    "bcc",
}
SCHEMA_POINTER = "#/components/requestBodies/PostMailSend/content/application~1json/schema"


def spec_path() -> Path:
    if SPEC.exists():
        return SPEC
    raise FileNotFoundError(f"SendGrid's OpenAPI description is not at {SPEC}")


def spec_available() -> bool:
    """Whether the official description is beside the checkout. In CI (DIGEST_REQUIRE_SERVICES=1) it must be."""
    if SPEC.exists():
        return True
    if os.environ.get("DIGEST_REQUIRE_SERVICES") == "1":
        raise FileNotFoundError(f"SendGrid's OpenAPI description is required in CI but is not at {SPEC}")
    return False


def mail_send_schema() -> dict:
    """The official description as one JSON Schema whose root is the mail/send request body.

    Draft 7 ignores keywords beside a root `$ref`, so the whole document rides
    along and its internal `#/components/...` references resolve as written.
    """
    spec = json.loads(spec_path().read_text())
    return {**spec, "$ref": SCHEMA_POINTER}


class MailSendValidator:
    """jsonschema (the reference) judges; jsonschema-rs, when installed, screens first because it is
    ~60x faster on a 1000-reader request. Only a request the screen refuses is explained by jsonschema,
    and a test checks that the two agree."""

    def __init__(self):
        schema = mail_send_schema()
        self.reference = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
        try:
            import jsonschema_rs

            self.fast = jsonschema_rs.Draft7Validator(schema, validate_formats=True)
        except ImportError:
            self.fast = None

    def errors(self, body: object) -> list[dict]:
        if self.fast is not None and self.fast.is_valid(body):
            return []
        return [
            _error(e.message, ".".join(str(p) for p in e.absolute_path) or None)
            for e in self.reference.iter_errors(body)
        ]


def mail_send_validator() -> MailSendValidator:
    return MailSendValidator()


def _error(message: str, field: str | None = None) -> dict:
    return {"message": message, "field": field, "help": "https://docs.sendgrid.com/api-reference/mail-send"}


def documented_limits(body: dict) -> list[dict]:
    """The rules of mail/send that the OpenAPI description does not state."""
    errors = []
    personalizations = body.get("personalizations") or []
    recipients = sum(len(p.get(k) or []) for p in personalizations for k in ("to", "cc", "bcc"))
    if recipients > MAX_RECIPIENTS:
        errors.append(
            _error(
                f"The total number of recipients must be no more than {MAX_RECIPIENTS}, got {recipients}.",
                "personalizations",
            )
        )
    has_subject = bool(body.get("subject"))
    for i, p in enumerate(personalizations):
        where = f"personalizations.{i}"
        if not p.get("to"):
            errors.append(
                _error(
                    "The to array is required for all personalization objects, "
                    "and must have at least one email object with a valid email address.",
                    f"{where}.to",
                )
            )
        substitutions = p.get("substitutions") or {}
        size = sum(len(str(k).encode()) + len(str(v).encode()) for k, v in substitutions.items())
        if size > MAX_PERSONALIZATION_BYTES:
            errors.append(
                _error(
                    f"The substitutions may not exceed {MAX_PERSONALIZATION_BYTES} bytes per "
                    f"personalization, got {size}.",
                    f"{where}.substitutions",
                )
            )
        custom_args = p.get("custom_args") or {}
        if len(json.dumps(custom_args).encode()) > MAX_PERSONALIZATION_BYTES:
            errors.append(_error("The custom arguments may not exceed 10,000 bytes.", f"{where}.custom_args"))
        if any(not isinstance(v, str) for v in custom_args.values()):
            errors.append(_error("Custom argument values must be strings.", f"{where}.custom_args"))
        errors += _header_errors(p.get("headers") or {}, f"{where}.headers")
        if not has_subject and not p.get("subject"):
            errors.append(
                _error(
                    "The subject is required. You can get around this requirement if you use a "
                    "template with a subject defined or if every personalization has a subject "
                    "defined.",
                    "subject",
                )
            )
        if p.get("send_at") and p["send_at"] > time.time() + 72 * 3600:
            errors.append(_error("send_at may be at most 72 hours in the future.", f"{where}.send_at"))
    errors += _header_errors(body.get("headers") or {}, "headers")
    content = body.get("content") or []
    if not content and not body.get("template_id"):
        errors.append(_error("Unless a valid template_id is provided, the content parameter is required.", "content"))
    types = [c.get("type") for c in content]
    if "text/plain" in types and types.index("text/plain") != 0:
        errors.append(_error("If present, text/plain content must be first, followed by any other content.", "content"))
    if isinstance(body.get("send_at"), int) and body["send_at"] > time.time() + 72 * 3600:
        errors.append(_error("send_at may be at most 72 hours in the future.", "send_at"))
    if "tracking_settings" in body:
        errors += _tracking_errors(body["tracking_settings"])
    return errors


# The tracking settings the description names, each with its own keys (tsg_mail_v3.json).
TRACKING_KEYS = {
    "click_tracking": {"enable", "enable_text"},
    "open_tracking": {"enable", "substitution_tag"},
    "subscription_tracking": {"enable", "text", "html", "substitution_tag"},
    "ganalytics": {"enable", "utm_source", "utm_medium", "utm_term", "utm_content", "utm_campaign"},
}


def _tracking_errors(tracking: object) -> list[dict]:
    if not isinstance(tracking, dict):
        return []  # the description's type check names it
    errors = []
    for name, value in tracking.items():
        if name not in TRACKING_KEYS:
            errors.append(_error(f"Unknown tracking setting {name}.", f"tracking_settings.{name}"))
        elif isinstance(value, dict):
            errors += [
                _error(f"Unknown key {key} in {name}.", f"tracking_settings.{name}.{key}")
                for key in value
                if key not in TRACKING_KEYS[name]
            ]
    return errors


def _header_errors(headers: dict, where: str) -> list[dict]:
    errors = []
    for name, value in headers.items():
        if name.lower() in RESERVED_HEADERS:
            errors.append(_error(f"The header {name} may not be set here.", f"{where}.{name}"))
        if not isinstance(value, str):
            errors.append(_error("Header values must be strings.", f"{where}.{name}"))
    return errors


def validate(body: object, validator=None) -> list[dict]:
    """SendGrid-shaped errors for a request body; [] when SendGrid would accept it.

    Without the official description (a bare clone), only the documented limits are checked."""
    errors = validator.errors(body) if validator is not None else []
    if not errors and isinstance(body, dict):
        errors = documented_limits(body)
    return errors


@dataclass
class _Faults:
    rate_limits: list[float] = field(default_factory=list)  # reset_in per coming request
    failures: list[int] = field(default_factory=list)
    hangs: list[float] = field(default_factory=list)
    drops: list[bool] = field(default_factory=list)
    rejected: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Accepted:
    message_id: str
    body: dict


class SendGridServer:
    def __init__(self, api_key: str = "test-key", host: str = "127.0.0.1", port: int = 0, *, validate: bool = True):
        self.api_key = api_key
        self.validate = validate
        # The official description judges every request when it is beside the checkout (always in CI).
        self.validator = mail_send_validator() if spec_available() else None
        self.accepted: list[Accepted] = []
        self.refused: list[tuple[int, dict | None]] = []  # (status, body) of requests answered 4xx/5xx
        self.requests = 0
        self.arrivals: list[float] = []  # time.time() of each request
        self.peers: list[tuple[str, int]] = []  # the client address of each request: one port = one connection
        self.delay = 0.0  # seconds every accepted request takes (a slow provider)
        self.faults = _Faults()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self.httpd = ThreadingHTTPServer((host, port), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://{host}:{self.httpd.server_address[1]}"
        self._thread: threading.Thread | None = None

    # -- faults ----------------------------------------------------------------------------------

    def rate_limit(self, times: int = 1, reset_in: float = 1.0) -> None:
        with self._lock:
            self.faults.rate_limits += [reset_in] * times

    def fail(self, times: int = 1, status: int = 500) -> None:
        with self._lock:
            self.faults.failures += [status] * times

    def reject(self, addresses) -> None:
        with self._lock:
            self.faults.rejected |= {a.lower() for a in addresses}

    def hang(self, times: int = 1, seconds: float = 5.0) -> None:
        with self._lock:
            self.faults.hangs += [seconds] * times

    def drop(self, times: int = 1, record: bool = True) -> None:
        with self._lock:
            self.faults.drops += [record] * times

    # -- what was accepted -----------------------------------------------------------------------

    def recipients(self) -> list[tuple[str, dict]]:
        with self._lock:
            return [(to["email"], p) for a in self.accepted for p in a.body["personalizations"] for to in p["to"]]

    def counts(self) -> Counter:
        return Counter(address for address, _ in self.recipients())

    # -- running ---------------------------------------------------------------------------------

    def start(self) -> SendGridServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> SendGridServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _answer(self, status: int, payload: dict | None = None, headers: dict | None = None) -> None:
                data = json.dumps(payload).encode() if payload is not None else b""
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                if data:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                if status >= 400:
                    with server._lock:
                        server.refused.append((status, payload))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self.close_connection = True
                    return self._answer(413, {"errors": [_error("The request is larger than 30 MB.")]})
                raw = self.rfile.read(length)
                with server._lock:
                    server.requests += 1
                    server.arrivals.append(time.time())
                    server.peers.append(self.client_address)
                if self.path != "/v3/mail/send":
                    return self._answer(404, {"errors": [_error(f"{self.path} is not a known endpoint")]})
                if self.headers.get("Authorization") != f"Bearer {server.api_key}":
                    return self._answer(
                        401,
                        {"errors": [_error("The provided authorization grant is invalid, expired, or revoked", None)]},
                    )
                with server._lock:
                    f = server.faults
                    reset_in = f.rate_limits.pop(0) if f.rate_limits else None
                    status = f.failures.pop(0) if (reset_in is None and f.failures) else None
                if reset_in is not None:
                    reset = int(time.time() + reset_in + 0.999)
                    return self._answer(
                        429,
                        {"errors": [_error("too many requests")]},
                        {"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
                    )
                if status is not None:
                    return self._answer(status, {"errors": [_error(f"injected failure {status}")]})
                try:
                    body = json.loads(raw)
                except ValueError:
                    return self._answer(400, {"errors": [_error("Bad Request: the body is not JSON")]})
                errors = validate(body, server.validator) if server.validate else []
                if not errors and server.faults.rejected:
                    errors = [
                        _error("Does not contain a valid address.", f"personalizations.{i}.to.{j}.email")
                        for i, p in enumerate(body["personalizations"])
                        for j, to in enumerate(p["to"])
                        if to["email"].lower() in server.faults.rejected
                    ]
                if errors:
                    return self._answer(400, {"errors": errors})
                message_id = uuid.uuid4().hex[:22]
                with server._lock:
                    hang = f.hangs.pop(0) if f.hangs else None
                    drop = f.drops.pop(0) if (hang is None and f.drops) else None
                    if drop is not False:
                        server.accepted.append(Accepted(message_id, body))
                if drop is not None:
                    self.close_connection = True
                    self.connection.close()
                    return
                if hang is not None or server.delay:
                    server._closing.wait(hang if hang is not None else server.delay)
                self._answer(202, None, {"X-Message-Id": message_id})

        return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--api-key", default="test-key")
    args = parser.parse_args()
    server = SendGridServer(args.api_key, args.host, args.port)
    print(f"SendGrid-compatible server on {server.url} (API key {args.api_key!r}); Ctrl-C stops it", flush=True)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
