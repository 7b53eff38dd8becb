"""The compose form: what the admin typed, how it becomes a ``Draft``, and the expiry
choices offered (the default, R2P_ALERT_EXPIRES, among them)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

from mailer.alerts import AlertError, Draft
from staff.console.timefmt import span
from subscribers.choices import Vocabulary

STANDARD_EXPIRIES = tuple(timedelta(hours=h) for h in (1, 3, 6, 12, 24, 48))
TOPICS = "topics"
SECONDS = re.compile(r"[0-9]{1,9}")


def unix_lines(text: str) -> str:
    """Browsers send a textarea's line breaks as CRLF (and JSON clients may): the alert
    template splits paragraphs on a blank line, ``\\n\\n``."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def expiry_choices(default: timedelta) -> list[tuple[str, str]]:
    """(value in seconds, label) in increasing order."""
    lifetimes = sorted({*STANDARD_EXPIRIES, default})
    return [(str(int(d.total_seconds())), span(d)) for d in lifetimes]


@dataclass(frozen=True)
class AlertForm:
    subject: str = ""
    body: str = ""
    link: str = ""
    audience: str = "all"
    topics: frozenset[str] = field(default_factory=frozenset)
    expires: str = ""
    item_id: int | None = None

    @classmethod
    def from_draft(cls, draft: Draft, expires: timedelta, known: Vocabulary) -> AlertForm:
        return cls(
            subject=draft.subject,
            body=draft.body,
            link=draft.link,
            audience=draft.audience,
            topics=frozenset(draft.topics) & known.tags,
            expires=str(int(expires.total_seconds())),
            item_id=draft.item_id,
        )

    def lifetime(self) -> timedelta:
        """The chosen expiry (``staff.actions.alerts`` applies the limit); raises
        AlertError when it is not a number of seconds."""
        if not SECONDS.fullmatch(self.expires):
            raise AlertError("choose when the alert expires from the list")
        return timedelta(seconds=int(self.expires))

    def draft(self) -> Draft:
        """The draft to validate and store (``staff.actions.alerts.create``)."""
        return Draft(
            subject=self.subject,
            body=unix_lines(self.body),
            link=self.link,
            audience=self.audience,
            topics=tuple(sorted(self.topics)) if self.audience == TOPICS else (),
            item_id=self.item_id,
        )
