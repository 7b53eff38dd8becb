"""Storing feed items once, and recording each source's health.

A story already stored (same dedupe key from any source, or same uid in this source) is
skipped by the database itself (``ON CONFLICT DO NOTHING``), so concurrent pollers cannot
store it twice either.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.db import dialect_insert
from mailer.feeds.normalise import Entry
from mailer.feeds.sanitise import plain_text
from mailer.feeds.tagging import Tagger
from mailer.models import Item, Source


def store_entries(
    source: Source,
    entries: list[Entry],
    *,
    tagger: Tagger,
    fetched_at: datetime,
    session: Session,
) -> int:
    """Insert the entries not stored yet; returns how many were new."""
    unique: dict[str, Entry] = {}
    for entry in entries:
        unique.setdefault(entry.dedupe_key, entry)
    if not unique:
        return 0
    known = set(session.scalars(select(Item.dedupe_key).where(Item.dedupe_key.in_(unique))))
    known_uids = set(
        session.scalars(
            select(Item.uid).where(
                Item.source_id == source.id, Item.uid.in_([e.uid for e in unique.values()])
            )
        )
    )
    rows = []
    for entry in unique.values():
        if entry.dedupe_key in known or entry.uid in known_uids:
            continue
        tags = tagger.tag(
            title=entry.title,
            text=f"{entry.summary_text}\n{entry.body_text}",
            source_key=source.key,
            always_relevant=source.always_relevant,
        )
        rows.append(
            {
                "source_id": source.id,
                "uid": entry.uid,
                "dedupe_key": entry.dedupe_key,
                "url": entry.url,
                "title": entry.title,
                "author": entry.author,
                "summary_html": entry.summary_html,
                "summary_text": entry.summary_text,
                "published_at": entry.published_at,
                "fetched_at": fetched_at,
                "tags": tags.as_json(),
                "relevance": tags.relevance,
                "relevant": tags.relevant,
            }
        )
    if not rows:
        return 0
    statement = dialect_insert(session)(Item).on_conflict_do_nothing().returning(Item.id)
    return len(session.scalars(statement, rows).all())


def record_success(source: Source, *, at: datetime, entries_seen: int | None) -> None:
    """A good answer; ``entries_seen`` is None when the feed was unchanged (not parsed)."""
    source.last_polled_at = at
    source.last_success_at = at
    source.consecutive_failures = 0
    if entries_seen == 0:
        source.empty_responses += 1
        source.last_empty_at = at


def record_failure(source: Source, *, at: datetime, reason: str) -> None:
    """A failed poll; ``reason`` (often quoting the server) is stored as plain text."""
    source.last_polled_at = at
    source.last_error = plain_text(reason, 1000)
    source.last_error_at = at
    source.consecutive_failures += 1
