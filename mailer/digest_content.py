"""What one reader's digest says: the week's items their topics select, in sections.

Readers whose mail would be identical (same language, same items in the same order, same
template) share a *content*, named by a content key that is worked out when the issue is
created and stored on each delivery; a worker renders each content once, however many
different topic sets lead to it. Subject, preheader and counts come from the content,
never from the week's total.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.feeds.sanitise import shorten
from mailer.models import Campaign, Item, Source

SUMMARY_CHARS = 220
_SYMBOL = re.compile(r"^un-press:([a-z]+)\d")
# Distinct (language, topics) choices remembered while an issue is created: far more than
# real lists have, and small enough that memory stays flat on any list.
_CHOICE_CACHE = 50_000


@dataclass(frozen=True)
class Section:
    key: str
    title: str


# Global Centre first, then the UN organs, then UN News.
SECTIONS = (
    Section("global-centre", "Global Centre for R2P: atrocity alerts and publications"),
    Section("security-council", "UN Security Council"),
    Section("general-assembly", "UN General Assembly"),
    Section("human-rights-council", "UN Human Rights Council"),
    Section("secretary-general", "UN Secretary-General"),
    Section("un-press", "Other UN meetings and press releases"),
    Section("un-news", "UN News"),
)
_SECTION_ORDER = {s.key: n for n, s in enumerate(SECTIONS)}
_PRESS_SECTIONS = {
    "sc": "security-council",
    "ga": "general-assembly",
    "hrc": "human-rights-council",
    "sgsm": "secretary-general",
    "sg": "secretary-general",
}


@dataclass(frozen=True)
class WeekItem:
    """What selecting and ordering an item needs, without its text."""

    id: int
    topics: frozenset[str]
    section: str


@dataclass(frozen=True)
class Content:
    """One distinct mail of an issue: these items, in this order, in this language."""

    key: str
    language: str
    item_ids: tuple[int, ...]


def item_topics(tags: dict[str, Any]) -> set[str]:
    topics = set(tags.get("crimes", [])) | set(tags.get("countries", []))
    if tags.get("r2p"):
        topics.add("r2p")
    return topics


def section_of(item: Item, source: Source) -> str:
    if source.always_relevant or source.key.startswith("globalr2p"):
        return "global-centre"
    if match := _SYMBOL.match(item.dedupe_key):
        return _PRESS_SECTIONS.get(match.group(1), "un-press")
    return "un-news"


def week_items(entries: dict[int, tuple[Item, Source]]) -> list[WeekItem]:
    """The issue's items (from ``load_entries``) in reading order: by section, newest
    first within each."""
    newest_first = sorted(
        entries.values(), key=lambda pair: (pair[0].published_at, pair[0].id), reverse=True
    )
    items = [
        WeekItem(item.id, frozenset(item_topics(item.tags)), section_of(item, source))
        for item, source in newest_first
    ]
    return sorted(items, key=lambda w: _SECTION_ORDER[w.section])  # stable: keeps recency


# Languages the digest is written in. A reader's content is keyed by the language their
# mail is rendered in: until a language has its own templates (gettext catalogues), its
# readers get the English mail, byte for byte, and share its renders.
MAIL_LANGUAGES = frozenset({"en"})


def mail_language(language: str) -> str:
    return language if language in MAIL_LANGUAGES else "en"


def content_key(template: str, language: str, item_ids: Iterable[int]) -> str:
    """Equal for equal mail; short enough to index. The language stays readable."""
    digest = hashlib.sha256(f"{template}|{','.join(map(str, item_ids))}".encode()).hexdigest()
    return f"{language}:{digest[:24]}"


class ContentPlanner:
    """Maps each reader's (language, topics) to their content, remembering choices already
    seen, so creating an issue for 100,000 readers costs one set test per distinct choice."""

    def __init__(self, items: Sequence[WeekItem], template: str = "digest") -> None:
        self.items = items
        self.template = template
        self.contents: dict[str, Content] = {}
        self._choices: OrderedDict[tuple[str, frozenset[str]], Content | None] = OrderedDict()

    def select(self, topics: Iterable[str]) -> tuple[int, ...]:
        """The item ids a reader with these topics gets; no topics means everything."""
        wanted = frozenset(topics)
        if not wanted:
            return tuple(w.id for w in self.items)
        return tuple(w.id for w in self.items if wanted & w.topics)

    def content_for(self, language: str, topics: Iterable[str]) -> Content | None:
        """The reader's content, or None when nothing this week matches their topics."""
        choice = (mail_language(language), frozenset(topics))
        if choice in self._choices:
            self._choices.move_to_end(choice)
            return self._choices[choice]
        ids = self.select(choice[1])
        content = None
        if ids:
            key = content_key(self.template, choice[0], ids)
            content = self.contents.setdefault(key, Content(key, choice[0], ids))
        self._choices[choice] = content
        if len(self._choices) > _CHOICE_CACHE:
            self._choices.popitem(last=False)
        return content


def load_entries(item_ids: Iterable[int], *, session: Session) -> dict[int, tuple[Item, Source]]:
    """Items with their sources, by id: one query for every content a worker renders."""
    rows = session.execute(
        select(Item, Source)
        .join(Source, Source.id == Item.source_id)
        .where(Item.id.in_(set(item_ids)))
    )
    return {item.id: (item, source) for item, source in rows}


def digest_context(
    campaign: Campaign,
    item_ids: Sequence[int],
    entries: dict[int, tuple[Item, Source]],
    *,
    settings: Settings,
    limit: int | None = None,
) -> dict[str, Any]:
    """The template context for a reader who gets ``item_ids`` (in reading order).
    Sections stop at ``limit`` items (default R2P_DIGEST_SECTION_LIMIT) and link to the
    rest; ``total`` and ``lead`` describe this reader's mail, not the week's."""
    archive = f"{settings.base_url}/archive/{campaign.key}"
    grouped: dict[str, list[dict[str, Any]]] = {s.key: [] for s in SECTIONS}
    for item_id in item_ids:
        if item_id not in entries:  # deleted since the issue was made
            continue
        item, source = entries[item_id]
        grouped[section_of(item, source)].append(
            {
                "title": item.title,
                "url": item.url or archive,
                "source": source.title or source.key,
                "published_at": item.published_at,
                "summary": shorten(item.summary_text, SUMMARY_CHARS),
            }
        )
    limit = limit or settings.digest_section_limit
    sections: list[dict[str, Any]] = [
        {
            "key": s.key,
            "title": s.title,
            "items": grouped[s.key][:limit],
            "more": max(len(grouped[s.key]) - limit, 0),
            "more_url": f"{archive}#{s.key}",
        }
        for s in SECTIONS
        if grouped[s.key]
    ]
    since = datetime.fromisoformat(campaign.context["since"]).astimezone(UTC)
    until = datetime.fromisoformat(campaign.context["until"]).astimezone(UTC)
    return {
        "period": campaign.context["period"],
        "since": since,
        "until": until,
        "sections": sections,
        "total": sum(len(v) for v in grouped.values()),
        "lead": sections[0]["items"][0] if sections else None,
        "archive_url": archive,
    }
