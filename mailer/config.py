"""Settings: the one place that reads the environment (``R2P_*`` variables, optional ``.env``).

Every other module receives a ``Settings`` object. A bad value fails at start with the
variable's name, so an operator never has to guess which setting is wrong.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from email.utils import parseaddr
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from mailer import __version__
from mailer.durations import parse_duration
from mailer.email.headers import HeaderValueError, mailbox
from mailer.errors import ConfigError
from mailer.smtp_url import smtp_url_problem
from mailer.varfiles import write_once

ENV_PREFIX = "R2P_"
# The longest an urgent alert may wait to be sent, whoever creates it and however.
MAX_ALERT_LIFETIME = timedelta(days=7)

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
BOUNCE_DOMAIN = re.compile(r"^(?=.{1,200}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")

SNS_TOPIC = re.compile(r"arn:aws(-cn|-us-gov)?:sns:[a-z0-9-]{1,30}:[0-9]{12}:[A-Za-z0-9_.-]{1,256}")


class Settings(BaseSettings):
    """Typed settings; each field ``name`` is read from ``R2P_NAME``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", frozen=True
    )

    var_dir: Path = Path("var")
    database_url: str = ""
    base_url: str = "http://127.0.0.1:8000"
    secret_key: SecretStr | None = None
    mail_from: str = "R2P Mailer <r2p-mailer@localhost>"
    # Deliverability (docs/deliverability.md): where replies go, the sender's postal
    # address in every footer, and a From of its own for confirmation and manage mail.
    reply_to: str = ""
    postal_address: str = ""
    transactional_from: str = ""

    sources_file: Path | None = None
    relevance_file: Path | None = None
    allow_private_feeds: bool = False
    feed_timeout: Duration = timedelta(seconds=20)
    feed_max_bytes: int = Field(default=10_000_000, gt=0)
    feed_max_redirects: int = Field(default=5, ge=0, le=20)
    poll_concurrency: int = Field(default=8, ge=1, le=64)
    poll_every: Duration = timedelta(minutes=15)

    smtp_url: SecretStr | None = None
    smtp_connections: int = Field(default=4, ge=1, le=100)
    smtp_rate: float = Field(default=0.0, ge=0)
    smtp_timeout: Duration = timedelta(seconds=30)
    # A claimed batch is leased this long and renewed every third of it while the worker
    # lives, so a killed worker's rows return within one lease.
    lease_seconds: int = Field(default=30, ge=5)
    retry_for: Duration = timedelta(days=2)
    hard_bounce_limit: int = Field(default=2, ge=1)
    delivery_batch: int = Field(default=500, ge=1, le=10_000)
    list_id: str = ""
    dkim_key_file: Path | None = None
    dkim_selector: str = ""
    dkim_domain: str = ""
    digest_section_limit: int = Field(default=8, ge=1, le=100)
    digest_day: str = Field(default="mon", pattern=r"^(mon|tue|wed|thu|fri|sat|sun)$")
    digest_time: str = Field(default="08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    digest_timezone: str = "UTC"
    # For demos and tests: run the digest job at this interval instead of weekly.
    digest_every: Duration | None = None
    # Staff review each issue before it goes out: it is prepared as a draft this long
    # before the slot and sent at the slot only if approved (false: sent automatically).
    digest_review: bool = True
    digest_prepare_at: Duration = timedelta(days=2)
    scheduler_lease: Duration = timedelta(seconds=30)
    alert_approvers: int = Field(default=1, ge=1, le=5)
    alert_expires: Duration = timedelta(hours=12)
    # The time zone in which the console asks for and shows an alert's send time.
    console_timezone: str = "UTC"
    login_rate_limit: int = Field(default=5, ge=1)
    login_rate_window: Duration = timedelta(minutes=15)
    admin_session_max_age: Duration = timedelta(hours=8)
    # Every admin must enrol a TOTP second factor before using the console.
    admin_require_2fa: bool = False
    # How long an invitation and a password-reset link work (each works once).
    admin_invite_max_age: Duration = timedelta(days=3)
    admin_reset_max_age: Duration = timedelta(hours=1)
    confirm_link_max_age: Duration = timedelta(days=7)
    pending_purge_after: Duration = timedelta(days=14)
    signup_rate_limit: int = Field(default=5, ge=1)
    signup_rate_window: Duration = timedelta(hours=1)
    consent_form_version: str = "2026-11"
    link_max_age: Duration = timedelta(days=365)
    # Unsubscribe links in old mail must keep working (RFC 8058): much longer than others.
    unsubscribe_link_max_age: Duration = timedelta(days=3 * 365)
    forwarded_allow_ips: str = "127.0.0.1"
    # Circuit breaker per relay: this many connection failures, 421s or 4xx replies in a row
    # (across recipients) open it; while open, one probe message every breaker_probe_every.
    breaker_failures: int = Field(default=10, ge=1)
    breaker_probe_every: Duration = timedelta(seconds=3)
    # /healthz says degraded when the oldest due message is older than this (and when the
    # breaker is open or a worker stopped beating); with 503 when health_degraded_status=503.
    health_queue_age: Duration = timedelta(minutes=15)
    health_degraded_status: Annotated[Literal[200, 503], BeforeValidator(int)] = 200
    # /metrics: off unless a bearer token is set (scrapers send "Authorization: Bearer ...").
    metrics_token: SecretStr | None = None
    # Confirmation and preferences mails: per real mailbox (plus-tags folded) and per
    # destination domain, each per signup window, so the form cannot flood an inbox.
    mailbox_mail_limit: int = Field(default=3, ge=1)
    domain_mail_limit: int = Field(default=200, ge=1)
    # VERP: every delivery's envelope sender is bounces+<signed token>@this domain, whose
    # mail `r2p-mailer inbound` receives (unset: the envelope sender is R2P_MAIL_FROM's).
    bounce_domain: str = ""
    # `r2p-mailer inbound`: the largest report accepted (bytes), and what is kept of it.
    inbound_max_bytes: int = Field(default=1_000_000, ge=10_000, le=50_000_000)
    # Relay services' bounce webhooks (/webhooks/<provider>): each is off (404) unless its
    # secret is set. Mailgun's HTTP webhook signing key; Postmark's "user:password", the
    # basic-auth credentials put in the webhook URL configured at Postmark.
    mailgun_signing_key: SecretStr | None = None
    postmark_webhook_auth: SecretStr | None = None
    # SendGrid's Signed Event Webhook verification key (base64 DER, as SendGrid shows it;
    # a public key, not a secret): unset, /webhooks/sendgrid is off.
    sendgrid_webhook_key: str = ""
    # Amazon SES through SNS: the topic ARNs whose notifications are taken in and whose
    # subscriptions are confirmed, comma-separated; unset, /webhooks/ses is off.
    ses_sns_topics: str = ""
    # A bounce mailbox read every R2P_BOUNCE_MAILBOX_EVERY (jobs/mailbox.py):
    # imaps://user:password@host:993/INBOX or pop3s://user:password@host:995; imap:// and
    # pop3:// only with STARTTLS/STLS unless R2P_BOUNCE_MAILBOX_INSECURE allows plain text.
    bounce_mailbox_url: SecretStr | None = None
    bounce_mailbox_password_file: Path | None = None
    bounce_mailbox_every: Duration = timedelta(minutes=5)
    bounce_mailbox_insecure: bool = False
    # IMAP: what becomes of a message once recorded: deleted (and expunged) or marked seen.
    bounce_mailbox_done: Literal["delete", "seen"] = "delete"
    bounce_mailbox_timeout: Duration = timedelta(seconds=60)
    # A campaign pauses itself (and the admins are emailed) once this many of its messages
    # were refused for policy (5.7.x: a block of our server, not of the reader); 0 = never.
    policy_pause_after: int = Field(default=10, ge=0)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        # Messages never quote the URL: it may hold a password.
        if not value:
            return value
        try:
            url = make_url(value)
            backend = url.get_backend_name()
        except (ArgumentError, ValueError):
            raise ValueError(
                "not a database URL: use sqlite:////path/to/file or "
                "postgresql://user:password@host/database"
            ) from None
        if backend not in {"sqlite", "postgresql"}:
            raise ValueError("only sqlite:/// and postgresql:// URLs are supported")
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        return url.render_as_string(hide_password=False)

    @field_validator("alert_expires")
    @classmethod
    def _alert_expires(cls, value: timedelta) -> timedelta:
        # staff.actions.alerts refuses longer lifetimes: a longer default would refuse
        # every alert that relies on it, at the worst moment.
        if not timedelta(0) < value <= MAX_ALERT_LIFETIME:
            raise ValueError("must be more than 0 and at most 7d")
        return value

    @field_validator("mail_from", "reply_to", "transactional_from")
    @classmethod
    def _mail_from(cls, value: str, info: ValidationInfo) -> str:
        if not value and info.field_name != "mail_from":  # the others are optional
            return value
        try:
            mailbox(value)
        except HeaderValueError:
            raise ValueError(
                "must be an address, optionally with a name: Name <user@example.org>"
            ) from None
        return value

    @field_validator("sendgrid_webhook_key")
    @classmethod
    def _sendgrid_key(cls, value: str) -> str:
        if value.strip():
            from mailer.bounces.sendgrid import public_key

            public_key(value)
        return value.strip()

    @field_validator("ses_sns_topics")
    @classmethod
    def _sns_topics(cls, value: str) -> str:
        topics = [t.strip() for t in value.split(",") if t.strip()]
        for topic in topics:
            if not SNS_TOPIC.fullmatch(topic):
                raise ValueError(f"not an SNS topic ARN: {topic!r}")
        return ",".join(topics)

    @property
    def ses_topics(self) -> frozenset[str]:
        return frozenset(t for t in self.ses_sns_topics.split(",") if t)

    @field_validator("postal_address")
    @classmethod
    def _postal_address(cls, value: str) -> str:
        return " ".join(value.split())

    @field_validator("bounce_domain")
    @classmethod
    def _bounce_domain(cls, value: str) -> str:
        value = value.strip().lower().rstrip(".")
        if value and not BOUNCE_DOMAIN.match(value):
            raise ValueError("must be a domain name, e.g. bounces.example.org")
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @property
    def database(self) -> str:
        """The database URL, defaulting to a SQLite file under ``var_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'r2p-mailer.sqlite3').resolve()}"

    @cached_property
    def signing_key(self) -> str:
        """R2P_SECRET_KEY, or a random key kept in ``var/secret.key`` for a one-machine
        install: made once, atomically, so processes started together share one key."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.var_dir / "secret.key"
        try:
            key = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            key = write_once(path, secrets.token_urlsafe(48) + "\n").strip()
        if not key:
            raise ConfigError(
                f"{path} is empty: delete it (a new key is made) or set R2P_SECRET_KEY"
            )
        return key

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            problem = smtp_url_problem(value.get_secret_value())
            if problem:
                raise ValueError(problem)
        return value

    @field_validator("digest_prepare_at")
    @classmethod
    def _prepare_at(cls, value: timedelta) -> timedelta:
        if value >= timedelta(days=7):
            raise ValueError("the issue is prepared less than a week (7d) before it goes out")
        return value

    @field_validator("digest_timezone", "console_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not a time zone name (e.g. UTC, Europe/Geneva)") from None
        return value

    @property
    def mail_dir(self) -> Path:
        """Where mail goes when no SMTP server is configured (a Maildir)."""
        return self.var_dir / "mail"

    @cached_property
    def envelope_from(self) -> str:
        """The bare address of R2P_MAIL_FROM (``news@example.org`` from ``R2P news
        <news@example.org>``): the SMTP envelope sender, where bounces go. Parsed once
        (the worker asks for it twice a message)."""
        return parseaddr(self.mail_from)[1]

    @cached_property
    def mail_domain(self) -> str:
        address = self.envelope_from
        return address.rsplit("@", 1)[-1].lower() if "@" in address else "localhost"

    @property
    def list_id_header(self) -> str:
        return self.list_id or f"R2P news <news.{self.mail_domain}>"

    @property
    def user_agent(self) -> str:
        return f"r2p-mailer/{__version__} (+{self.base_url})"


# Settings whose value may hold a password or key: an error names them, never quotes them.
SECRET_FIELDS = {
    "secret_key",
    "smtp_url",
    "database_url",
    "metrics_token",
    "mailgun_signing_key",
    "postmark_webhook_auth",
}


def load_settings(**overrides: Any) -> Settings:
    """Build Settings from the environment; a bad value raises ConfigError naming R2P_<NAME>
    (and quoting the value, unless it is one that may hold a secret)."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            shown = "" if field in SECRET_FIELDS else f" (got {error.get('input')!r})"
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{ENV_PREFIX}{field.upper()}: {message}{shown}")
        raise ConfigError("bad setting: " + "; ".join(problems)) from None
