"""Settings, read once from the environment.

Every variable is documented in README.md ("Configuration"); a test keeps the two
in step. A malformed value raises ConfigError naming the variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from limits import parse

from digest.errors import ConfigError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _str(env, name, default):
    value = env.get(name)
    return default if value is None or value.strip() == "" else value.strip()


def _int(env, name, default, minimum=0):
    raw = _str(env, name, None)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(env, name, default, minimum=0.0, maximum=None):
    raw = _str(env, name, None)
    if raw is None:
        return default
    try:
        value = float(raw.rstrip("%")) / (100 if raw.endswith("%") else 1)
    except ValueError:
        raise ConfigError(f"{name} must be a number (or a percentage like 0.3%), got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        raise ConfigError(f"{name} must be between {minimum} and {maximum}, got {raw!r}")
    return value


def _zone(env, name, default):
    raw = _str(env, name, default)
    try:
        return ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{name} must be an IANA time zone such as Europe/Paris, got {raw!r}") from None


def _duration_hours(env, name, default):
    raw = _str(env, name, None)
    if raw is None:
        return default
    units = {"h": 1.0, "m": 1 / 60, "d": 24.0}
    try:
        if raw[-1].lower() in units:
            return float(raw[:-1]) * units[raw[-1].lower()]
        return float(raw)
    except (ValueError, IndexError):
        raise ConfigError(f"{name} must be a duration such as 24h, 90m or 2d, got {raw!r}") from None


def _clock(env, name, default):
    raw = _str(env, name, default)
    try:
        hour, minute = raw.split(":")
        return time(int(hour), int(minute))
    except ValueError:
        raise ConfigError(f"{name} must be a time of day as HH:MM, got {raw!r}") from None


def _rate(env, name, default):
    raw = _str(env, name, default)
    try:
        parse(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a rate such as 10/minute or 100/hour, got {raw!r}") from None
    return raw


def _folder(env, name):
    raw = _str(env, name, None)
    if raw is None:
        return None
    path = Path(raw).expanduser()
    if not path.is_dir():
        raise ConfigError(f"{name} must name a folder of templates (start one with: digest templates copy "
                          f"{raw}), but {raw!r} is {'a file' if path.exists() else 'not there'}")
    return path.resolve()


def default_database_url() -> str:
    return "sqlite:///" + str(Path.cwd() / "digest.db")


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=default_database_url)
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    newsletter_name: str = "Weekly AI Tool Verdicts"
    from_address: str = "verdicts@example.com"
    reply_to: str | None = None
    base_url: str = "http://127.0.0.1:8000"
    site_url: str = "https://verdicts.example.com"
    postal_address: str = "Weekly AI Tool Verdicts, 1 Example Street, 00000 Example City"
    secret_key: str = "dev-secret-change-me"
    subscribe_rate_limit: str = "10/minute"
    min_items: int = 1
    backend: str = "outbox"
    outbox: Path = field(default_factory=lambda: Path("outbox"))
    sendgrid_api_key: str | None = None
    sendgrid_api_url: str = "https://api.sendgrid.com"
    smtp_url: str | None = None
    max_errors: int = 100
    send_day: str = "monday"
    send_time: time = time(8, 0)
    catch_up_hours: float = 24.0
    admin_token: str | None = None
    webhook_public_key: str | None = None
    max_complaint_rate: float = 0.003
    max_bounce_rate: float = 0.05
    templates: Path | None = None  # the publisher's templates, read before the shipped ones

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        backend = _str(env, "DIGEST_BACKEND", "outbox").lower()
        if backend not in ("outbox", "sendgrid", "smtp"):
            raise ConfigError(f"DIGEST_BACKEND must be outbox, sendgrid or smtp, got {backend!r}")
        send_day = _str(env, "DIGEST_SEND_DAY", "monday").lower()
        if send_day not in WEEKDAYS:
            raise ConfigError(f"DIGEST_SEND_DAY must be a weekday name such as monday, got {send_day!r}")
        return cls(
            database_url=_str(env, "DIGEST_DATABASE_URL", default_database_url()),
            timezone=_zone(env, "DIGEST_TIMEZONE", "UTC"),
            newsletter_name=_str(env, "DIGEST_NEWSLETTER_NAME", cls.newsletter_name),
            from_address=_str(env, "DIGEST_FROM", cls.from_address),
            reply_to=_str(env, "DIGEST_REPLY_TO", None),
            base_url=_str(env, "DIGEST_BASE_URL", cls.base_url).rstrip("/"),
            site_url=_str(env, "DIGEST_SITE_URL", cls.site_url).rstrip("/"),
            postal_address=_str(env, "DIGEST_POSTAL_ADDRESS", cls.postal_address),
            secret_key=_str(env, "DIGEST_SECRET_KEY", cls.secret_key),
            subscribe_rate_limit=_rate(env, "DIGEST_SUBSCRIBE_RATE_LIMIT", cls.subscribe_rate_limit),
            min_items=_int(env, "DIGEST_MIN_ITEMS", 1, minimum=1),
            backend=backend,
            outbox=Path(_str(env, "DIGEST_OUTBOX", "outbox")),
            sendgrid_api_key=_str(env, "SENDGRID_API_KEY", None),
            sendgrid_api_url=_str(env, "SENDGRID_API_URL", cls.sendgrid_api_url).rstrip("/"),
            smtp_url=_str(env, "DIGEST_SMTP_URL", None),
            max_errors=_int(env, "DIGEST_MAX_ERRORS", 100, minimum=0),
            send_day=send_day,
            send_time=_clock(env, "DIGEST_SEND_TIME", "08:00"),
            catch_up_hours=_duration_hours(env, "DIGEST_CATCH_UP", 24.0),
            admin_token=_str(env, "DIGEST_ADMIN_TOKEN", None),
            webhook_public_key=_str(env, "SENDGRID_WEBHOOK_PUBLIC_KEY", None),
            max_complaint_rate=_float(env, "DIGEST_MAX_COMPLAINT_RATE", 0.003, 0.0, 1.0),
            max_bounce_rate=_float(env, "DIGEST_MAX_BOUNCE_RATE", 0.05, 0.0, 1.0),
            templates=_folder(env, "DIGEST_TEMPLATES"),
        )


# Every environment variable Settings.from_env reads; README.md documents each.
ENVIRONMENT_VARIABLES = (
    "DIGEST_DATABASE_URL", "DIGEST_TIMEZONE", "DIGEST_NEWSLETTER_NAME", "DIGEST_FROM",
    "DIGEST_REPLY_TO", "DIGEST_BASE_URL", "DIGEST_SITE_URL", "DIGEST_POSTAL_ADDRESS", "DIGEST_SECRET_KEY",
    "DIGEST_SUBSCRIBE_RATE_LIMIT",
    "DIGEST_MIN_ITEMS", "DIGEST_BACKEND", "DIGEST_OUTBOX", "SENDGRID_API_KEY",
    "SENDGRID_API_URL", "DIGEST_SMTP_URL", "DIGEST_MAX_ERRORS", "DIGEST_SEND_DAY",
    "DIGEST_SEND_TIME", "DIGEST_CATCH_UP", "DIGEST_ADMIN_TOKEN",
    "SENDGRID_WEBHOOK_PUBLIC_KEY", "DIGEST_MAX_COMPLAINT_RATE", "DIGEST_MAX_BOUNCE_RATE",
    "DIGEST_TEMPLATES",
)
assert len(fields(Settings)) == len(ENVIRONMENT_VARIABLES)
