"""Settings, read once from the environment.

Every variable is documented in README.md ("Configuration"); a test keeps the two
in step. Every value is checked when it is read: a malformed one raises
ConfigError naming the variable, which a command prints as one `Error:` line.
Numbers must be finite (`nan` or `inf` would switch a limit off silently), text
that ends up in a header or a file name has no control characters.
"""

from __future__ import annotations

import ipaddress
import math
import os
import unicodedata
from dataclasses import dataclass, field, fields
from datetime import time
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from limits import parse

from digest.errors import ConfigError

DEFAULT_SECRET_KEY = "dev-secret-change-me"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _str(env, name, default, *, multiline=False):
    value = env.get(name)
    if value is None or value.strip() == "":
        return default
    value = value.strip()
    bad = next(
        (ch for ch in value if unicodedata.category(ch) in ("Cc", "Cs") and not (multiline and ch == "\n")), None
    )
    if bad is not None:
        raise ConfigError(
            f"{name} contains the control character U+{ord(bad):04X}; "
            + ("only line breaks are allowed" if multiline else "it must be one line of text")
        )
    return value


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
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {raw!r}")
    if value < minimum or (maximum is not None and value > maximum):
        raise ConfigError(f"{name} must be between {minimum} and {maximum}, got {raw!r}")
    return value


def _zone(env, name, default):
    raw = _str(env, name, default)
    try:
        return ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{name} must be an IANA time zone such as Europe/Paris, got {raw!r}") from None


def _duration_hours(env, name, default, maximum):
    raw = _str(env, name, None)
    if raw is None:
        return default
    units = {"h": 1.0, "m": 1 / 60, "d": 24.0}
    try:
        if raw[-1].lower() in units:
            hours = float(raw[:-1]) * units[raw[-1].lower()]
        else:
            hours = float(raw)
    except (ValueError, IndexError):
        raise ConfigError(f"{name} must be a duration such as 24h, 90m or 2d, got {raw!r}") from None
    if not math.isfinite(hours) or not 0 <= hours <= maximum:
        raise ConfigError(f"{name} must be a duration from 0h to {maximum:g}h, such as 24h, 90m or 2d, got {raw!r}")
    return hours


def _seconds(env, name, default, maximum):
    raw = _str(env, name, None)
    if raw is None:
        return default
    try:
        value = float(raw.removesuffix("s"))
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds such as 30, got {raw!r}") from None
    if not math.isfinite(value) or not 0 < value <= maximum:
        raise ConfigError(f"{name} must be more than 0 and at most {maximum:g} seconds, got {raw!r}")
    return value


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
        amount = parse(raw).amount
    except ValueError:
        raise ConfigError(f"{name} must be a rate such as 10/minute or 100/hour, got {raw!r}") from None
    if amount < 1:
        raise ConfigError(f"{name} must allow at least one attempt, such as 10/minute, got {raw!r}")
    return raw


def _address(env, name, default):
    raw = _str(env, name, default)
    if raw is None:
        return None
    try:
        validate_email(raw, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ConfigError(f"{name} must be an email address such as news@example.com, got {raw!r}: {exc}") from None
    return raw


def _url(env, name, default):
    raw = _str(env, name, default).rstrip("/")
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018  a port that is not a number raises here
    except ValueError as exc:
        raise ConfigError(f"{name} is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name} must be an http:// or https:// URL with a host, got {raw!r}")
    return raw


def check_proxies(name: str, raw: str | None) -> str | None:
    """A list of trusted proxies: IP addresses or networks, comma-separated (uvicorn's
    forwarded_allow_ips), or `*` for any (only when nothing else can reach the port)."""
    if raw is None or not raw.strip():
        return None
    for item in (part.strip() for part in raw.split(",")):
        if item == "*":
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ConfigError(
                f"{name} must list IP addresses or networks separated by commas, such as "
                f"127.0.0.1 or 10.0.0.0/8, got {item[:60]!r}"
            ) from None
    return ",".join(part.strip() for part in raw.split(","))


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _base_url(env, name, default):
    """Every link a reader gets starts here, List-Unsubscribe included, which mailbox providers
    want over https. Plain http is for a machine talking to itself (development, tests)."""
    try:
        raw = _url(env, name, default)
    except ConfigError:
        raw = _str(env, name, default)
        raise ConfigError(
            f"{name} must be an http:// or https:// URL with a host (it must be an address such as "
            f"https://news.example.com), got {raw!r}"
        ) from None
    if urlsplit(raw).scheme == "http" and not is_loopback(raw):
        raise ConfigError(
            f"{name} must start with https:// (mailbox providers want one-click unsubscribe links "
            f"over https), got {raw!r}; plain http is only for a loopback address such as "
            f"http://127.0.0.1:8000"
        )
    return raw


def _folder(env, name):
    raw = _str(env, name, None)
    if raw is None:
        return None
    path = Path(raw).expanduser()
    if not path.is_dir():
        raise ConfigError(
            f"{name} must name a folder of templates (start one with: digest templates copy "
            f"{raw}), but {raw!r} is {'a file' if path.exists() else 'not there'}"
        )
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
    secret_key: str = DEFAULT_SECRET_KEY
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
    forwarded_allow_ips: str | None = None
    lock_timeout: float = 30.0
    templates: Path | None = None  # the publisher's templates, read before the shipped ones

    def refuse_default_secret(self, command: str) -> None:
        """`serve` and `scheduler run` sign readers' links: the default key is public, so only a
        server nobody else can reach (a loopback base URL) may run with it."""
        if self.secret_key == DEFAULT_SECRET_KEY and not is_loopback(self.base_url):
            raise ConfigError(
                f"DIGEST_SECRET_KEY is still the default, which anyone can read in digest's "
                f"source, and DIGEST_BASE_URL ({self.base_url}) is not this machine: `{command}` "
                "will not sign readers' links with it. Set DIGEST_SECRET_KEY to a long random "
                "value, e.g. the output of: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
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
            from_address=_address(env, "DIGEST_FROM", cls.from_address),
            reply_to=_address(env, "DIGEST_REPLY_TO", None),
            base_url=_base_url(env, "DIGEST_BASE_URL", cls.base_url),
            site_url=_url(env, "DIGEST_SITE_URL", cls.site_url),
            postal_address=_str(env, "DIGEST_POSTAL_ADDRESS", cls.postal_address, multiline=True),
            secret_key=_str(env, "DIGEST_SECRET_KEY", cls.secret_key),
            subscribe_rate_limit=_rate(env, "DIGEST_SUBSCRIBE_RATE_LIMIT", cls.subscribe_rate_limit),
            min_items=_int(env, "DIGEST_MIN_ITEMS", 1, minimum=1),
            backend=backend,
            outbox=Path(_str(env, "DIGEST_OUTBOX", "outbox")),
            sendgrid_api_key=_str(env, "SENDGRID_API_KEY", None),
            sendgrid_api_url=_url(env, "SENDGRID_API_URL", cls.sendgrid_api_url),
            smtp_url=_str(env, "DIGEST_SMTP_URL", None),
            max_errors=_int(env, "DIGEST_MAX_ERRORS", 100, minimum=0),
            send_day=send_day,
            send_time=_clock(env, "DIGEST_SEND_TIME", "08:00"),
            catch_up_hours=_duration_hours(env, "DIGEST_CATCH_UP", 24.0, maximum=7 * 24),
            admin_token=_str(env, "DIGEST_ADMIN_TOKEN", None),
            webhook_public_key=_str(env, "SENDGRID_WEBHOOK_PUBLIC_KEY", None, multiline=True),
            max_complaint_rate=_float(env, "DIGEST_MAX_COMPLAINT_RATE", 0.003, 0.0, 1.0),
            max_bounce_rate=_float(env, "DIGEST_MAX_BOUNCE_RATE", 0.05, 0.0, 1.0),
            forwarded_allow_ips=check_proxies(
                "DIGEST_FORWARDED_ALLOW_IPS", _str(env, "DIGEST_FORWARDED_ALLOW_IPS", None)
            ),
            lock_timeout=_seconds(env, "DIGEST_LOCK_TIMEOUT", 30.0, maximum=3600),
            templates=_folder(env, "DIGEST_TEMPLATES"),
        )


# Every environment variable Settings.from_env reads; README.md documents each.
ENVIRONMENT_VARIABLES = (
    "DIGEST_DATABASE_URL",
    "DIGEST_TIMEZONE",
    "DIGEST_NEWSLETTER_NAME",
    "DIGEST_FROM",
    "DIGEST_REPLY_TO",
    "DIGEST_BASE_URL",
    "DIGEST_SITE_URL",
    "DIGEST_POSTAL_ADDRESS",
    "DIGEST_SECRET_KEY",
    "DIGEST_SUBSCRIBE_RATE_LIMIT",
    "DIGEST_MIN_ITEMS",
    "DIGEST_BACKEND",
    "DIGEST_OUTBOX",
    "SENDGRID_API_KEY",
    "SENDGRID_API_URL",
    "DIGEST_SMTP_URL",
    "DIGEST_MAX_ERRORS",
    "DIGEST_SEND_DAY",
    "DIGEST_SEND_TIME",
    "DIGEST_CATCH_UP",
    "DIGEST_ADMIN_TOKEN",
    "SENDGRID_WEBHOOK_PUBLIC_KEY",
    "DIGEST_MAX_COMPLAINT_RATE",
    "DIGEST_MAX_BOUNCE_RATE",
    "DIGEST_FORWARDED_ALLOW_IPS",
    "DIGEST_LOCK_TIMEOUT",
    "DIGEST_TEMPLATES",
)
assert len(fields(Settings)) == len(ENVIRONMENT_VARIABLES)
