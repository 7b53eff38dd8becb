"""Story clusters: the week's items about one event, shown as one digest entry.

Two items are about the same event when

- they share a UN document or meeting symbol: a press release's own symbol (``SC/16444``,
  from its press.un.org URL or named in another item's text), a meeting record
  (``S/PV.9876``), a report (``A/81/412``, ``S/2026/874``), or a resolution adopted
  that year (``resolution 2736 (2026)``);
- one links to the other (a link in its summary leads to the other's story);
- they name a country in common (or both name none) and their titles closely match (at
  least three distinctive title words shared, 40% of the shorter title's), or, published within
  ``NEAR_IN_TIME`` of each other, their titles and summaries do (at least
  ``MIN_SHARED_TEXT_WORDS`` words, ``TEXT_SHARE`` of the smaller set); a round-up naming
  ``ROUND_UP_COUNTRIES`` or more countries (an Atrocity Alert) joins nothing by words.

Clusters are the connected groups of that relation (union-find over the items in id order),
so they do not depend on the order items arrive in, and any union of whole clusters
clusters to the same clusters again: a reader's content (whole stories selected by topic)
regroups exactly as the week did. Comparing titles only between items that name a
country in common (or none) keeps the work small (a week is a few hundred items).

Which item speaks for the story (title, link, summary): see ``source_rank``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mailer.feeds.normalise import canonical_url, dedupe_key
from mailer.models import Item, Source

# Press-release symbol prefixes as press.un.org URLs spell them (sc16444, sgsm22845).
_PRESS_PREFIXES = {
    "sgsm": "SG/SM",
    "dsgsm": "DSG/SM",
    "sga": "SG/A",
    "gashc": "GA/SHC",
    "gaspd": "GA/SPD",
    "gaef": "GA/EF",
    "gal": "GA/L",
    "gaab": "GA/AB",
    "gadis": "GA/DIS",
}
_KEY_SYMBOL = re.compile(r"^([a-z]+)(\d+)$")
_TEXT_PRESS_SYMBOL = re.compile(
    r"\b((?:SC|GA|SG/SM|DSG/SM|SG/A|GA/[A-Z]{1,3}|HR|ECOSOC)/\d{4,6})\b"
)
_TEXT_MEETING = re.compile(r"\b([SA]/(?:[A-Z0-9.-]+/)*PV\.\d+)\b")
_TEXT_DOCUMENT = re.compile(r"\b([SA]/\d{2,4}/\d+)\b")
_TEXT_RESOLUTION = re.compile(r"\bresolution\s+(\d{3,4})\s*\((\d{4})\)", re.IGNORECASE)
_HREF = re.compile(r"""href\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]{3,}|\d{3,}")
# Words too common in UN headlines to tell one event from another.
_COMMON_WORDS = """the and for with from into over under after before amid about against between
    this that these those its their his her has have had was were will would could should
    not are but new says said say warns warn calls call urges urge amid also more than
    un united nations council security general assembly secretary human rights
    statement press release briefing meeting news update"""
_STOPWORDS = frozenset(_COMMON_WORDS.split())
MIN_SHARED_WORDS = 3
SHARED_SHARE = 0.4
MIN_SHARED_TEXT_WORDS = 6
TEXT_SHARE = 0.3
NEAR_IN_TIME = timedelta(hours=36)
ROUND_UP_COUNTRIES = 3


def is_global_centre(source: Source) -> bool:
    """The source's registry entry puts it in the Global Centre's section
    (``section = "global-centre"`` in sources.toml, or ``feeds add --section``)."""
    return source.section == "global-centre"


def is_live_blog(item: Item) -> bool:
    return "/blog/" in item.url


def source_rank(item: Item, source: Source) -> int:
    """Which item speaks for a story, lowest first: the Global Centre's own publication
    (the analysis readers subscribed for), then the UN press release (the official record
    of the meeting, with its symbol), then UN News, then any other source, then a meeting's
    live blog (written while the meeting runs, superseded by its press release). Equal
    ranks go to the earliest published, then the lowest id, so the choice is stable."""
    if is_global_centre(source):
        return 0
    if item.dedupe_key.startswith("un-press:"):
        return 4 if is_live_blog(item) else 1
    if item.dedupe_key.startswith("un-news:"):
        return 2
    return 3


def press_symbol(key_part: str) -> str:
    """``sc16444`` -> ``SC/16444``; ``sgsm22845`` -> ``SG/SM/22845``."""
    match = _KEY_SYMBOL.match(key_part)
    if match is None:
        return key_part.upper()
    letters, digits = match.groups()
    return f"{_PRESS_PREFIXES.get(letters, letters.upper())}/{digits}"


def own_symbols(item: Item) -> list[str]:
    """The press-release symbols an item is itself (from its press.un.org dedupe key)."""
    if not item.dedupe_key.startswith("un-press:"):
        return []
    return [press_symbol(part) for part in item.dedupe_key.removeprefix("un-press:").split("-")]


def symbols_of(item: Item) -> set[str]:
    """Every UN symbol that ties an item to one event: its own, and those its text names
    (a resolution only when adopted the year the item was published)."""
    text = f"{item.title}\n{item.summary_text}"
    found = set(own_symbols(item))
    found.update(_TEXT_PRESS_SYMBOL.findall(text))
    found.update(_TEXT_MEETING.findall(text))
    found.update(_TEXT_DOCUMENT.findall(text))
    year = str(item.published_at.year)
    found.update(
        f"S/RES/{number} ({adopted})"
        for number, adopted in _TEXT_RESOLUTION.findall(text)
        if adopted == year
    )
    return found


def linked_keys(item: Item) -> set[str]:
    """The dedupe keys of the stories an item's summary links to."""
    keys = set()
    for href in _HREF.findall(item.summary_html):
        if href.startswith(("http://", "https://")):
            keys.add(dedupe_key(canonical_url(href), href))
    return keys


def title_words(title: str) -> frozenset[str]:
    """Distinctive words of a title, folded (plural ``s`` dropped), without stopwords."""
    words = (w.casefold() for w in _WORD.findall(title))
    return frozenset(w.removesuffix("s") for w in words if w not in _STOPWORDS)


def words_match(a: frozenset[str], b: frozenset[str], least: int, share: float) -> bool:
    shared = len(a & b)
    return shared >= least and shared >= share * min(len(a), len(b))


@dataclass(frozen=True)
class _Words:
    """What comparing two items by their words needs."""

    title: frozenset[str]
    text: frozenset[str]
    published_at: datetime
    round_up: bool

    @classmethod
    def of(cls, item: Item) -> _Words:
        return cls(
            title_words(item.title),
            title_words(f"{item.title} {item.summary_text}"),
            item.published_at,
            len(item.tags.get("countries", [])) >= ROUND_UP_COUNTRIES,
        )

    def matches(self, other: _Words) -> bool:
        if self.round_up or other.round_up:
            return False
        if words_match(self.title, other.title, MIN_SHARED_WORDS, SHARED_SHARE):
            return True
        return abs(self.published_at - other.published_at) <= NEAR_IN_TIME and words_match(
            self.text, other.text, MIN_SHARED_TEXT_WORDS, TEXT_SHARE
        )


class _Groups:
    """Union-find over positions; the root of a group is its lowest position."""

    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def root(self, n: int) -> int:
        while self.parent[n] != n:
            self.parent[n] = self.parent[self.parent[n]]
            n = self.parent[n]
        return n

    def join(self, a: int, b: int) -> None:
        ra, rb = self.root(a), self.root(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _join_shared(groups: _Groups, owners: dict[str, list[int]]) -> None:
    for positions in owners.values():
        for other in positions[1:]:
            groups.join(positions[0], other)


def _join_links(groups: _Groups, items: Sequence[Item]) -> None:
    by_key: dict[str, int] = {}
    for n, item in enumerate(items):
        by_key[item.dedupe_key] = n
        if item.url:
            by_key.setdefault(dedupe_key(item.url, item.uid), n)
    for n, item in enumerate(items):
        for key in linked_keys(item):
            if key in by_key:
                groups.join(n, by_key[key])


def _join_words(groups: _Groups, items: Sequence[Item]) -> None:
    words = [_Words.of(item) for item in items]
    by_country: dict[str, list[int]] = defaultdict(list)
    for n, item in enumerate(items):
        for country in item.tags.get("countries") or [""]:  # "": the items naming none
            by_country[country].append(n)
    for positions in by_country.values():
        for i, a in enumerate(positions):
            for b in positions[i + 1 :]:
                if groups.root(a) != groups.root(b) and words[a].matches(words[b]):
                    groups.join(a, b)


def cluster(entries: Iterable[tuple[Item, Source]]) -> list[list[tuple[Item, Source]]]:
    """The items grouped by event, each group in ``source_rank`` order (its lead first);
    groups come in the order of their lowest item id. Items in different languages are
    never one story (UN News in French and its English twin share story links): a
    reader gets one language's version of an event, ``mailer.digest_content`` decides
    which."""
    by_language: dict[str, list[tuple[Item, Source]]] = defaultdict(list)
    for pair in entries:
        by_language[pair[0].language or "en"].append(pair)
    groups = [group for pairs in by_language.values() for group in _cluster(pairs)]
    return sorted(groups, key=lambda members: min(item.id for item, _ in members))


def _cluster(entries: list[tuple[Item, Source]]) -> list[list[tuple[Item, Source]]]:
    pairs = sorted(entries, key=lambda pair: pair[0].id)
    items = [item for item, _ in pairs]
    groups = _Groups(len(items))
    owners: dict[str, list[int]] = defaultdict(list)
    for n, item in enumerate(items):
        for symbol in symbols_of(item):
            owners[symbol].append(n)
    _join_shared(groups, owners)
    _join_links(groups, items)
    _join_words(groups, items)
    grouped: dict[int, list[tuple[Item, Source]]] = defaultdict(list)
    for n, pair in enumerate(pairs):
        grouped[groups.root(n)].append(pair)
    return [
        sorted(members, key=lambda p: (source_rank(*p), p[0].published_at, p[0].id))
        for _root, members in sorted(grouped.items())
    ]


@dataclass(frozen=True)
class Story:
    """One event of the week: its items, the one that speaks for it first."""

    item_ids: tuple[int, ...]
    topics: frozenset[str]
    global_centre: bool
    newest: datetime
    # The language it is written in, its lead item's source and the keys of all its sources.
    language: str = "en"
    lead_source: str = ""
    source_keys: frozenset[str] = frozenset()


def item_topics(tags: dict[str, Any]) -> set[str]:
    """The reader topics an item's tags name: crimes, countries, and ``r2p``."""
    topics = set(tags.get("crimes", [])) | set(tags.get("countries", []))
    if tags.get("r2p"):
        topics.add("r2p")
    return topics


def story_of(members: Sequence[tuple[Item, Source]]) -> Story:
    return Story(
        item_ids=tuple(item.id for item, _ in members),
        topics=frozenset().union(*(item_topics(item.tags) for item, _ in members)),
        global_centre=any(is_global_centre(source) for _, source in members),
        newest=max(item.published_at for item, _ in members),
        language=members[0][0].language or "en",
        lead_source=members[0][1].key,
        source_keys=frozenset(source.key for _, source in members),
    )
