"""What the JSON admin API accepts and answers (these shape its OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from mailer.outbox.status import CampaignStatus


def _valid_text(value: str) -> str:
    """JSON may carry a lone surrogate ("\\ud800"): valid JSON, not text we can store."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (it holds a lone surrogate)") from None
    return value


Text = Annotated[str, AfterValidator(_valid_text)]


class Problem(BaseModel):
    detail: str = Field(description="What went wrong, and what to do about it.")


class DeliveryCounts(BaseModel):
    queued: int = Field(description="Waiting for a worker (or a retry).")
    sending: int = Field(description="Claimed by a worker, in flight.")
    sent: int = Field(description="Accepted by the mail server (250).")
    failed: int = Field(description="Refused for good (5xx) or out of retries.")
    cancelled: int = Field(description="Dropped: cancelled, expired, or the reader left.")


class AlertOut(BaseModel):
    id: int
    key: str = Field(description="Unique key, e.g. alert:20261123-1a2b3c4d.")
    subject: str
    status: CampaignStatus = Field(
        description="draft (awaiting approval), sending, paused, done (all settled), "
        "cancelled or expired."
    )
    expires_at: datetime | None = Field(description="Nothing is sent after this (UTC).")
    send_at: datetime | None = Field(
        None, description="Its send time (UTC): approved earlier, it waits as scheduled."
    )
    version: str = Field(
        "", description="Fingerprint of the content and times; approve can require it."
    )
    approved_by: list[str] = Field(description="Admins who approved, in order.")
    approvals_needed: int = Field(description="Approvals that queue it (R2P_ALERT_APPROVERS).")
    translations: list[str] = Field(
        [], description="Languages with a translation (readers of others get the original)."
    )
    counts: DeliveryCounts

    @classmethod
    def of(cls, status: dict[str, Any], needed: int) -> AlertOut:
        return cls(
            id=status["id"],
            key=status["key"],
            subject=status["subject"],
            status=status["status"],
            expires_at=status["expires_at"],
            send_at=status.get("send_at"),
            version=status.get("version", ""),
            approved_by=status["approved_by"],
            approvals_needed=needed,
            translations=status.get("translations", []),
            counts=DeliveryCounts(**status["counts"]),
        )


class AlertIn(BaseModel):
    """A new alert. With ``item_id``, empty fields are filled from that stored item."""

    model_config = ConfigDict(extra="forbid")

    subject: Text = Field("", description="One line, at most 200 characters.")
    body: Text = Field("", description="Plain text; a blank line separates paragraphs.")
    link: Text = Field("", description="Optional http(s) 'Read more' link.")
    topics: list[Text] = Field(
        default_factory=list,
        description="Only readers of these topic tags (e.g. genocide, sudan); empty: "
        "every alert subscriber.",
    )
    item_id: int | None = Field(None, description="Start from this stored item.")
    expires_in: Text | None = Field(
        None, description="How long it may be sent, e.g. 6h (default R2P_ALERT_EXPIRES)."
    )
    send_at: datetime | None = Field(
        None,
        description="Send at this time (ISO 8601; without an offset, in "
        "R2P_CONSOLE_TIMEZONE); approved earlier, it waits until then.",
    )


class AlertEdit(BaseModel):
    """Changes to a draft alert; fields left out stay as they are. A change of subject,
    body, link or topics clears the approvals given so far; send_at alone keeps them."""

    model_config = ConfigDict(extra="forbid")

    subject: Text | None = Field(None, description="One line, at most 200 characters.")
    body: Text | None = Field(None, description="Plain text; a blank line separates paragraphs.")
    link: Text | None = Field(None, description="http(s) 'Read more' link, or '' for none.")
    topics: list[Text] | None = Field(
        None, description="Only readers of these topic tags; [] for every alert subscriber."
    )
    send_at: datetime | None = Field(
        None, description="A new send time (null: send as soon as it is approved)."
    )


class EditOut(BaseModel):
    before: dict[str, Any] = Field(description="The changed fields as they were.")
    after: dict[str, Any] = Field(description="The changed fields as they are now.")
    approvals_cleared: list[str] = Field(description="Approvals the change cleared.")
    alert: AlertOut


class ApproveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Text | None = Field(
        None,
        description="The alert's version as you read it: refused (409) if it changed since.",
    )


class ApprovalOut(BaseModel):
    approved: bool = Field(description="True when this approval queued the alert.")
    approvals: int
    needed: int
    queued: int = Field(description="Deliveries queued by this approval.")
    message: str
    alert: AlertOut


class CancelOut(BaseModel):
    cancelled: int = Field(description="Unsent deliveries dropped.")
    alert: AlertOut


class SuggestionOut(BaseModel):
    item_id: int
    title: str
    url: str
    source: str
    published_at: datetime
    summary: str
    tags: list[str]


class SchedulerOut(BaseModel):
    alive: bool
    holder: str | None


class FeedsOut(BaseModel):
    enabled: int
    failing: int


class HealthOut(BaseModel):
    status: str
    database: str
    scheduler: SchedulerOut
    queue_depth: int = Field(description="Deliveries queued or in flight.")
    feeds: FeedsOut


class TranslationIn(BaseModel):
    """An alert's words in one language (replacing any written before)."""

    model_config = ConfigDict(extra="forbid")

    subject: Text = Field(description="One line, at most 200 characters.")
    body: Text = Field(description="Plain text; a blank line separates paragraphs.")
    link_text: Text = Field(
        "", description="The button's label; '' for 'Read more' in that language."
    )


class TranslationOut(BaseModel):
    language: str = Field(description="ar, es, fr, ru or zh.")
    before: dict[str, str] | None = Field(description="The words as they were (null: none).")
    after: dict[str, str] | None = Field(description="The words as they are now (null: none).")
    approvals_cleared: list[str] = Field(description="Approvals the change cleared.")
    alert: AlertOut
