"""The editor's hand on a weekly issue: what an editor changed in a draft issue (entries
removed, their order, the lead story, a title or summary for this issue only, a note in
Markdown) and where the issue stands in its review (in review, approved, held).

Both live in the issue's own ``context`` under ``"review"`` (no column of their own): the
worker renders every reader's content from the campaign, so the edits reach every reader
through ``mailer.digest_content.digest_context``. A story is named by its lowest item id,
which removing other whole stories never changes (``mailer.digest_stories.cluster``).

The note is Markdown rendered by markdown-it-py with raw HTML disabled, then sanitised by
nh3 exactly as feed content is (``mailer.feeds.sanitise.clean_html``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import lru_cache
from typing import Any

from markdown_it import MarkdownIt

from mailer.feeds.sanitise import clean_html, one_line, strip_control

REVIEW_KEY = "review"
NOTE_CHARS = 5_000
TITLE_CHARS = 300
SUMMARY_CHARS = 1_000


class ReviewState(StrEnum):
    """A draft issue's review: in review -> approved (goes out at the slot) or held (the
    slot came first; an editor approves or sends it now)."""

    IN_REVIEW = "in review"
    APPROVED = "approved"
    HELD = "held"


@dataclass(frozen=True)
class Edits:
    """What an editor changed in one issue; empty for an issue nobody reviewed."""

    state: str = ""
    removed: frozenset[int] = frozenset()
    order: tuple[int, ...] = ()
    lead: int | None = None
    titles: dict[int, str] = field(default_factory=dict)
    summaries: dict[int, str] = field(default_factory=dict)
    note: str = ""

    @classmethod
    def of(cls, context: dict[str, Any]) -> Edits:
        raw = context.get(REVIEW_KEY) or {}
        return cls(
            state=str(raw.get("state", "")),
            removed=frozenset(int(s) for s in raw.get("removed", [])),
            order=tuple(int(s) for s in raw.get("order", [])),
            lead=int(raw["lead"]) if raw.get("lead") is not None else None,
            titles={int(k): str(v) for k, v in raw.get("titles", {}).items()},
            summaries={int(k): str(v) for k, v in raw.get("summaries", {}).items()},
            note=str(raw.get("note", "")),
        )

    def as_context(self) -> dict[str, Any]:
        """JSON for ``Campaign.context["review"]`` (keys as strings, lists sorted)."""
        return {
            "state": self.state,
            "removed": sorted(self.removed),
            "order": list(self.order),
            "lead": self.lead,
            "titles": {str(k): v for k, v in sorted(self.titles.items())},
            "summaries": {str(k): v for k, v in sorted(self.summaries.items())},
            "note": self.note,
        }

    def rank(self, story: int) -> int:
        """Where the editor put a story (stories they never moved come after, by date)."""
        return self.order.index(story) if story in self.order else len(self.order)

    def with_state(self, state: ReviewState) -> Edits:
        return replace(self, state=state.value)

    def removing(self, story: int, *, removed: bool) -> Edits:
        chosen = self.removed | {story} if removed else self.removed - {story}
        lead = None if removed and self.lead == story else self.lead
        return replace(self, removed=frozenset(chosen), lead=lead)

    def moving(self, story: int, neighbour: int, reading_order: list[int]) -> Edits:
        """Swap ``story`` with ``neighbour`` in the issue's ``reading_order``."""
        order = list(reading_order)
        a, b = order.index(story), order.index(neighbour)
        order[a], order[b] = order[b], order[a]
        return replace(self, order=tuple(order))

    def leading(self, story: int) -> Edits:
        return replace(self, lead=story)

    def rewording(self, story: int, *, title: str, summary: str) -> Edits:
        """Override the story's title and summary for this issue (blank: the story's own)."""
        titles = {**self.titles, story: one_line(title)[:TITLE_CHARS]}
        summaries = {**self.summaries, story: one_line(summary)[:SUMMARY_CHARS]}
        return replace(
            self,
            titles={k: v for k, v in titles.items() if v},
            summaries={k: v for k, v in summaries.items() if v},
        )

    def noting(self, note: str) -> Edits:
        text = strip_control(note.replace("\r\n", "\n"))[:NOTE_CHARS].strip()
        return replace(self, note=text)


def store(context: dict[str, Any], edits: Edits) -> dict[str, Any]:
    """A new context dict carrying ``edits`` (a new object, so the JSON column is saved)."""
    return {**context, REVIEW_KEY: edits.as_context()}


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False})


def note_html(note: str) -> str:
    """The editor's note as HTML: Markdown without raw HTML, then nh3 as for feed content."""
    if not note.strip():
        return ""
    return clean_html(_markdown().render(note))
