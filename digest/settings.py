"""Settings, read once from the environment, each defined once in SETTINGS.

A row of SETTINGS says everything about one setting: the attribute on Settings,
the environment variable, how its text is read and checked, the default (as an
operator would write it), whether it is a secret, and one line of help. From the
table come the Settings dataclass and its defaults, `Settings.from_env`,
`digest config show` (every value and where it came from) and README.md's
configuration table (`digest config show --markdown`; a test keeps them equal).
The values come from the environment, over an environment file if one is named
(`--env-file`, DIGEST_ENV_FILE: `load_environment`).
(datasette's SETTINGS is the model.)

Every value is checked when it is read: a malformed one raises ConfigError
naming the variable, which a command prints as one `Error:` line. Numbers must
be finite (`nan` or `inf` would switch a limit off silently), text that ends up
in a header or a file name has no control characters.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, make_dataclass
from datetime import time
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from limits import parse

from digest.errors import ConfigError

ENV_FILE = "DIGEST_ENV_FILE"  # names an environment file to read, as --env-file does (not a setting itself)
DEFAULT_SECRET_KEY = "dev-secret-change-me"
MIN_SECRET_LENGTH = 32  # characters of DIGEST_SECRET_KEY and DIGEST_ADMIN_TOKEN, on a public base URL
PLACEHOLDER_DOMAINS = ("example.com", "example.org", "example.net")  # reserved for examples (RFC 2606)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

# The senders DIGEST_BACKEND may name, each as "module:class" (imported only when chosen, by
# digest.mail.make_sender; the class builds itself with `from_settings(settings)`). The one list of
# them: the check of DIGEST_BACKEND, its help and make_sender all read it. (Django's EMAIL_BACKEND
# and get_connection are the model.)
SENDERS = {
    "outbox": "digest.mail.outbox:OutboxSender",
    "sendgrid": "digest.mail.sendgrid:SendGridSender",
    "smtp": "digest.mail.smtp:SmtpSender",
    "memory": "digest.mail.memory:MemorySender",
}


def _words(names) -> str:
    """("a", "b", "c") -> "a, b or c"."""
    names = list(names)
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else "".join(names)


# -- readers: (variable, text) -> value; the text is stripped, never empty, free of control characters ----


def _plain(name: str, raw: str) -> str:
    return raw


def _backend(name: str, raw: str) -> str:
    value = raw.lower()
    if value not in SENDERS:
        raise ConfigError(f"{name} must be {_words(SENDERS)}, got {value!r}")
    return value


def _weekday(name: str, raw: str) -> str:
    value = raw.lower()
    if value not in WEEKDAYS:
        raise ConfigError(f"{name} must be a weekday name such as monday, got {value!r}")
    return value


_SWITCH = {"on": True, "yes": True, "true": True, "1": True, "off": False, "no": False, "false": False, "0": False}


def _switch(name: str, raw: str) -> bool:
    value = _SWITCH.get(raw.lower())
    if value is None:
        raise ConfigError(f"{name} must be on or off, got {raw!r}")
    return value


def _off_or_at_least(minimum: int) -> Callable[[str, str], int | None]:
    """`off` (None) or a whole number of at least `minimum`."""
    number = _at_least(minimum)

    def read(name: str, raw: str) -> int | None:
        if raw.strip().lower() == "off":
            return None
        try:
            return number(name, raw)
        except ConfigError:
            raise ConfigError(f"{name} must be off or a whole number of at least {minimum}, got {raw!r}") from None

    return read


def sender_path(backend: str) -> str:
    """The "module:class" of the sender named `backend`; ConfigError, as DIGEST_BACKEND's check says it,
    for a name not registered."""
    return SENDERS[_backend("DIGEST_BACKEND", backend)]


def _at_least(minimum: int) -> Callable[[str, str], int]:
    def read(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
        if value < minimum:
            raise ConfigError(f"{name} must be at least {minimum}, got {value}")
        return value

    return read


def _share(name: str, raw: str) -> float:
    """A number from 0 to 1, or a percentage such as 0.3%."""
    minimum, maximum = 0.0, 1.0
    try:
        value = float(raw.rstrip("%")) / (100 if raw.endswith("%") else 1)
    except ValueError:
        raise ConfigError(f"{name} must be a number (or a percentage like 0.3%), got {raw!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {raw!r}")
    if value < minimum or value > maximum:
        raise ConfigError(f"{name} must be between {minimum} and {maximum}, got {raw!r}")
    return value


def _language(name: str, raw: str) -> str:
    """An IETF BCP 47 language tag (langcodes checks it against the IANA registry), written the standard way."""
    from digest.language import standard_tag  # the one check, shared with the import format

    try:
        return standard_tag(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} {exc}") from None


def _zone(name: str, raw: str) -> ZoneInfo:
    try:
        return ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{name} must be an IANA time zone such as Europe/Paris, got {raw!r}") from None


def _hours(maximum: float) -> Callable[[str, str], float]:
    def read(name: str, raw: str) -> float:
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

    return read


def _seconds(maximum: float) -> Callable[[str, str], float]:
    def read(name: str, raw: str) -> float:
        try:
            value = float(raw.removesuffix("s"))
        except ValueError:
            raise ConfigError(f"{name} must be a number of seconds such as 30, got {raw!r}") from None
        if not math.isfinite(value) or not 0 < value <= maximum:
            raise ConfigError(f"{name} must be more than 0 and at most {maximum:g} seconds, got {raw!r}")
        return value

    return read


def _clock(name: str, raw: str) -> time:
    try:
        hour, minute = raw.split(":")
        return time(int(hour), int(minute))
    except ValueError:
        raise ConfigError(f"{name} must be a time of day as HH:MM, got {raw!r}") from None


def _rate(name: str, raw: str) -> str:
    try:
        amount = parse(raw).amount
    except ValueError:
        raise ConfigError(f"{name} must be a rate such as 10/minute or 100/hour, got {raw!r}") from None
    if amount < 1:
        raise ConfigError(f"{name} must allow at least one attempt, such as 10/minute, got {raw!r}")
    return raw


def _address(name: str, raw: str) -> str:
    try:
        validate_email(raw, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ConfigError(f"{name} must be an email address such as news@example.com, got {raw!r}: {exc}") from None
    return raw


def _url(name: str, raw: str) -> str:
    raw = raw.rstrip("/")
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


def _base_url(name: str, raw: str) -> str:
    """Every link a reader gets starts here, List-Unsubscribe included, which mailbox providers
    want over https. Plain http is for a machine talking to itself (development, tests)."""
    try:
        url = _url(name, raw)
    except ConfigError:
        raise ConfigError(
            f"{name} must be an http:// or https:// URL with a host (it must be an address such as "
            f"https://news.example.com), got {raw!r}"
        ) from None
    parts = urlsplit(url)
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise ConfigError(
            f"{name} must be an address with no query (?...) or fragment (#...): every link is built by adding "
            f"a path to it, got {url!r}; use e.g. https://news.example.com or https://example.com/news"
        )
    if parts.scheme == "http" and not is_loopback(url):
        raise ConfigError(
            f"{name} must start with https:// (mailbox providers want one-click unsubscribe links "
            f"over https), got {url!r}; plain http is only for a loopback address such as "
            f"http://127.0.0.1:8000"
        )
    return url


def _folder(name: str, raw: str) -> Path:
    path = Path(raw).expanduser()
    if not path.is_dir():
        raise ConfigError(
            f"{name} must name a folder of templates (start one with: digest templates copy "
            f"{raw}), but {raw!r} is {'a file' if path.exists() else 'not there'}"
        )
    return path.resolve()


def _path(name: str, raw: str) -> Path:
    return Path(raw)


def default_database_url() -> str:
    return "sqlite:///" + str(Path.cwd() / "digest.db")


# -- how a value is shown by `digest config show` ---------------------------------------------------


def _hidden(value: Any) -> str:
    return "********"


def _without_password(value: Any) -> str:
    """A URL with its password (if any) masked: postgresql://digest:********@db/digest."""
    parts = urlsplit(str(value))
    if parts.password is None:
        return str(value)
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{parts.username}:********@{host}").geturl()


def _shown(value: Any) -> str:
    if isinstance(value, time):
        return value.strftime("%H:%M")
    return str(value).replace("\n", "\\n")  # one line per setting


def _percent(value: float) -> str:
    return f"{value * 100:g}%"


# -- the table ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One setting. `default` is the text an operator would write (a function of nothing when it
    depends on where digest runs), None when unset means "none"; `documented` is the default as
    README.md says it, when the text alone would mislead."""

    attribute: str
    variable: str
    read: Callable[[str, str], Any]
    default: str | Callable[[], str] | None
    help: str
    type: Any = str
    lines: bool = False  # the text may hold line breaks (other control characters never)
    show: Callable[[Any], str] = _shown  # how `digest config show` prints the value
    documented: str | None = None

    def default_value(self) -> Any:
        if self.default is None:
            return None
        if callable(self.default):
            return self.read(self.variable, self.default())
        return _default_of(self)

    def text(self, env: Mapping[str, str]) -> str | None:
        """The variable's text, stripped, checked for control characters; None when unset or blank."""
        value = env.get(self.variable)
        if value is None or value.strip() == "":
            return None
        value = value.strip()
        bad = next(
            (c for c in value if unicodedata.category(c) in ("Cc", "Cs") and not (self.lines and c == "\n")), None
        )
        if bad is not None:
            raise ConfigError(
                f"{self.variable} contains the control character U+{ord(bad):04X}; "
                + ("only line breaks are allowed" if self.lines else "it must be one line of text")
            )
        return value

    def value(self, env: Mapping[str, str]) -> Any:
        raw = self.text(env)
        return self.default_value() if raw is None else self.read(self.variable, raw)


@cache
def _default_of(setting: Setting) -> Any:
    """A default is read (and checked) once: Settings() is made often, by tests above all."""
    return setting.read(setting.variable, setting.default)


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "database_url",
        "DIGEST_DATABASE_URL",
        _plain,
        default_database_url,
        "the store: `sqlite:///path/to/file.db` or `postgresql://user@host/db` (psycopg 3)",
        show=_without_password,
        documented="sqlite:///./digest.db",
    ),
    Setting(
        "timezone",
        "DIGEST_TIMEZONE",
        _zone,
        "UTC",
        "the newsletter's time zone (IANA name): which ISO week a comparison belongs to, and the send time "
        "of readers who gave no time zone",
        type=ZoneInfo,
    ),
    Setting(
        "newsletter_name",
        "DIGEST_NEWSLETTER_NAME",
        _plain,
        "Weekly AI Tool Verdicts",
        "the name in the header, subject and `List-Id`",
    ),
    Setting(
        "language",
        "DIGEST_LANGUAGE",
        _language,
        "en",
        "the language of the mail and pages (a tag such as en, fr or pt-BR), declared as their `lang`: "
        "set it with templates of your own in that language (`DIGEST_TEMPLATES`)",
    ),
    Setting("from_address", "DIGEST_FROM", _address, "verdicts@example.com", "the From address"),
    Setting("reply_to", "DIGEST_REPLY_TO", _address, None, "a Reply-To address", type=str | None),
    Setting(
        "base_url",
        "DIGEST_BASE_URL",
        _base_url,
        "http://127.0.0.1:8000",
        "the public address of `digest serve`, used in every link a reader gets; `https://` (plain "
        "`http://` only on a loopback address: mailbox providers want the one-click unsubscribe link over https)",
    ),
    Setting(
        "site_url",
        "DIGEST_SITE_URL",
        _url,
        "https://verdicts.example.com",
        "the publisher's site: a page export's comparison link is `SITE/compare/SLUG`",
    ),
    Setting(
        "postal_address",
        "DIGEST_POSTAL_ADDRESS",
        _plain,
        "Weekly AI Tool Verdicts, 1 Example Street, 00000 Example City",
        "the sender's postal address, printed in every footer",
        lines=True,
        documented="a placeholder",
    ),
    Setting(
        "secret_key",
        "DIGEST_SECRET_KEY",
        _plain,
        DEFAULT_SECRET_KEY,
        "signs readers' links; set a long random value in production",
        show=_hidden,
    ),
    Setting(
        "subscribe_rate_limit",
        "DIGEST_SUBSCRIBE_RATE_LIMIT",
        _rate,
        "10/minute",
        "how many `POST /subscribe` one client (IP address) may make, per process: `N/second`, `N/minute`, `N/hour`",
    ),
    Setting(
        "min_items",
        "DIGEST_MIN_ITEMS",
        _at_least(1),
        "1",
        "the fewest comparisons an edition needs to be built and sent",
        type=int,
    ),
    Setting(
        "backend",
        "DIGEST_BACKEND",
        _backend,
        "outbox",
        "how mail leaves: " + _words(f"`{name}`" for name in SENDERS) + " (`memory` keeps letters in the "
        "process, for tests and benchmarks)",
    ),
    Setting(
        "outbox",
        "DIGEST_OUTBOX",
        _path,
        "outbox",
        "the outbox folder (one `.eml` file per message)",
        type=Path,
        documented="./outbox",
    ),
    Setting(
        "sendgrid_api_key",
        "SENDGRID_API_KEY",
        _plain,
        None,
        "the SendGrid API key (`DIGEST_BACKEND=sendgrid`)",
        type=str | None,
        show=_hidden,
    ),
    Setting("sendgrid_api_url", "SENDGRID_API_URL", _url, "https://api.sendgrid.com", "the SendGrid API host"),
    Setting(
        "click_tracking",
        "DIGEST_CLICK_TRACKING",
        _switch,
        "off",
        "`on` lets SendGrid rewrite the HTML part's links to count clicks (the size kept under Gmail's clip "
        "counts the longer links); open and subscription tracking stay off",
        type=bool,
        show=lambda on: "on" if on else "off",
    ),
    Setting(
        "smtp_url",
        "DIGEST_SMTP_URL",
        _plain,
        None,
        "`smtp://user:pass@host:587` (STARTTLS) or `smtps://...:465` (`DIGEST_BACKEND=smtp`)",
        type=str | None,
        show=_without_password,
    ),
    Setting(
        "max_errors",
        "DIGEST_MAX_ERRORS",
        _at_least(0),
        "100",
        "failed readers after which a send pauses itself",
        type=int,
    ),
    Setting(
        "approvals",
        "DIGEST_APPROVALS",
        _at_least(0),
        "0",
        "approvals an edition needs, from editors other than the last to change it, before it goes out",
        type=int,
    ),
    Setting(
        "send_day",
        "DIGEST_SEND_DAY",
        _weekday,
        "monday",
        "the weekday of the weekly send, in each reader's own time zone",
    ),
    Setting(
        "send_time",
        "DIGEST_SEND_TIME",
        _clock,
        "08:00",
        "the local time of the weekly send, in each reader's own time zone",
        type=time,
    ),
    Setting(
        "catch_up_hours",
        "DIGEST_CATCH_UP",
        _hours(7 * 24),
        "24h",
        "how late a missed wave of the weekly send may still go out",
        type=float,
        show=lambda hours: f"{hours:g}h",
    ),
    Setting(
        "welcome",
        "DIGEST_WELCOME",
        _switch,
        "on",
        "`on` mails each reader who confirms a short welcome (their topics, when their first edition comes, "
        "their preferences link); a reader whose first edition goes out within minutes gets it in that edition",
        type=bool,
        show=lambda on: "on" if on else "off",
    ),
    Setting(
        "sunset_after",
        "DIGEST_SUNSET_AFTER",
        _off_or_at_least(1),
        "off",
        "editions mailed to a reader without a sign of life from them (a vote, saved preferences, a confirmation, "
        "the keep-sending button, a click as DIGEST_CLICKS_ENGAGE says; never an open) before one re-permission "
        "mail asks whether to keep sending; "
        "readers who joined fewer editions ago are left be. 26 (half a year) is a sound choice",
        type=int | None,
        show=lambda n: "off" if n is None else str(n),
    ),
    Setting(
        "retain_days",
        "DIGEST_RETAIN_DAYS",
        _off_or_at_least(1),
        "off",
        "days an edition's per-reader ledger rows and raw events are kept after it was sent; then the scheduler "
        "prunes it as `digest db prune` does (its figures and the consent log stay; never the newest sent edition)",
        type=int | None,
        show=lambda n: "off" if n is None else str(n),
    ),
    Setting(
        "sunset_grace",
        "DIGEST_SUNSET_GRACE",
        _at_least(1),
        "14",
        "days a re-permission mail waits for its answer; then the reader stops (status lapsed) until they "
        "subscribe again",
        type=int,
    ),
    Setting(
        "clicks_engage",
        "DIGEST_CLICKS_ENGAGE",
        _switch,
        "on",
        "`on` counts SendGrid's click events in an edition (reported with DIGEST_CLICK_TRACKING on) as a "
        "reader's sign of life, except clicks on unsubscribe, preferences and vote links and clicks within "
        "10 minutes of the edition leaving, when link scanners click; a later scanner's click still counts, "
        "so figures say clicks may include link scanners",
        type=bool,
        show=lambda on: "on" if on else "off",
    ),
    Setting(
        "admin_token",
        "DIGEST_ADMIN_TOKEN",
        _plain,
        None,
        "the token for editor pages such as `/stats`: a script's `Authorization: Bearer` header, or a "
        "browser's sign-in form (never in the address)",
        type=str | None,
        show=_hidden,
    ),
    Setting(
        "webhook_public_key",
        "SENDGRID_WEBHOOK_PUBLIC_KEY",
        _plain,
        None,
        "the public key that verifies SendGrid's signed event webhook",
        type=str | None,
        lines=True,
    ),
    Setting(
        "max_complaint_rate",
        "DIGEST_MAX_COMPLAINT_RATE",
        _share,
        "0.3%",
        "a send pauses itself above this spam-complaint rate",
        type=float,
        show=_percent,
    ),
    Setting(
        "max_bounce_rate",
        "DIGEST_MAX_BOUNCE_RATE",
        _share,
        "5%",
        "a send pauses itself above this bounce rate",
        type=float,
        show=_percent,
    ),
    Setting(
        "forwarded_allow_ips",
        "DIGEST_FORWARDED_ALLOW_IPS",
        check_proxies,
        None,
        "the proxies `digest serve` trusts (IP addresses or networks, comma-separated): only their "
        "`X-Forwarded-For` and `X-Forwarded-Proto` count; unset, those headers are ignored",
        type=str | None,
    ),
    Setting(
        "lock_timeout",
        "DIGEST_LOCK_TIMEOUT",
        _seconds(3600),
        "30",
        "seconds a command waits for a database lock another process holds before it stops with an error",
        type=float,
        show=lambda seconds: f"{seconds:g}",
    ),
    Setting(
        "templates",
        "DIGEST_TEMPLATES",
        _folder,
        None,
        "a folder of your own templates (start one with `digest templates copy DIR`): a template there "
        'replaces the shipped one of the same name, partials and stylesheets included (see "Branding" in README.md)',
        type=Path | None,
    ),
)
VARIABLES = tuple(setting.variable for setting in SETTINGS)  # every setting's environment variable


def _row(variable: str) -> Setting:
    return next(s for s in SETTINGS if s.variable == variable)


class Problem(NamedTuple):
    """Something about the settings that is fine on a developer's machine and wrong in production."""

    variable: str
    said: str  # what is wrong, naming the variable
    fix: str  # what to do about it


def _placeholder_domain(address: str) -> bool:
    domain = address.rpartition("@")[2].lower().rstrip(".")
    return any(domain == d or domain.endswith("." + d) for d in PLACEHOLDER_DOMAINS)


_RANDOM = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


class _SettingsBase:
    """What Settings does besides holding values (its fields come from SETTINGS)."""

    def identity_problems(self) -> list[Problem]:
        """Who the mail says it is from: a placeholder From address or postal address (the shipped
        default, or a domain reserved for examples), or a newsletter name never set."""
        problems = []
        if self.from_address == _default_of(_row("DIGEST_FROM")) or _placeholder_domain(self.from_address):
            problems.append(
                Problem(
                    "DIGEST_FROM",
                    f"DIGEST_FROM is a placeholder ({self.from_address})",
                    "set it to an address at a domain you send from, such as news@your-domain.com",
                )
            )
        postal = self.postal_address
        if postal == _default_of(_row("DIGEST_POSTAL_ADDRESS")) or re.search(
            r"\bexample (street|city)\b", postal, re.I
        ):
            problems.append(
                Problem(
                    "DIGEST_POSTAL_ADDRESS",
                    "DIGEST_POSTAL_ADDRESS is a placeholder",
                    "set it to your real postal address, which the law (CAN-SPAM) wants in every mail",
                )
            )
        if self.newsletter_name == _default_of(_row("DIGEST_NEWSLETTER_NAME")) and (
            "DIGEST_NEWSLETTER_NAME" not in self.given
        ):
            problems.append(
                Problem(
                    "DIGEST_NEWSLETTER_NAME",
                    "DIGEST_NEWSLETTER_NAME is not set",
                    "set it to your newsletter's name (readers see it in the From line and every subject)",
                )
            )
        return problems

    def secret_problems(self) -> list[Problem]:
        """Secrets anyone could read or guess: the shipped secret key, a key or admin token shorter
        than MIN_SECRET_LENGTH characters."""
        problems = []
        if self.secret_key == DEFAULT_SECRET_KEY:
            problems.append(
                Problem(
                    "DIGEST_SECRET_KEY",
                    "DIGEST_SECRET_KEY is still the default, which anyone can read in digest's source",
                    f"set it to a long random value, e.g. the output of: {_RANDOM}",
                )
            )
        elif len(self.secret_key) < MIN_SECRET_LENGTH:
            problems.append(
                Problem(
                    "DIGEST_SECRET_KEY",
                    f"DIGEST_SECRET_KEY is {len(self.secret_key)} characters long, shorter than {MIN_SECRET_LENGTH}",
                    f"set it to a long random value, e.g. the output of: {_RANDOM}",
                )
            )
        if self.admin_token is not None and len(self.admin_token) < MIN_SECRET_LENGTH:
            problems.append(
                Problem(
                    "DIGEST_ADMIN_TOKEN",
                    f"DIGEST_ADMIN_TOKEN is {len(self.admin_token)} characters long, shorter than {MIN_SECRET_LENGTH}",
                    f"set it to a long random value, e.g. the output of: {_RANDOM}",
                )
            )
        return problems

    def refuse_placeholders(self, command: str) -> None:
        """What `serve`, `scheduler run`, `editions send` and the commands that mail confirmations
        check before anything leaves: when DIGEST_BASE_URL is not this machine (readers and mailbox
        providers see what is sent), no placeholder identity and no weak secret. On a loopback base
        URL (a developer's machine, the demo, tests) everything is allowed."""
        if is_loopback(self.base_url):
            return
        problems = self.secret_problems() + self.identity_problems()
        if problems:
            raise ConfigError(
                f"`{command}` will not run: DIGEST_BASE_URL ({self.base_url}) is not this machine, and "
                + "; ".join(f"{p.said}: {p.fix}" for p in problems)
                + " (`digest doctor` checks all of it)"
            )

    @classmethod
    def from_env(cls, env: Environment | Mapping[str, str] | None = None):
        """Every setting from `env` (default: os.environ; or an Environment, env file included), each
        checked; the first malformed one raises ConfigError naming its variable, and the env file's
        path and line when the value came from there."""
        sources: Mapping[str, str] = {}
        if isinstance(env, Environment):
            env, sources = env.values, env.sources
        env = os.environ if env is None else env
        values, given = {}, set()
        for setting in SETTINGS:
            try:
                if setting.text(env) is not None:
                    given.add(setting.variable)
                values[setting.attribute] = setting.value(env)
            except ConfigError as exc:
                where = sources.get(setting.variable, "environment")
                if where == "environment":
                    raise
                raise ConfigError(f"{where}: {exc}") from None
        return cls(**values, given=frozenset(given))


# Settings(database_url=..., ...): a frozen dataclass with one field per row of SETTINGS, in order; a field
# left out takes the row's default. Values given here are taken as they are (tests build them so). A secret
# stays out of its repr, and so out of logs and tracebacks.
Settings = make_dataclass(
    "Settings",
    [(s.attribute, s.type, field(default_factory=s.default_value, repr=s.show is not _hidden)) for s in SETTINGS]
    # the variables that were set (from_env fills it): "not set" and "set to the default" differ for a name
    + [("given", frozenset, field(default=frozenset(), repr=False, compare=False))],
    bases=(_SettingsBase,),
    frozen=True,
)
Settings.__module__ = __name__  # make_dataclass's own `module=` needs Python 3.12


# -- where the values come from: the environment, and an environment file -----------------------------


class Environment(NamedTuple):
    """The variables settings are read from, and where each came from."""

    values: Mapping[str, str]  # the env file's assignments, then the real environment over them
    sources: Mapping[str, str]  # variable -> "environment" or "PATH:LINE" (the env file)
    file: Path | None  # the env file read, if any
    overridden: tuple[str, ...]  # variables digest reads that both set, to different values: the environment won
    lines: Mapping[str, int] = {}  # every name the env file assigns, and its line


def load_environment(env_file: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Environment:
    """The environment, with the file `env_file` (--env-file) or else the one DIGEST_ENV_FILE names
    read under it, in systemd's EnvironmentFile format (digest.envfile). A variable set in the real
    environment wins over the file's line, so that one value can be changed for one command
    (`DIGEST_BACKEND=outbox digest --env-file /etc/digest/env editions send-test me@x.org`); each
    such variable is listed in `overridden`, and `digest config show` says where every value came
    from. ConfigError names the file, and the line, when the file cannot be read or is malformed."""
    environ = os.environ if environ is None else environ
    given_by = "--env-file"
    if env_file is None and (environ.get(ENV_FILE) or "").strip():
        env_file, given_by = environ[ENV_FILE].strip(), ENV_FILE
    if env_file is None:
        return Environment(environ, {name: "environment" for name in environ}, None, (), {})
    from digest import envfile  # only a command given an env file reads one

    path = Path(env_file).expanduser()
    assignments = envfile.read(path, given_by)
    values = {name: assignment.value for name, assignment in assignments.items()}
    sources = {name: f"{path}:{assignment.line}" for name, assignment in assignments.items()}
    overridden = tuple(
        name
        for name in VARIABLES
        if name in assignments and name in environ and environ[name].strip() != assignments[name].value.strip()
    )
    values.update(environ)
    sources.update({name: "environment" for name in environ})
    lines = {name: assignment.line for name, assignment in assignments.items()}
    return Environment(values, sources, path, overridden, lines)


# -- what `digest config show` shows ---------------------------------------------------------------


class Row(NamedTuple):
    setting: Setting
    shown: str  # the value as printed: secrets masked, "none" for unset
    source: str  # "environment", "env file PATH:LINE" or "default"
    error: str | None  # why the environment's value was refused


def report(environment: Environment | Mapping[str, str] | None = None) -> list[Row]:
    """Every setting's value and where it came from, each checked on its own (so that every mistake
    is listed, not only the first)."""
    if not isinstance(environment, Environment):
        environment = load_environment(None, environment) if environment is not None else load_environment()
    env = environment.values
    rows = []
    for setting in SETTINGS:
        if setting.variable not in env or not env[setting.variable].strip():
            source = "default"
        elif environment.sources.get(setting.variable, "environment") == "environment":
            source = "environment"
        else:
            source = "env file " + environment.sources[setting.variable]
        try:
            value = setting.value(env)
        except ConfigError as exc:
            rows.append(Row(setting, "", source, str(exc)))
            continue
        rows.append(Row(setting, "none" if value is None else setting.show(value), source, None))
    return rows


def markdown_table() -> str:
    """README.md's configuration table (between its `settings:` markers): `digest config show --markdown`."""
    lines = [
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    for s in SETTINGS:
        if s.documented is not None:
            default = s.documented if " " in s.documented else f"`{s.documented}`"
        elif s.default is None:
            default = "none"
        else:
            default = f"`{s.default}`"
        lines.append(f"| `{s.variable}` | {default} | {s.help} |")
    return "\n".join(lines) + "\n"
