"""The delivery workers as the web side sees them: read from ``worker_status`` rows, which
each worker writes at start, every heartbeat (a third of R2P_LEASE_SECONDS) and on a clean
stop. Used by /healthz and /metrics (mailer/observe.py); this module only reads.

A worker is *alive* when its last heartbeat is at most ``lease_seconds`` old (three
heartbeats) and it has not stopped; *unhealthy* when it has not stopped but its heartbeat is
older than that, unless a worker started since that heartbeat (it was replaced: a restart
under `run` or systemd gives the new worker a new name). A cleanly stopped worker is
neither. Counters of stopped workers stay visible to /metrics for ``STOPPED_VISIBLE``, so a
scraper sees their last figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from mailer.models import WorkerStatus

STOPPED_VISIBLE = timedelta(minutes=10)
BREAKER_STATES = ("closed", "half-open", "open")
ERROR_CLASSES = ("connection", "timeout", "4xx", "5xx", "421", "tls", "other")


@dataclass(frozen=True)
class Worker:
    name: str
    state: str  # "alive", "unhealthy" or "stopped"
    relay: str
    breaker: str
    breaker_since: datetime | None
    breaker_reason: str
    heartbeat_at: datetime
    counters: dict[str, Any]
    rate: float

    def count(self, key: str) -> int:
        return _number(self.counters.get(key))

    def errors(self) -> dict[str, int]:
        found = self.counters.get("errors")
        if not isinstance(found, dict):
            return {}
        return {str(k): _number(v) for k, v in found.items()}


def _number(value: object) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def workers(*, now: datetime, lease: timedelta, session: Session) -> list[Worker]:
    """Every worker not stopped, and those stopped in the last ``STOPPED_VISIBLE``, by name;
    replaced dead workers are left out."""
    rows = list(
        session.scalars(
            select(WorkerStatus)
            .where(
                or_(
                    WorkerStatus.stopped_at.is_(None),
                    WorkerStatus.stopped_at >= now - STOPPED_VISIBLE,
                )
            )
            .order_by(WorkerStatus.name)
        )
    )
    latest_start = max((r.started_at for r in rows), default=None)
    found = []
    for row in rows:
        if row.stopped_at is not None:
            state = "stopped"
        elif row.heartbeat_at >= now - lease:
            state = "alive"
        elif latest_start is not None and latest_start > row.heartbeat_at:
            continue  # died and was replaced
        else:
            state = "unhealthy"
        found.append(
            Worker(
                name=row.name,
                state=state,
                relay=row.relay,
                breaker=row.breaker if row.breaker in BREAKER_STATES else "open",
                breaker_since=row.breaker_since,
                breaker_reason=row.breaker_reason,
                heartbeat_at=row.heartbeat_at,
                counters=row.counters if isinstance(row.counters, dict) else {},
                rate=float(row.rate or 0.0),
            )
        )
    return found
