"""The compose and edit form: what the admin typed, how it becomes a ``Draft`` and a send
time (typed in R2P_CONSOLE_TIMEZONE), and the expiry choices offered (the default,
R2P_ALERT_EXPIRES, among them)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from mailer.alerts import AlertError, Draft, content_of, parse_send_time
from mailer.models import Campaign
from staff.console.timefmt import span
from subscribers.choices import Vocabulary

STANDARD_EXPIRIES = tuple(timedelta(hours=h) for h in (1, 3, 6, 12, 24, 48))
TOPICS = "topics"
SECONDS = re.compile(r"[0-9]{1,9}")


def unix_lines(text: str) -> str:
    """Browsers send a textarea's line breaks as CRLF (and JSON clients may): the alert
    template splits paragraphs on a blank line, ``\\n\\n``."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def local_input(value: datetime | None, zone: str) -> str:
    """A UTC time as a ``datetime-local`` field shows it, in ``zone``."""
    if value is None:
        return ""
    return f"{value.astimezone(ZoneInfo(zone)):%Y-%m-%dT%H:%M}"


def local_time(value: datetime, zone: str) -> str:
    """A time as the console's admins read it: in their zone, with UTC beside it."""
    local = value.astimezone(ZoneInfo(zone))
    shown = f"{local.day} {local:%b %Y, %H:%M} {zone}"
    if zone != "UTC":
        shown += f" ({value.astimezone(ZoneInfo('UTC')):%H:%M} UTC)"
    return shown


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
    send_at: str = ""  # a datetime-local value in R2P_CONSOLE_TIMEZONE, or empty

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

    @classmethod
    def of_alert(cls, campaign: Campaign, zone: str) -> AlertForm:
        """The edit form, filled with the alert as it is."""
        content = content_of(campaign)
        return cls(
            subject=content["subject"],
            body=content["body"],
            link=content["link"],
            audience=content["audience"],
            topics=frozenset(content["topics"]),
            item_id=campaign.context.get("item_id"),
            send_at=local_input(campaign.send_at, zone),
        )

    def send_time(self, zone: str) -> datetime | None:
        """The chosen send time in UTC, or None (send when approved); raises AlertError
        when it is not a date and time."""
        if not self.send_at.strip():
            return None
        return parse_send_time(self.send_at, zone)

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
