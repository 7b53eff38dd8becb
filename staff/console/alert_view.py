"""An alert as the console shows it: its words, its versions (translations, and how many
readers each language has), audience, approvals under the two-person rule, send time,
expiry and delivery progress, and what the admin looking at it may do next."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from mailer import i18n
from mailer.alert_versions import ORIGINAL, TRANSLATABLE, Translation, translations_of
from mailer.alerts import alert_readers, alert_status, version_of
from mailer.config import Settings
from mailer.models import Campaign
from mailer.outbox.status import CampaignStatus
from staff.console.alert_form import local_time
from staff.console.overview import OPEN, CampaignRow, row_of
from subscribers.choices import Vocabulary, vocabulary


@dataclass(frozen=True)
class Version:
    """One language's version as staff see it: its own words, or None (its readers get
    the original with a line saying so), and how many readers it would reach now."""

    language: str
    name: str  # the language named in English, then in itself
    translation: Translation | None
    readers: int

    @property
    def direction(self) -> str:
        return i18n.direction(self.language)


# Staff read the console in English: each language named in English, then in itself.
ENGLISH_NAMES = {
    "ar": "Arabic",
    "zh": "Chinese",
    "en": "English",
    "fr": "French",
    "ru": "Russian",
    "es": "Spanish",
}


@dataclass(frozen=True)
class AlertView:
    row: CampaignRow
    audience: str
    topic_labels: list[str]
    approved_by: list[str]
    needed: int
    audience_size: int
    created_by: str
    created_at: datetime
    approved_at: datetime | None
    finished_at: datetime | None
    expired: bool
    viewer: str
    send_at: datetime | None
    send_at_text: str  # in R2P_CONSOLE_TIMEZONE, with UTC beside it
    version: str  # what the confirmation step confirms (``mailer.alerts.version_of``)
    now: datetime
    translations: dict[str, Translation] = field(default_factory=dict)
    readers_by_language: dict[str, int] = field(default_factory=dict)

    has_link: bool = False

    @property
    def versions(self) -> list[Version]:
        """Every language but the original's, in the switcher's order."""
        return [
            Version(
                code,
                f"{ENGLISH_NAMES[code]} ({i18n.LANGUAGE_NAMES[code]})",
                self.translations.get(code),
                self.readers_by_language.get(code, 0),
            )
            for code in TRANSLATABLE
        ]

    @property
    def original_readers(self) -> int:
        """Readers who get the original: English readers, and those of a language with
        no translation."""
        return self.readers_by_language.get(ORIGINAL, 0) + sum(
            v.readers for v in self.versions if v.translation is None
        )

    @property
    def awaiting(self) -> bool:
        return self.row.status == CampaignStatus.DRAFT and not self.expired

    @property
    def can_edit(self) -> bool:
        return self.awaiting

    @property
    def scheduled(self) -> bool:
        return self.row.status == CampaignStatus.SCHEDULED

    @property
    def final_approval(self) -> bool:
        """The viewer's approval would be the last one needed."""
        return self.needed - len(self.approved_by) <= 1

    @property
    def sends_later(self) -> bool:
        """Approved now, it would wait for its send time."""
        return self.send_at is not None and self.send_at > self.now

    @property
    def review_first(self) -> bool:
        """Someone else approved already: the viewer should read the review screen."""
        return bool(self.approved_by) and not self.viewer_approved

    @property
    def viewer_approved(self) -> bool:
        return self.viewer in self.approved_by

    @property
    def can_approve(self) -> bool:
        return self.awaiting and not self.viewer_approved

    @property
    def can_cancel(self) -> bool:
        return self.row.status in OPEN

    @property
    def approvals_line(self) -> str:
        """Where the approval stands, in the words the two-person rule needs."""
        have, need = len(self.approved_by), self.needed
        if self.row.status == CampaignStatus.DRAFT:
            if self.expired:
                return "Expired before it was approved: it can no longer be sent."
            if have == 0:
                if need == 1:
                    return "Not approved yet. Approving sends it at once."
                return f"0 of {need} approvals; {need} admins must approve."
            more = "another admin must" if need - have == 1 else f"{need - have} more admins must"
            return f"{have} of {need} approvals; {more} approve."
        if self.row.status == CampaignStatus.SCHEDULED:
            return (
                "Approved by " + ", ".join(self.approved_by) + f"; it goes out {self.send_at_text}."
            )
        if not self.approved_by:
            return "Never approved."
        return "Approved by " + ", ".join(self.approved_by) + "."

    @property
    def nobody_to_send_to(self) -> bool:
        return self.row.status == CampaignStatus.SENDING and self.row.total == 0


def alert_view(
    campaign: Campaign,
    *,
    viewer: str,
    needed: int,
    known: Vocabulary,
    now: datetime,
    session: Session,
    zone: str = "UTC",
) -> AlertView:
    status = alert_status(campaign, session=session)
    counted = campaign.status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED)
    topics = [str(t) for t in campaign.context.get("topics", [])]
    by_topics = campaign.context.get("audience") == "topics"
    by_language: Counter[str] = Counter()
    if counted:  # as the email is rendered: a language not offered gets the original's
        by_language.update(
            i18n.supported(language) or ORIGINAL
            for _id, language in alert_readers(campaign, session=session)
        )
    return AlertView(
        row=row_of(campaign, status["counts"]),
        audience="topics" if by_topics else "all",
        topic_labels=[known.label(t) for t in topics] if by_topics else [],
        approved_by=list(status["approved_by"]),
        needed=needed,
        audience_size=by_language.total(),
        created_by=campaign.created_by,
        created_at=campaign.created_at,
        approved_at=campaign.approved_at,
        finished_at=campaign.finished_at,
        expired=campaign.expires_at is not None and campaign.expires_at <= now,
        viewer=viewer,
        send_at=campaign.send_at,
        send_at_text=local_time(campaign.send_at, zone) if campaign.send_at else "",
        version=version_of(campaign),
        now=now,
        translations=translations_of(campaign.id, session=session),
        readers_by_language=dict(by_language),
        has_link=bool(campaign.context.get("link")),
    )


def alert_view_for(
    campaign: Campaign,
    *,
    viewer: str,
    settings: Settings,
    now: datetime,
    session: Session,
    known: Vocabulary | None = None,
) -> AlertView:
    """``alert_view`` as the console's pages show it: the approvals the settings require,
    their topics (``known``, else read from the relevance rules) and time zone."""
    return alert_view(
        campaign,
        viewer=viewer,
        needed=settings.alert_approvers,
        known=known if known is not None else vocabulary(settings.relevance_file),
        now=now,
        session=session,
        zone=settings.console_timezone,
    )
