"""Times on admin pages: stored in UTC, shown in UTC with how long ago or how soon."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

NEVER = "never"


def span(delta: timedelta) -> str:
    """A rounded duration a person reads at a glance: "45 s", "12 min", "3 h 5 min", "2 d 4 h"."""
    seconds = int(abs(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


@dataclass(frozen=True)
class Clock:
    """Formatting bound to the moment the page is built (templates call ``fmt.when(x)``)."""

    now: datetime

    def when(self, value: datetime | None) -> str:
        if value is None:
            return NEVER
        return f"{value.day} {value:%b %Y, %H:%M} UTC"

    def relative(self, value: datetime | None) -> str:
        if value is None:
            return NEVER
        if value > self.now:
            return f"in {span(value - self.now)}"
        return f"{span(self.now - value)} ago"

    def iso(self, value: datetime | None) -> str:
        return value.isoformat() if value is not None else ""
