"""Stored items as staff browse them, and an editor's relevance override.

``find_items`` lists items newest first, a page at a time, found by words in the title or
summary, source, publication dates, tag and verdict; each row says which terms made the
item relevant (``Reason``: the tag, its label and kind from the relevance rules, and the
term as the item wrote it, from ``tags.matched``).

``override`` records an editor's "relevant" or "not relevant" (or hands the item back to
the rules): ``items.relevant`` becomes the editor's verdict, the rules' own is kept in
``rules_relevant`` while the override stands, and polling writes there instead
(``mailer.feeds.store``), so no later poll undoes it. Digest selection reads
``items.relevant`` and so follows it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from math import ceil
from pathlib import Path
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from mailer.db import get_by_id
from mailer.errors import ItemError
from mailer.feeds.tagging import load_tagger
from mailer.models import Item, Source

PAGE_SIZE = 25
VERDICTS = {
    "relevant": "Relevant",
    "not-relevant": "Not relevant",
    "overridden": "Set by an editor",
}
# Verdicts staff may give: "rules" hands the item back to the relevance rules.
MARKS = {"relevant": True, "not-relevant": False, "rules": None}


@dataclass(frozen=True)
class ItemFilter:
    text: str = ""
    source: str = ""  # a source key
    since: date | None = None  # published on or after
    until: date | None = None  # published on or before
    tag: str = ""
    verdict: str = ""  # "", or a key of VERDICTS


@dataclass(frozen=True)
class Reason:
    """One tag of an item: what it is and the words that made it."""

    tag: str
    label: str
    kind: str  # crime, r2p, risk or country
    term: str  # as the item wrote it; "" for items tagged before terms were kept


@dataclass(frozen=True)
class ItemRow:
    id: int
    title: str
    url: str
    summary: str
    source_key: str
    source_title: str
    published_at: datetime
    fetched_at: datetime
    relevance: int
    relevant: bool
    rules_relevant: bool
    override: bool | None
    override_by: str | None
    override_at: datetime | None
    reasons: list[Reason] = field(default_factory=list)


@dataclass(frozen=True)
class ItemPage:
    rows: list[ItemRow]
    total: int
    page: int
    pages: int


def rules_verdict(item: Item) -> bool:
    """What the relevance rules say of the item, whatever an editor decided."""
    if item.relevance_override is None:
        return item.relevant
    return bool(item.rules_relevant)


def tags_of(tags: dict[str, Any]) -> list[str]:
    """Every tag of a stored item (crimes, R2P, risks, countries), in the tagger's order."""
    matched = tags.get("matched") or {}
    found = list(matched)
    for key in ("crimes", "risks", "countries"):
        found += [tag for tag in tags.get(key) or [] if tag not in found]
    if tags.get("r2p") and not matched:  # tagged before terms were kept
        found.append("r2p")
    return found


def reasons(tags: dict[str, Any], relevance_file: Path | None = None) -> list[Reason]:
    """Why the item has each of its tags, labelled as the relevance rules name them."""
    rules = {r.tag: r for r in load_tagger(relevance_file).rules}
    matched = tags.get("matched") or {}
    out = []
    for tag in tags_of(tags):
        rule = rules.get(tag)
        label = rule.label if rule is not None else tag.replace("-", " ").capitalize()
        kind = rule.kind if rule is not None else _kind_of(tag, tags)
        out.append(Reason(tag, label, kind, str(matched.get(tag, ""))))
    return out


def _kind_of(tag: str, tags: dict[str, Any]) -> str:
    if tag in (tags.get("crimes") or []):
        return "crime"
    if tag in (tags.get("risks") or []):
        return "risk"
    if tag in (tags.get("countries") or []):
        return "country"
    return "r2p"


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _query(wanted: ItemFilter) -> Select[Item, Source]:
    query = select(Item, Source).join(Source, Source.id == Item.source_id)
    if wanted.text:
        pattern = _like(wanted.text)
        query = query.where(
            or_(
                Item.title.ilike(pattern, escape="\\"),
                Item.summary_text.ilike(pattern, escape="\\"),
            )
        )
    if wanted.source:
        query = query.where(Source.key == wanted.source)
    if wanted.since is not None:
        query = query.where(Item.published_at >= datetime.combine(wanted.since, time(), UTC))
    if wanted.until is not None:
        end = datetime.combine(wanted.until + timedelta(days=1), time(), UTC)
        query = query.where(Item.published_at < end)
    if wanted.verdict == "relevant":
        query = query.where(Item.relevant)
    elif wanted.verdict == "not-relevant":
        query = query.where(Item.relevant.is_(False))
    elif wanted.verdict == "overridden":
        query = query.where(Item.relevance_override.is_not(None))
    return query.order_by(Item.published_at.desc(), Item.id.desc())


def _row(item: Item, source: Source, relevance_file: Path | None) -> ItemRow:
    return ItemRow(
        id=item.id,
        title=item.title,
        url=item.url,
        summary=item.summary_text,
        source_key=source.key,
        source_title=source.title or source.key,
        published_at=item.published_at,
        fetched_at=item.fetched_at,
        relevance=item.relevance,
        relevant=item.relevant,
        rules_relevant=rules_verdict(item),
        override=item.relevance_override,
        override_by=item.override_by,
        override_at=item.override_at,
        reasons=reasons(item.tags or {}, relevance_file),
    )


def _matching(wanted: ItemFilter, session: Session) -> Iterator[tuple[Item, Source]]:
    """The items the filter selects, newest first. The tag is checked here rather than in
    SQL, where the JSON column reads differently on each database."""
    for item, source in session.execute(_query(wanted)):
        if not wanted.tag or wanted.tag in tags_of(item.tags or {}):
            yield item, source


def find_items(
    wanted: ItemFilter,
    *,
    page: int = 1,
    session: Session,
    relevance_file: Path | None = None,
    page_size: int = PAGE_SIZE,
) -> ItemPage:
    """One page of the items the filter selects, and how many it selects in all."""
    if wanted.tag:
        found = list(_matching(wanted, session))
        total = len(found)
    else:  # counted and paged by the database
        query = _query(wanted)
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, ceil(total / page_size))
    page = min(max(1, page), pages)
    start = (page - 1) * page_size
    if wanted.tag:
        chosen = found[start : start + page_size]
    else:
        chosen = [(i, s) for i, s in session.execute(query.offset(start).limit(page_size))]
    rows = [_row(item, source, relevance_file) for item, source in chosen]
    return ItemPage(rows=rows, total=total, page=page, pages=pages)


def get_item(item_id: int, *, session: Session, lock: bool = False) -> Item:
    """The item, locked against a poll replacing it meanwhile with ``lock``; ItemError if
    there is none."""
    item = get_by_id(Item, item_id, session=session)
    if item is None:
        raise ItemError(f"no item {item_id}")
    if lock:
        session.refresh(item, with_for_update=True)
    return item


def override(item: Item, verdict: bool | None, *, by: str, at: datetime) -> None:
    """An editor's verdict on the item (None: the rules decide again)."""
    if verdict is None:
        if item.relevance_override is not None:
            item.relevant = bool(item.rules_relevant)
        item.relevance_override = item.rules_relevant = None
        item.override_by = item.override_at = None
        return
    if item.relevance_override is None:
        item.rules_relevant = item.relevant
    item.relevance_override = verdict
    item.relevant = verdict
    item.override_by = by
    item.override_at = at
