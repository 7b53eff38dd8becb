"""Storing feed items once, and recording each source's health.

A story already stored (same dedupe key from any source, or same uid in this source) is
skipped by the database itself (``ON CONFLICT DO NOTHING``), so concurrent pollers cannot
store it twice either, unless the new item outranks the stored one (``story_rank``: a
meeting's press release outranks its live blog). Then the stored row becomes the new item,
keeping its id and fetch time, by an update conditional on the row still holding the item
it replaces: repeated or concurrent polls replace it once, and a lower-ranked item (the
blog seen after its press release) never replaces a higher one. An editor's relevance
override on the stored row survives the replacement (``_keeping_override``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session

from mailer.db import dialect_insert
from mailer.feeds.normalise import RANK_OTHER, Entry, story_rank
from mailer.feeds.sanitise import plain_text
from mailer.feeds.tagging import Tagger
from mailer.models import Item, Source


def _best_per_story(entries: list[Entry]) -> dict[str, Entry]:
    """One entry per dedupe key: the first of the highest rank."""
    best: dict[str, Entry] = {}
    for entry in entries:
        current = best.get(entry.dedupe_key)
        if current is None or story_rank(entry.url) > story_rank(current.url):
            best[entry.dedupe_key] = entry
    return best


def _item_fields(source: Source, entry: Entry, tagger: Tagger) -> dict[str, Any]:
    """The columns an entry sets, tags included (not its fetch time)."""
    tags = tagger.tag(
        title=entry.title,
        text=f"{entry.summary_text}\n{entry.body_text}",
        source_key=source.key,
        always_relevant=source.always_relevant,
    )
    return {
        "source_id": source.id,
        "uid": entry.uid,
        "dedupe_key": entry.dedupe_key,
        "url": entry.url,
        "title": entry.title,
        "author": entry.author,
        "summary_html": entry.summary_html,
        "summary_text": entry.summary_text,
        "published_at": entry.published_at,
        "language": source.language,
        "tags": tags.as_json(),
        "relevance": tags.relevance,
        "relevant": tags.relevant,
    }


def _keeping_override(fields: dict[str, Any]) -> dict[str, Any]:
    """The values that make a stored row a newly tagged item without undoing an editor's
    override: while one stands, the rules' verdict goes to ``rules_relevant`` and
    ``relevant`` keeps the editor's (decided in the UPDATE itself, so an override made
    meanwhile still wins)."""
    verdict = fields["relevant"]
    overridden = Item.relevance_override.is_not(None)
    return {
        **fields,
        "relevant": case((overridden, Item.relevance_override), else_=verdict),
        "rules_relevant": case((overridden, verdict), else_=None),
    }


def _replace(session: Session, item_id: int, old_url: str, fields: dict[str, Any]) -> int:
    """Make the stored row ``item_id`` the new item if it still holds ``old_url``; 1 if it
    did. An editor's relevance override on the row stands."""
    result = session.execute(
        update(Item)
        .where(Item.id == item_id, Item.url == old_url)
        .values(**_keeping_override(fields))
        .execution_options(synchronize_session=False)
    )
    return 1 if getattr(result, "rowcount", 0) else 0


def stored_by_key(session: Session, keys: list[str]) -> dict[str, tuple[int, str]]:
    """(id, url) of the stored item of each of these dedupe keys that has one."""
    rows = session.execute(
        select(Item.dedupe_key, Item.id, Item.url).where(Item.dedupe_key.in_(keys))
    )
    return {key: (item_id, url) for key, item_id, url in rows}


def store_entries(
    source: Source,
    entries: list[Entry],
    *,
    tagger: Tagger,
    fetched_at: datetime,
    session: Session,
) -> int:
    """Insert the entries not stored yet, and let an entry replace a stored item of its
    story that it outranks; returns how many were stored (new or replacing)."""
    unique = _best_per_story(entries)
    if not unique:
        return 0
    known = stored_by_key(session, list(unique))
    known_uids = set(
        session.scalars(
            select(Item.uid).where(
                Item.source_id == source.id, Item.uid.in_([e.uid for e in unique.values()])
            )
        )
    )
    rows = []
    replaced = 0
    for entry in unique.values():
        if entry.uid in known_uids:
            continue
        if entry.dedupe_key in known:
            replaced += _replace_if_outranked(
                session, known[entry.dedupe_key], source, entry, tagger
            )
            continue
        rows.append({**_item_fields(source, entry, tagger), "fetched_at": fetched_at})
    if not rows:
        return replaced
    statement = dialect_insert(session)(Item).on_conflict_do_nothing().returning(Item.dedupe_key)
    inserted = set(session.scalars(statement, rows).all())
    return replaced + len(inserted) + _replace_lost_races(session, rows, inserted)


def _replace_if_outranked(
    session: Session, stored: tuple[int, str], source: Source, entry: Entry, tagger: Tagger
) -> int:
    item_id, old_url = stored
    if story_rank(entry.url) <= story_rank(old_url):
        return 0
    return _replace(session, item_id, old_url, _item_fields(source, entry, tagger))


def _replace_lost_races(session: Session, rows: list[dict[str, Any]], inserted: set[str]) -> int:
    """Rows another poller's item of the same story beat to the insert: those that outrank
    it replace it (a press release stored concurrently with its live blog)."""
    replaced = 0
    for row in rows:
        if row["dedupe_key"] in inserted or story_rank(row["url"]) == RANK_OTHER:
            continue
        stored = session.execute(
            select(Item.id, Item.url).where(Item.dedupe_key == row["dedupe_key"])
        ).first()
        if stored is not None and story_rank(row["url"]) > story_rank(stored.url):
            fields = {key: value for key, value in row.items() if key != "fetched_at"}
            replaced += _replace(session, stored.id, stored.url, fields)
    return replaced


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
