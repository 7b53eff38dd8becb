"""The digest archive in each of the six languages: an issue as a reader of that language
who follows everything got it (the stories of its sources in that language, and English
ones that none of them covers), with its subject in that language. English is the issue
as stored; another language has an issue only when the issue carries stories in it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from mailer import i18n
from mailer.config import Settings
from mailer.digest import archive_issues
from mailer.digest_content import (
    ContentPlanner,
    digest_context,
    load_entries,
    source_coverage,
    week_stories,
)
from mailer.models import Campaign, Item, Source


def _selection(
    entries: dict[int, tuple[Item, Source]], language: str, *, session: Session
) -> tuple[int, ...]:
    """The item ids a reader of ``language`` who follows everything got (none when the
    issue has no story in another language than English)."""
    english = language == i18n.DEFAULT
    if not english and not any(item.language == language for item, _ in entries.values()):
        return ()
    planner = ContentPlanner(week_stories(entries), coverage=source_coverage(session=session))
    content = planner.content_for(language, [])
    return content.item_ids if content is not None else ()


def _in_language(
    campaign: Campaign,
    entries: dict[int, tuple[Item, Source]],
    language: str,
    *,
    settings: Settings,
    session: Session,
) -> dict[str, Any] | None:
    ids = _selection(entries, language, session=session)
    if not ids:
        return None
    ctx = digest_context(
        campaign, ids, entries, settings=settings, limit=len(ids), language=language
    )
    # English keeps the issue's stored title (the one editors and lists know it by).
    subject = campaign.subject if language == i18n.DEFAULT else ctx["subject"]
    return {**ctx, "campaign": campaign, "subject": subject}


def issue_in(
    key: str, language: str, *, settings: Settings, session: Session
) -> dict[str, Any] | None:
    """One published issue in ``language`` with every story, or None (no such issue, or
    nothing in it is in that language)."""
    campaign = next((c for c in archive_issues(session=session) if c.key == key), None)
    if campaign is None:
        return None
    entries = load_entries(campaign.context["item_ids"], session=session)
    return _in_language(campaign, entries, language, settings=settings, session=session)


def issues_in(language: str, *, settings: Settings, session: Session) -> list[dict[str, Any]]:
    """The published issues that have stories in ``language``, newest first: key, subject
    in that language, date and the number of items a reader of it got."""
    listed = []
    for campaign in archive_issues(session=session):
        entries = load_entries(campaign.context["item_ids"], session=session)
        ids = _selection(entries, language, session=session)
        if not ids:
            continue
        subject = campaign.subject
        if language != i18n.DEFAULT:  # the title a reader of it got: laid out once
            ctx = digest_context(campaign, ids, entries, settings=settings, language=language)
            subject = str(ctx["subject"])
        date: datetime = campaign.approved_at or campaign.created_at
        listed.append({"key": campaign.key, "subject": subject, "date": date, "count": len(ids)})
    return listed
