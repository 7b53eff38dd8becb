"""Health and metrics: what /healthz and /metrics (Prometheus text format) report.

Health is ``ok`` or ``degraded``, with the reasons: a live worker's circuit breaker is open
or probing (its relay is failing), the oldest due message has waited longer than
R2P_HEALTH_QUEUE_AGE, or a worker stopped beating without stopping (mailer/fleet.py). Every
query is indexed or reads a small table, so a load balancer may ask every second: the
oldest due message is the first entry of ``ix_deliveries_due_time``. The metrics are
written by prometheus_client (exposition format, escaped label values).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from mailer.fleet import BREAKER_STATES, Worker, workers
from mailer.locks import holder_of
from mailer.models import Campaign, Delivery, Item, Source, Subscriber
from mailer.outbox.ledger import due_conditions
from mailer.outbox.queries import queue_depth
from mailer.outbox.status import REPORTED_SUBSCRIBER, DeliveryStatus

# Defaults of R2P_LEASE_SECONDS and R2P_HEALTH_QUEUE_AGE, for callers without settings.
LEASE = timedelta(seconds=30)
QUEUE_AGE = timedelta(minutes=15)


def oldest_due_age(*, now: datetime, session: Session) -> float:
    """Seconds the oldest due message (queued, its time come, campaign sending) has waited
    past its time; 0 when nothing is due. Walks ``ix_deliveries_due_time`` from the oldest
    queued row and stops at the first whose campaign is sending: one step, in practice."""
    oldest = session.scalar(
        select(Delivery.next_attempt_at)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(*due_conditions(now))
        .order_by(Delivery.next_attempt_at)
        .limit(1)
    )
    return max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0


def _breaker_reason(worker: Worker, now: datetime) -> str:
    since = ""
    if worker.breaker_since is not None:
        since = f" for {max(int((now - worker.breaker_since).total_seconds()), 0)} s"
    why = f": {worker.breaker_reason}" if worker.breaker_reason else ""
    relay = worker.relay or "?"
    return f"relay {relay} failing: breaker {worker.breaker}{since} in worker {worker.name}{why}"


def health(
    *,
    now: datetime,
    session: Session,
    lease: timedelta = LEASE,
    queue_age: timedelta = QUEUE_AGE,
) -> dict[str, Any]:
    """Database reachable (else this raises), scheduler alive, queue depth and the oldest
    due message's wait, workers and their breakers, feeds; ``reasons`` says why degraded."""
    session.execute(text("SELECT 1"))
    scheduler = holder_of("scheduler", now=now, session=session)
    failing = session.scalar(
        select(func.count()).where(Source.enabled, Source.consecutive_failures > 0)
    )
    enabled = session.scalar(select(func.count()).where(Source.enabled))
    fleet = workers(now=now, lease=lease, session=session)
    alive = [w for w in fleet if w.state == "alive"]
    unhealthy = [w for w in fleet if w.state == "unhealthy"]
    oldest = oldest_due_age(now=now, session=session)
    reasons = [_breaker_reason(w, now) for w in alive if w.breaker != "closed"]
    reasons += [
        f"worker {w.name}: no heartbeat for {int((now - w.heartbeat_at).total_seconds())} s"
        for w in unhealthy
    ]
    if oldest > queue_age.total_seconds():
        reasons.append(
            f"oldest due message waiting {int(oldest)} s "
            f"(more than {int(queue_age.total_seconds())} s)"
        )
    return {
        "status": "degraded" if reasons else "ok",
        "reasons": reasons,
        "database": "ok",
        "scheduler": {"alive": scheduler is not None, "holder": scheduler},
        "queue_depth": queue_depth(session=session),
        "queue": {"oldest_due_seconds": round(oldest, 1)},
        "workers": {
            "alive": len(alive),
            "unhealthy": [w.name for w in unhealthy],
            "breakers": {w.name: w.breaker for w in alive},
        },
        "feeds": {"enabled": enabled, "failing": failing},
    }


Labels = dict[str, str]


def _family(kind: str, name: str, help_text: str, samples: list[tuple[Labels, float]]) -> Metric:
    """One metric with its samples (labels in sorted order); prometheus_client writes the
    exposition and escapes the label values. Counter names end in ``_total``."""
    names = sorted({key for labels, _ in samples for key in labels})
    family: GaugeMetricFamily | CounterMetricFamily
    if kind == "counter":
        family = CounterMetricFamily(name, help_text, labels=names)
    else:
        family = GaugeMetricFamily(name, help_text, labels=names)
    for labels, value in samples:
        family.add_metric([labels.get(key, "") for key in names], value)
    return family


class _Snapshot(Collector):
    """The metrics of one scrape, read from the database before it is written out."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def metrics_text(*, now: datetime, session: Session, lease: timedelta = LEASE) -> str:
    """Prometheus exposition of the service's state, read from the database: what is
    stored and queued, and each delivery worker's counters, breaker and rate."""
    items = session.scalar(select(func.count()).select_from(Item)) or 0
    relevant = session.scalar(select(func.count()).where(Item.relevant)) or 0
    by_status: dict[str, int] = {
        status: n
        for status, n in session.execute(
            select(Delivery.status, func.count()).group_by(Delivery.status)
        )
    }
    window = timedelta(minutes=5)
    recent = session.scalar(select(func.count()).where(Delivery.sent_at >= now - window)) or 0
    sources = session.execute(select(Source.key, Source.consecutive_failures, Source.enabled))
    readers: dict[str, int] = {
        status: n
        for status, n in session.execute(
            select(Subscriber.status, func.count()).group_by(Subscriber.status)
        )
    }
    families = [
        _family(
            "counter",
            "r2p_items_ingested_total",
            "Feed items stored.",
            [({}, items), ({"relevant": "true"}, relevant)],
        ),
        _family(
            "gauge",
            "r2p_deliveries",
            "Deliveries by status.",
            [({"status": s}, by_status.get(s, 0)) for s in DeliveryStatus],
        ),
        _family(
            "gauge",
            "r2p_send_rate",
            "Messages sent a second, averaged over 5 minutes.",
            [({}, recent / window.total_seconds())],
        ),
        _family(
            "gauge",
            "r2p_feed_consecutive_failures",
            "Failed polls in a row per feed.",
            [({"feed": key}, failures) for key, failures, enabled in sources if enabled],
        ),
        _family(
            "gauge",
            "r2p_subscribers",
            "Subscribers by status.",
            [({"status": s}, readers.get(s, 0)) for s in REPORTED_SUBSCRIBER],
        ),
        *worker_metrics(now=now, session=session, lease=lease),
    ]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(families))
    return generate_latest(registry).decode()


def worker_metrics(*, now: datetime, session: Session, lease: timedelta = LEASE) -> list[Metric]:
    """Per worker (label ``worker``; summing is the scraper's job): attempts, sends,
    retries, failures and errors by class since it started, its breaker state; and the
    workers alive, their summed 1-minute send rate, and the oldest due message's wait."""
    fleet = workers(now=now, lease=lease, session=session)
    out = [
        _family(
            "counter",
            name,
            f"{help_text} Per worker, since it started.",
            [({"worker": w.name}, w.count(key)) for w in fleet],
        )
        for key, name, help_text in (
            ("attempts", "r2p_delivery_attempts_total", "Messages handed to the relay."),
            ("sent", "r2p_delivery_sent_total", "Messages the relay accepted."),
            ("retried", "r2p_delivery_retried_total", "Messages deferred for a later try."),
            ("failed", "r2p_delivery_failed_total", "Messages given up on."),
        )
    ]
    out.append(
        _family(
            "counter",
            "r2p_delivery_errors_total",
            "Failed attempts by class (connection, timeout, tls, 421, 4xx, 5xx, other). "
            "Per worker, since it started.",
            [
                ({"worker": w.name, "class": kind}, n)
                for w in fleet
                for kind, n in sorted(w.errors().items())
            ],
        )
    )
    live = [w for w in fleet if w.state != "stopped"]
    alive = [w for w in fleet if w.state == "alive"]
    out += [
        _family(
            "gauge",
            "r2p_breaker_state",
            "Circuit breaker of each running worker's relay: 0 closed, 1 half-open (probing), "
            "2 open.",
            [({"worker": w.name, "relay": w.relay}, BREAKER_STATES.index(w.breaker)) for w in live],
        ),
        _family(
            "gauge",
            "r2p_workers_alive",
            "Delivery workers whose heartbeat is current.",
            [({}, len(alive))],
        ),
        _family(
            "gauge",
            "r2p_workers_unhealthy",
            "Delivery workers that stopped beating without stopping (and were not replaced).",
            [({}, sum(w.state == "unhealthy" for w in fleet))],
        ),
        _family(
            "gauge",
            "r2p_send_rate_1m",
            "Messages sent a second over the last minute, summed over live workers.",
            [({}, round(sum(w.rate for w in alive), 3))],
        ),
        _family(
            "gauge",
            "r2p_oldest_due_seconds",
            "Seconds the oldest due message has waited past its time (0: nothing due).",
            [({}, round(oldest_due_age(now=now, session=session), 1))],
        ),
    ]
    return out
