"""Schemathesis over the app's own OpenAPI description: generated requests never get a 5xx.

The examples per operation are bounded, so the run takes seconds. It runs on
SQLite with topics in the store, and a rate limit high enough that generated
subscriptions reach the validation and storage code rather than the limiter.
"""

from __future__ import annotations

import base64
import warnings

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from digest.content.models import Tool
from digest.settings import Settings
from digest.store import open_store, session_scope
from digest.web import create_app

MAX_EXAMPLES = 40


def webhook_public_key() -> str:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    return base64.b64encode(public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).decode()


@pytest.fixture
def api_schema(sqlite_url, tmp_path):
    engine = open_store(sqlite_url)
    with session_scope(engine) as session:
        for index, category in enumerate(("Developer Tools", "Video")):
            session.add(
                Tool(slug=f"t{index}", name=f"T{index}", category=category, tagline="", description="", pricing="")
            )
    # Every optional feature configured, so each route is exercised past its "not configured" answer.
    app = create_app(
        Settings(
            database_url=sqlite_url,
            outbox=tmp_path / "outbox",
            secret_key="fuzz-secret",
            subscribe_rate_limit="100000/minute",
            admin_token="fuzz-admin-token",
            webhook_public_key=webhook_public_key(),
        ),
        engine,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield schemathesis.openapi.from_asgi("/openapi.json", app)
    engine.dispose()


def test_no_generated_request_gets_a_server_error(api_schema):
    # Each operation gets its own bounded Hypothesis run. (schemathesis.pytest.from_fixture would
    # do the same, but does not work with the pytest this project uses.)
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {op.path for op in operations} >= {
        "/subscribe",
        "/confirm/{signed}",
        "/unsubscribe/{token}",
        "/preferences/{token}",
    }
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def no_server_error(case):
            case.call_and_validate(checks=[not_a_server_error])

        no_server_error()
