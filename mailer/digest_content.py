"""What one reader's digest says: the week's stories their topics select, in sections.

A story is one event however many sources reported it (``mailer.digest_stories``). The
sections: the Global Centre's publications first, then one per country or situation of the
week (named as the relevance rules name it), then a thematic section for stories that name
no single country. Every date reads ``2 December 2026``.

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
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer import i18n
from mailer.config import Settings
from mailer.digest_review import Edits, note_html
from mailer.digest_stories import (
    Story,
    cluster,
    is_global_centre,
    is_live_blog,
    item_topics,
    own_symbols,
    story_of,
)
from mailer.email.render import reader_date
from mailer.feeds.sanitise import shorten
from mailer.feeds.tagging import load_tagger
from mailer.models import Campaign, Item, Source

__all__ = ["ContentPlanner", "Coverage", "item_topics", "source_coverage", "week_stories"]

SUMMARY_CHARS = 220
# A subject's headline longer than this is cut at a word boundary (", and N more" follows).
HEADLINE_CHARS = 90
# Situations a preheader names before "and more".
PREHEADER_SITUATIONS = 4
# Distinct (language, topics) choices remembered while an issue is created: far more than
# real lists have, and small enough that memory stays flat on any list.
_CHOICE_CACHE = 50_000

GLOBAL_CENTRE = "global-centre"
THEMATIC = "thematic"
GLOBAL_CENTRE_TITLE = i18n.N_("From the Global Centre for R2P")
THEMATIC_TITLE = i18n.N_("R2P, genocide prevention and the UN system")


@dataclass(frozen=True)
class Situations:
    """Country and situation names from the relevance rules (``R2P_RELEVANCE_FILE``) in
    each language they give, and which of them a text names, in the order it names them."""

    names: dict[str, dict[str, str]]
    patterns: dict[str, re.Pattern[str]]

    def named_in(self, text: str) -> list[str]:
        found = []
        for tag, pattern in self.patterns.items():
            if match := pattern.search(text):
                found.append((match.start(), tag))
        return [tag for _, tag in sorted(found)]

    def name(self, tag: str) -> str:
        """The name in the language of the rendering under way (English when the rules
        give none in it)."""
        labels = self.names.get(tag, {})
        return labels.get(i18n.current()) or labels.get("en") or tag.replace("-", " ").title()


@lru_cache(maxsize=4)
def situations(relevance_file: Path | None = None) -> Situations:
    rules = [r for r in load_tagger(relevance_file).rules if r.kind == "country"]
    return Situations(
        {r.tag: {**r.labels, "en": r.label} for r in rules}, {r.tag: r.terms for r in rules}
    )


def week_stories(entries: dict[int, tuple[Item, Source]]) -> list[Story]:
    """The stories of an issue's items (from ``load_entries``): the Global Centre's first,
    then newest first; this order only names contents, ``digest_context`` lays them out."""
    stories = [story_of(members) for members in cluster(entries.values())]
    return sorted(stories, key=lambda s: (not s.global_centre, -s.newest.timestamp()))


@dataclass(frozen=True)
class Content:
    """One distinct mail of an issue: these items, in this order, in this language."""

    key: str
    language: str
    item_ids: tuple[int, ...]


# Languages the digest is written in (the gettext catalogues). A reader's content is keyed
# by the language their mail is rendered in; any other stored language reads English.
MAIL_LANGUAGES = frozenset(i18n.LANGUAGES)


def mail_language(language: str) -> str:
    return language if language in MAIL_LANGUAGES else "en"


@dataclass(frozen=True)
class Coverage:
    """Which languages the sources are published in. A source in another language is the
    same source with the language code after its key (``un-news-all``, ``un-news-all-fr``):
    an English story is *covered* in French when the source of its lead item has a French
    twin, whose items French readers get instead (a UN News story that a press release
    also reports is UN News's; a Global Centre publication that UN News also reports is
    the Global Centre's)."""

    keys: frozenset[str]
    languages: frozenset[str]

    @classmethod
    def of(cls, sources: Iterable[tuple[str, str]]) -> Coverage:
        """From (key, language) of every source."""
        pairs = list(sources)
        return cls(frozenset(k for k, _ in pairs), frozenset(lang for _, lang in pairs))

    def covers(self, story: Story, language: str) -> bool:
        return bool(story.lead_source) and (
            _twin(story.lead_source, story.language, language) in self.keys
        )


def _twin(key: str, written_in: str, language: str) -> str:
    base = key.removesuffix(f"-{written_in}") if written_in != "en" else key
    return base if language == "en" else f"{base}-{language}"


def source_coverage(*, session: Session) -> Coverage:
    """Every source's key and language (enabled or not: a feed paused this week still
    speaks for its language)."""
    return Coverage.of(
        (key, language) for key, language in session.execute(select(Source.key, Source.language))
    )


def content_key(template: str, language: str, item_ids: Iterable[int]) -> str:
    """Equal for equal mail; short enough to index. The language stays readable."""
    digest = hashlib.sha256(f"{template}|{','.join(map(str, item_ids))}".encode()).hexdigest()
    return f"{language}:{digest[:24]}"


class ContentPlanner:
    """Maps each reader's (language, "also English", topics) to their content (whole
    stories), remembering choices already seen, so creating an issue for 100,000 readers
    costs one pass over the week's stories per distinct choice.

    A reader gets the stories written in their language when any source is published in
    it (``coverage``; by default, the languages of the week's stories), and English
    stories otherwise. With "also English" (the default), a reader of another language
    also gets the English stories no source in their language covers (a Global Centre
    publication, a press release), never an English UN News story whose French twin they
    get. Readers with equal items in an equal language share a content, whatever led to it."""

    def __init__(
        self, items: Sequence[Story], template: str = "digest", coverage: Coverage | None = None
    ) -> None:
        self.items = items
        self.template = template
        self.coverage = coverage or Coverage.of(
            (key, story.language) for story in items for key in story.source_keys
        )
        self.contents: dict[str, Content] = {}
        self._choices: OrderedDict[tuple[str, bool, frozenset[str]], Content | None] = OrderedDict()

    def _readable(self, story: Story, language: str, include_english: bool) -> bool:
        if story.language == language:
            return True
        return (
            story.language == "en" and include_english and not self.coverage.covers(story, language)
        )

    def select(
        self, topics: Iterable[str], language: str = "en", include_english: bool = True
    ) -> tuple[int, ...]:
        """The item ids a reader with these topics gets, whole stories at a time (a story
        is theirs when any of its items names one of their topics; none means everything)
        and in their language (see the class)."""
        wanted = frozenset(topics)
        if language not in self.coverage.languages:
            language, include_english = "en", True
        return tuple(
            item_id
            for story in self.items
            if (not wanted or wanted & story.topics)
            and self._readable(story, language, include_english)
            for item_id in story.item_ids
        )

    def content_for(
        self, language: str, topics: Iterable[str], include_english: bool = True
    ) -> Content | None:
        """The reader's content, or None when nothing this week matches their topics."""
        code = mail_language(language)
        choice = (code, include_english or code == "en", frozenset(topics))
        if choice in self._choices:
            self._choices.move_to_end(choice)
            return self._choices[choice]
        ids = self.select(choice[2], code, choice[1])
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


def story_situations(members: Sequence[tuple[Item, Source]], known: Situations) -> list[str]:
    """The countries or situations a story is about, the one it belongs under first: those
    its lead's title names (in title order), else the story's only country; a story that
    names several countries, none in its title, belongs to none (the thematic section)."""
    countries = {c for item, _ in members for c in item.tags.get("countries", [])}
    titled = [tag for tag in known.named_in(members[0][0].title) if tag in countries]
    if titled:
        return titled
    return sorted(countries) if len(countries) == 1 else []


def source_name(item: Item, source: Source) -> str:
    """How a reader knows a source: the Global Centre, the press release by its symbol,
    UN News, else the feed's own title."""
    if is_global_centre(source):
        return i18n.gettext("Global Centre for R2P")
    if symbols := own_symbols(item):
        live = is_live_blog(item)
        kind = i18n.gettext("UN live blog") if live else i18n.gettext("UN press release")
        return f"{kind} {', '.join(symbols)}"
    if item.dedupe_key.startswith("un-news:"):
        return i18n.gettext("UN News")
    return source.title or source.key


def headline(title: str, situation: str | None) -> str:
    """The lead story as a subject names it: ``Sudan: <title>``, unless the title names
    the situation already or opens with a dateline of its own (``Haiti: ...``)."""
    dateline = ":" in title[:40]
    if situation and not dateline and situation.casefold() not in title.casefold():
        return i18n.gettext("%(situation)s: %(title)s") % {"situation": situation, "title": title}
    return title


def subject_line(lead: str, total: int) -> str:
    """``<lead headline>, and N more``, the headline cut at a word boundary so the subject
    stays short enough to read in an inbox list."""
    short = shorten(lead, HEADLINE_CHARS)
    if total <= 1:
        return short
    more = i18n.ngettext(
        "%(headline)s, and %(count)s more", "%(headline)s, and %(count)s more", total - 1
    )
    return more % {"headline": short, "count": i18n.locale_number(total - 1)}


def story_id(members: Sequence[tuple[Item, Source]]) -> int:
    """How an editor names a story: its lowest item id."""
    return min(item.id for item, _ in members)


def _entry(
    members: Sequence[tuple[Item, Source]], situation: str | None, archive: str, edits: Edits
) -> dict[str, Any]:
    lead, _ = members[0]
    story = story_id(members)
    summary = next((i.summary_text for i, _ in members if i.summary_text.strip()), "")
    summary = edits.summaries.get(story, summary)
    title = edits.titles.get(story, lead.title)
    return {
        "id": story,
        "title": title,
        "headline": headline(title, situation),
        "url": lead.url or archive,
        "published_at": lead.published_at,
        "summary": shorten(summary, SUMMARY_CHARS),
        # An English story in an Arabic mail reads left to right (and the other way round).
        "language": lead.language or "en",
        "dir": i18n.direction(lead.language or "en"),
        "sources": [
            {"name": source_name(item, source), "url": item.url or archive}
            for item, source in members
        ],
    }


def _section_of(story: Sequence[tuple[Item, Source]], named: list[str]) -> str:
    if any(is_global_centre(source) for _, source in story):
        return GLOBAL_CENTRE
    return named[0] if named else THEMATIC


def _reports(stories: list[dict[str, Any]]) -> int:
    return sum(len(story["sources"]) for story in stories)


def _newest(stories: list[dict[str, Any]]) -> float:
    return max(float(story["published_at"].timestamp()) for story in stories)


def _ordered_sections(grouped: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The Global Centre first, then the situations most reported on (sources across their
    stories; ties: the newest story, then the name), then the thematic section."""
    countries = [k for k in grouped if k not in (GLOBAL_CENTRE, THEMATIC)]
    countries.sort(key=lambda k: (-_reports(grouped[k]), -_newest(grouped[k]), k))
    return [k for k in (GLOBAL_CENTRE, *countries, THEMATIC) if k in grouped]


def _editors_order(
    grouped: dict[str, list[dict[str, Any]]], order: list[str], edits: Edits
) -> list[str]:
    """Each section in the editor's order (stories never moved: newest first, after the
    moved ones), and the lead story first in its section, that section first."""
    for stories in grouped.values():
        stories.sort(key=lambda e: e["published_at"], reverse=True)
        stories.sort(key=lambda e: edits.rank(e["id"]))
    for key, stories in grouped.items():
        lead = [e for e in stories if e["id"] == edits.lead]
        if lead:
            grouped[key] = lead + [e for e in stories if e["id"] != edits.lead]
            return [key] + [k for k in order if k != key]
    return order


def lay_out(
    entries: Iterable[tuple[Item, Source]],
    known: Situations,
    archive: str,
    edits: Edits | None = None,
    *,
    keep_removed: bool = False,
) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(section key, title, entries) in reading order: newest first, unless an editor
    reordered them or chose a lead story. Stories the editor removed are left out (or,
    with ``keep_removed``, kept and marked, for the editor's own page)."""
    edits = edits or Edits()
    grouped: dict[str, list[dict[str, Any]]] = {}
    titles = {
        GLOBAL_CENTRE: i18n.gettext(GLOBAL_CENTRE_TITLE),
        THEMATIC: i18n.gettext(THEMATIC_TITLE),
    }
    for members in cluster(entries):
        removed = story_id(members) in edits.removed
        if removed and not keep_removed:
            continue
        named = story_situations(members, known)
        single = known.name(named[0]) if len(named) == 1 else None
        key = _section_of(members, named)
        titles.setdefault(key, known.name(key))
        entry = _entry(members, single, archive, edits)
        grouped.setdefault(key, []).append({**entry, "removed": removed})
    order = _editors_order(grouped, _ordered_sections(grouped), edits)
    return [(key, titles[key], grouped[key]) for key in order]


def preheader(lead: str, total: int, names: list[str], since: datetime, until: datetime) -> str:
    """``<lead>. 12 stories for you, 1 to 8 December 2026: Sudan, Gaza and more`` in the
    language of the rendering under way."""
    shown = names[:PREHEADER_SITUATIONS]
    about = i18n.locale_list(shown)
    if len(names) > len(shown):
        about = i18n.gettext("%(names)s and more") % {"names": about}
    count = i18n.ngettext("%(count)s story for you", "%(count)s stories for you", total) % {
        "count": i18n.locale_number(total)
    }
    when = period_words(since, until)
    line = i18n.gettext("%(lead)s. %(count)s, %(when)s") % {
        "lead": lead,
        "count": count,
        "when": when,
    }
    return i18n.gettext("%(line)s: %(about)s") % {"line": line, "about": about} if about else line


def period_words(since: datetime, until: datetime) -> str:
    """``1 December 2026 to 8 December 2026`` in the language of the rendering under way."""
    return i18n.gettext("%(since)s to %(until)s") % {
        "since": reader_date(since),
        "until": reader_date(until),
    }


def digest_context(
    campaign: Campaign,
    item_ids: Sequence[int],
    entries: dict[int, tuple[Item, Source]],
    *,
    settings: Settings,
    limit: int | None = None,
    language: str = i18n.DEFAULT,
) -> dict[str, Any]:
    """The template context for a reader who gets ``item_ids``: their items as stories,
    in sections, in ``language`` (section titles, source names, subject, preheader, dates).
    Sections stop at ``limit`` stories (default R2P_DIGEST_SECTION_LIMIT) and link to the
    rest; ``total``, ``subject`` and ``preheader`` describe this reader's mail, not the
    week's."""
    with i18n.use_language(mail_language(language)) as code:
        return {
            **_digest_context(campaign, item_ids, entries, settings=settings, limit=limit),
            "language": code,
        }


def _digest_context(
    campaign: Campaign,
    item_ids: Sequence[int],
    entries: dict[int, tuple[Item, Source]],
    *,
    settings: Settings,
    limit: int | None,
) -> dict[str, Any]:
    archive = f"{settings.base_url}/archive/{campaign.key}"
    if i18n.current() != i18n.DEFAULT:  # the issue on the web in the mail's language
        archive += f"?lang={i18n.current()}"
    mine = [entries[i] for i in item_ids if i in entries]  # an item deleted since is gone
    edits = Edits.of(campaign.context)
    laid_out = lay_out(mine, situations(settings.relevance_file), archive, edits)
    limit = limit or settings.digest_section_limit
    sections: list[dict[str, Any]] = [
        {
            "key": key,
            "title": title,
            "items": stories[:limit],
            "more": max(len(stories) - limit, 0),
            "more_url": f"{archive}#{key}",
        }
        for key, title, stories in laid_out
    ]
    since = datetime.fromisoformat(campaign.context["since"]).astimezone(UTC)
    until = datetime.fromisoformat(campaign.context["until"]).astimezone(UTC)
    total = sum(len(stories) for _, _, stories in laid_out)
    lead = sections[0]["items"][0] if sections else None
    names = [title for key, title, _ in laid_out if key not in (GLOBAL_CENTRE, THEMATIC)]
    return {
        "period": campaign.context["period"],
        "since": since,
        "until": until,
        "sections": sections,
        "total": total,
        "lead": lead,
        "subject": subject_line(lead["headline"], total) if lead else "",
        "preheader": preheader(lead["headline"], total, names, since, until) if lead else "",
        "archive_url": archive,
        "note_html": note_html(edits.note),
        "note_text": edits.note,
    }
