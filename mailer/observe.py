"""Health and metrics: what /healthz and /metrics (Prometheus text format) report."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from mailer.locks import holder_of
from mailer.models import Delivery, Item, Source, Subscriber
from mailer.outbox import queue_depth


def health(*, now: datetime, session: Session) -> dict[str, Any]:
    """Database reachable (else this raises), scheduler alive, queue depth, feeds."""
    session.execute(text("SELECT 1"))
    scheduler = holder_of("scheduler", now=now, session=session)
    failing = session.scalar(
        select(func.count()).where(Source.enabled, Source.consecutive_failures > 0)
    )
    enabled = session.scalar(select(func.count()).where(Source.enabled))
    return {
        "status": "ok",
        "database": "ok",
        "scheduler": {"alive": scheduler is not None, "holder": scheduler},
        "queue_depth": queue_depth(session=session),
        "feeds": {"enabled": enabled, "failing": failing},
    }


def _line(name: str, value: float, labels: dict[str, str] | None = None) -> str:
    if labels:
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        return f"{name}{{{inner}}} {value:g}"
    return f"{name} {value:g}"


def metrics_text(*, now: datetime, session: Session) -> str:
    """Prometheus exposition of the service's state, read from the database."""
    out: list[str] = []

    def metric(name: str, kind: str, help_text: str, rows: list[str]) -> None:
        out.extend([f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *rows])

    items = session.scalar(select(func.count()).select_from(Item)) or 0
    relevant = session.scalar(select(func.count()).where(Item.relevant)) or 0
    metric(
        "r2p_items_ingested_total",
        "counter",
        "Feed items stored.",
        [
            _line("r2p_items_ingested_total", items),
            _line("r2p_items_ingested_total", relevant, {"relevant": "true"}),
        ],
    )
    by_status = {
        status: n
        for status, n in session.execute(
            select(Delivery.status, func.count()).group_by(Delivery.status)
        )
    }
    metric(
        "r2p_deliveries",
        "gauge",
        "Deliveries by status.",
        [
            _line("r2p_deliveries", by_status.get(s, 0), {"status": s})
            for s in ("queued", "sending", "sent", "failed", "cancelled")
        ],
    )
    window = timedelta(minutes=5)
    recent = session.scalar(select(func.count()).where(Delivery.sent_at >= now - window)) or 0
    metric(
        "r2p_send_rate",
        "gauge",
        "Messages sent a second, averaged over 5 minutes.",
        [_line("r2p_send_rate", recent / window.total_seconds())],
    )
    sources = session.execute(select(Source.key, Source.consecutive_failures, Source.enabled))
    metric(
        "r2p_feed_consecutive_failures",
        "gauge",
        "Failed polls in a row per feed.",
        [
            _line("r2p_feed_consecutive_failures", failures, {"feed": key})
            for key, failures, enabled in sources
            if enabled
        ],
    )
    readers = {
        status: n
        for status, n in session.execute(
            select(Subscriber.status, func.count()).group_by(Subscriber.status)
        )
    }
    metric(
        "r2p_subscribers",
        "gauge",
        "Subscribers by status.",
        [
            _line("r2p_subscribers", readers.get(s, 0), {"status": s})
            for s in ("pending", "active", "unsubscribed", "bounced")
        ],
    )
    return "\n".join(out) + "\n"
