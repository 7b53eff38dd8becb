"""SQLAlchemy models: the one metadata that Alembic migrations are checked against."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql import expression

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, also on SQLite (which stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class Source(Base):
    """A feed we poll, with its HTTP cache validators and its health."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str] = mapped_column(String(2048))
    kind: Mapped[str] = mapped_column(String(32), default="rss")
    language: Mapped[str] = mapped_column(String(8), default="en")
    title: Mapped[str] = mapped_column(String(200), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    always_relevant: Mapped[bool] = mapped_column(Boolean, default=False)
    # The digest section of the source's items, from its registry entry (sources.toml) or
    # from `feeds add --section`.
    section: Mapped[str] = mapped_column(String(32), default="other", server_default="other")
    disabled_reason: Mapped[str | None] = mapped_column(String(500))

    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    body_hash: Mapped[str | None] = mapped_column(String(64))

    last_polled_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(1000))
    last_error_at: Mapped[datetime | None]
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    empty_responses: Mapped[int] = mapped_column(Integer, default=0)
    last_empty_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    items: Mapped[list[Item]] = relationship(back_populates="source")


class Item(Base):
    """One story, stored once however many feeds carry it (``dedupe_key`` is unique)."""

    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("source_id", "uid"),
        Index("ix_items_relevant_fetched_at", "relevant", "fetched_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    uid: Mapped[str] = mapped_column(String(1024))
    dedupe_key: Mapped[str] = mapped_column(String(1024), unique=True)
    url: Mapped[str] = mapped_column(String(2048))
    title: Mapped[str] = mapped_column(String(1000))
    author: Mapped[str] = mapped_column(String(200), default="")
    summary_html: Mapped[str] = mapped_column(Text, default="")
    summary_text: Mapped[str] = mapped_column(Text, default="")
    published_at: Mapped[datetime]
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The language the item is written in: its source's (UN News has a feed per language).
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    relevance: Mapped[int] = mapped_column(Integer, default=0)
    # Whether the item goes into digests and suggestions: the relevance rules' verdict, or
    # an editor's override (``relevance_override``) while one stands. Polling and re-tagging
    # write the rules' verdict into ``rules_relevant`` instead while an override stands
    # (``mailer.feeds.store``), so they never undo it.
    relevant: Mapped[bool] = mapped_column(Boolean, default=False)
    relevance_override: Mapped[bool | None] = mapped_column(Boolean)
    rules_relevant: Mapped[bool | None] = mapped_column(Boolean)  # only while overridden
    override_by: Mapped[str | None] = mapped_column(String(320))
    override_at: Mapped[datetime | None]

    source: Mapped[Source] = relationship(back_populates="items")


def new_link_secret() -> str:
    """A reader's link secret: 16 random bytes, URL-safe (22 characters)."""
    return secrets.token_urlsafe(16)


class Subscriber(Base):
    """A reader: address, what they want, and the latest proof of their consent (the full
    history is in ``consent_events``).

    Ids are never handed out twice (AUTOINCREMENT on SQLite; PostgreSQL sequences never go
    back). ``link_secret`` is what the reader's signed links name: erasure (the row goes)
    and resubscription (a new secret) make every older link stop working."""

    __tablename__ = "subscribers"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    link_secret: Mapped[str] = mapped_column(String(32), unique=True, default=new_link_secret)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    language: Mapped[str] = mapped_column(String(8), default="en")
    wants_digest: Mapped[bool] = mapped_column(Boolean, default=True)
    wants_alerts: Mapped[bool] = mapped_column(Boolean, default=True)
    # Empty means everything; otherwise crime tags, "r2p" and watch-list country tags.
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    # A digest in another language also carries English stories no source in it covers.
    include_english: Mapped[bool] = mapped_column(
        Boolean, default=True, server_default=expression.true()
    )
    consent_at: Mapped[datetime | None]
    consent_form: Mapped[str] = mapped_column(String(64), default="")
    consent_text: Mapped[str] = mapped_column(Text, default="")
    consent_ip: Mapped[str] = mapped_column(String(64), default="")
    consent_user_agent: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    unsubscribed_at: Mapped[datetime | None]
    hard_bounces: Mapped[int] = mapped_column(Integer, default=0)


class ConsentEvent(Base):
    """One entry of a reader's consent history, never changed once written.

    ``event``: ``signup`` (a form request, not yet a consent), ``confirmed`` (the reader
    confirmed a request: its form, text, IP and browser are copied here), ``preferences``
    (subscribed again from their own link), ``admin``, ``import``, ``withdrawn``
    (unsubscribed), ``migrated`` (the record kept before this history existed). The
    choices are those asked for (signup) or in force after the event."""

    __tablename__ = "consent_events"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    form: Mapped[str] = mapped_column(String(64), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(500), default="")
    language: Mapped[str] = mapped_column(String(8), default="en")
    wants_digest: Mapped[bool] = mapped_column(Boolean, default=True)
    wants_alerts: Mapped[bool] = mapped_column(Boolean, default=True)
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    # For ``confirmed``: the ``signup`` entry it confirms (kept even if that one is purged).
    request_id: Mapped[int | None] = mapped_column(Integer)


class Erasure(Base):
    """An anonymous trace of a reader who asked to be deleted: only the day it happened."""

    __tablename__ = "erasures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(default=utcnow)
    was_status: Mapped[str] = mapped_column(String(16))


class Campaign(Base):
    """One mailing: a digest issue, an alert, or a single transactional email."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(200), unique=True)
    template: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(500), default="")
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(320), default="")
    approved_at: Mapped[datetime | None]
    approved_by: Mapped[str] = mapped_column(String(320), default="")
    finished_at: Mapped[datetime | None]
    # An alert's chosen send time: approved before it, it waits as ``scheduled``.
    send_at: Mapped[datetime | None]


class Delivery(Base):
    """The ledger: one row per (campaign, subscriber), settled only by the server's reply."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("campaign_id", "subscriber_id"),
        Index("ix_deliveries_campaign_status", "campaign_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    # What the subscriber gets: readers with the same content key get byte-identical mail
    # but for their own address and links, so a worker renders each content once.
    content_key: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default="queued")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    deadline_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    claimed_by: Mapped[str] = mapped_column(String(100), default="")
    last_reply: Mapped[str] = mapped_column(String(1000), default="")
    message_id: Mapped[str] = mapped_column(String(300), default="")
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# Claims walk this index in order: highest priority first, then one campaign's rows grouped
# by content, so a batch needs few renders.
Index(
    "ix_deliveries_claim_order",
    Delivery.status,
    Delivery.priority.desc(),
    Delivery.campaign_id,
    Delivery.content_key,
    Delivery.next_attempt_at,
)
# /healthz and /metrics: the oldest due message is the first entry of the queued range.
Index("ix_deliveries_due_time", Delivery.status, Delivery.next_attempt_at)


class MailReport(Base):
    """What came back about mail after the relay accepted it (or refused it at RCPT): a
    bounce (RFC 3464 delivery status notification or a provider's webhook), a complaint
    (RFC 5965 feedback report), an auto-reply, or a message nobody could parse (kept for an
    admin to read, never dropped). Reports and reader pages count from this table."""

    __tablename__ = "mail_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # How it arrived: "inbound" (r2p-mailer inbound), "mailbox" (IMAP/POP3), "webhook:ses"
    # and the like, or "smtp" (a refusal at RCPT time).
    via: Mapped[str] = mapped_column(String(32))
    # bounce, delay, complaint, auto_reply, unparsed
    kind: Mapped[str] = mapped_column(String(16), index=True)
    # What was done: hard (address suppressed), soft (counted, not suppressed), policy (a
    # block of our server: nobody suppressed), complaint (unsubscribed), ignored, unknown
    decision: Mapped[str] = mapped_column(String(16), default="unknown")
    status_code: Mapped[str] = mapped_column(String(16), default="")
    diagnostic: Mapped[str] = mapped_column(String(1000), default="")
    recipient: Mapped[str] = mapped_column(String(320), default="")
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL"), index=True
    )
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="SET NULL"), index=True
    )
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL"), index=True
    )
    # The report as received (capped), for an admin to see what the provider said.
    raw: Mapped[str] = mapped_column(Text, default="")
    # One report counted once: a mailbox re-read after a crash, a webhook retried.
    dedupe_key: Mapped[str | None] = mapped_column(String(128), unique=True)


class CampaignContent(Base):
    """One distinct content of a campaign: the items (in order) that some readers get, in
    their language. Worked out when a digest is created; deliveries name it by ``key``."""

    __tablename__ = "campaign_contents"
    __table_args__ = (UniqueConstraint("campaign_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8), default="en")
    item_ids: Mapped[list[int]] = mapped_column(JSON, default=list)


class Lock(Base):
    """A named lease in the database: whoever holds ``scheduler`` runs the schedule."""

    __tablename__ = "locks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime]


class Admin(Base):
    """A member of staff; what they may do depends on their ``role`` (mailer/roles.py)."""

    __tablename__ = "admins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Advanced at logout: every session cookie issued before then stops working.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    # viewer, editor, approver or owner (mailer/roles.py); admins from before roles are owners
    role: Mapped[str] = mapped_column(String(16), default="owner", server_default="owner")
    # The TOTP secret (base32), set when enrolment starts; codes are asked for at login
    # only once ``totp_enabled_at`` is set, after the admin confirmed a code.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled_at: Mapped[datetime | None]
    # The time step of the last code accepted: a code is never accepted twice.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)


class RecoveryCode(Base):
    """One single-use recovery code of an admin's second factor; only its SHA-256 is
    stored, and ``used_at`` is set when it is spent."""

    __tablename__ = "admin_recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    admin_id: Mapped[int] = mapped_column(ForeignKey("admins.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]


class AdminToken(Base):
    """An API token for the JSON admin API; only its SHA-256 is stored."""

    __tablename__ = "admin_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    admin_id: Mapped[int] = mapped_column(ForeignKey("admins.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Approval(Base):
    """One admin's approval of a campaign (the two-person rule counts these)."""

    __tablename__ = "approvals"
    __table_args__ = (UniqueConstraint("campaign_id", "admin_email"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    admin_email: Mapped[str] = mapped_column(String(320))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class AlertTranslation(Base):
    """An alert's words in one more language, written by staff: its readers in that
    language get these instead of the original (the button's label too, when given)."""

    __tablename__ = "alert_translations"
    __table_args__ = (UniqueConstraint("campaign_id", "language"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    link_text: Mapped[str] = mapped_column(String(100), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(320), default="")


class AuditEntry(Base):
    """Every admin action: who, what, on what, when, from where."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(300), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ip: Mapped[str] = mapped_column(String(64), default="")


class RateHit(Base):
    """One counted attempt against a rate limit (signup, admin login), shared by every web
    process. The key is a keyed hash of the network or account, never the address itself;
    rows older than their window are purged (subscribers/ratelimit.py)."""

    __tablename__ = "rate_hits"
    __table_args__ = (Index("ix_rate_hits_bucket_key_at", "bucket", "key_hash", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket: Mapped[str] = mapped_column(String(32))
    key_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    # A keyed hash of the account an attempt was for, where the key is more than the
    # account (an account on one network): unlocking the account forgets all of them.
    group_hash: Mapped[str | None] = mapped_column(String(64))


class WorkerStatus(Base):
    """One delivery worker's heartbeat: its relay, circuit breaker and counters since it
    started. Written by the worker every heartbeat (jobs/deliver.py); read by /healthz and
    /metrics (mailer/observe.py), so every web process sees every worker. A row whose
    heartbeat is older than three heartbeats, and not marked stopped, is a worker that died."""

    __tablename__ = "worker_status"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)
    stopped_at: Mapped[datetime | None]
    relay: Mapped[str] = mapped_column(String(200), default="")
    # "closed" (sending), "open" (relay failing: no claims, probes only), "half-open" (probing)
    breaker: Mapped[str] = mapped_column(String(16), default="closed")
    breaker_since: Mapped[datetime | None]
    breaker_reason: Mapped[str] = mapped_column(String(500), default="")
    # {"attempts": n, "sent": n, "retried": n, "failed": n, "errors": {"connection": n, ...}}
    counters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # messages a second over the last minute
    rate: Mapped[float] = mapped_column(Float, default=0.0)
