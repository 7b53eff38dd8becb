"""Writing an alert's translations: add or replace one language's words, or remove them,
while the alert is a draft. Like an edit of the original, a change clears the approvals
given so far: approvers approve every version readers will get.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.alert_versions import Translation, check_language, validate_translation
from mailer.alerts import clear_approvals, editable
from mailer.models import AlertTranslation, Campaign
from mailer.outbox.campaigns import lock_campaign


@dataclass(frozen=True)
class TranslationChange:
    """What a change did: the language's words before and after (None: there were none,
    or there are none now), and the approvals it cleared."""

    language: str
    before: dict[str, str] | None
    after: dict[str, str] | None
    approvals_cleared: list[str]

    @property
    def changed(self) -> bool:
        return self.before != self.after


def _row(campaign: Campaign, language: str, *, session: Session) -> AlertTranslation | None:
    return session.scalar(
        select(AlertTranslation).where(
            AlertTranslation.campaign_id == campaign.id, AlertTranslation.language == language
        )
    )


def _words(row: AlertTranslation | None) -> dict[str, str] | None:
    if row is None:
        return None
    return Translation(row.language, row.subject, row.body, row.link_text).as_dict()


def set_translation(
    campaign: Campaign, draft: Translation, *, by: str, now: datetime, session: Session
) -> TranslationChange:
    """Add or replace the alert's words in ``draft.language`` (validated); raises
    TranslationError (a bad field or language) or CampaignStateError (not a draft)."""
    clean = validate_translation(draft)
    lock_campaign(campaign, session=session)
    editable(campaign, now=now)
    row = _row(campaign, clean.language, session=session)
    before = _words(row)
    after = clean.as_dict()
    if before == after:
        return TranslationChange(clean.language, before, after, [])
    if row is None:
        row = AlertTranslation(campaign_id=campaign.id, language=clean.language)
        session.add(row)
    row.subject, row.body, row.link_text = clean.subject, clean.body, clean.link_text
    row.updated_at, row.updated_by = now, by
    cleared = clear_approvals(campaign, session=session)
    session.flush()
    return TranslationChange(clean.language, before, after, cleared)


def remove_translation(
    campaign: Campaign, language: str, *, now: datetime, session: Session
) -> TranslationChange:
    """Remove the alert's words in ``language``: its readers get the original again.
    Removing a translation that does not exist changes nothing."""
    code = check_language(language)
    lock_campaign(campaign, session=session)
    editable(campaign, now=now)
    row = _row(campaign, code, session=session)
    if row is None:
        return TranslationChange(code, None, None, [])
    before = _words(row)
    session.delete(row)
    cleared = clear_approvals(campaign, session=session)
    session.flush()
    return TranslationChange(code, before, None, cleared)
