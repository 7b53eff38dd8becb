"""/metrics (issue 13): each worker's attempts, sends, retries, failures and errors by class
(Prometheus counters, label ``worker``), its breaker state, the workers alive, the summed
1-minute send rate and the oldest due message's wait; the metrics of before stay.

Worker rows are real ``worker_status`` rows, as a delivery worker writes them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event, update

from mailer.models import Campaign, Delivery
from mailer.observe import oldest_due_age
from tests.conftest import Db
from tests.mailer.test_observe_health import add_worker
from tests.support.console import admin_site
from tests.support.factories import AMINA, add_readers, alert_campaign

TOKEN = "metrics-token-for-the-tests-0123456789"


def scrape(db: Db) -> str:
    with admin_site(db, AMINA, metrics_token=TOKEN) as site:
        answer = httpx.get(f"{site.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    assert answer.headers["x-content-type-options"] == "nosniff"
    return answer.text


def value(text: str, series: str) -> float:
    """The value of one exact series line (name and labels as exposed)."""
    found = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    assert found, f"{series} not in:\n{text}"
    return float(found.group(1))


def test_counters_per_worker_and_errors_by_class(db: Db) -> None:
    add_worker(
        db,
        "host:1:aaa",
        counters={
            "attempts": 120,
            "sent": 100,
            "retried": 15,
            "failed": 5,
            "errors": {"connection": 7, "421": 3, "5xx": 5},
        },
        rate=12.5,
    )
    add_worker(db, "host:2:bbb", counters={"attempts": 10, "sent": 10}, rate=2.5)
    text = scrape(db)
    assert "# TYPE r2p_delivery_attempts_total counter" in text
    assert value(text, 'r2p_delivery_attempts_total{worker="host:1:aaa"}') == 120
    assert value(text, 'r2p_delivery_sent_total{worker="host:1:aaa"}') == 100
    assert value(text, 'r2p_delivery_retried_total{worker="host:1:aaa"}') == 15
    assert value(text, 'r2p_delivery_failed_total{worker="host:1:aaa"}') == 5
    assert value(text, 'r2p_delivery_sent_total{worker="host:2:bbb"}') == 10
    assert value(text, 'r2p_delivery_retried_total{worker="host:2:bbb"}') == 0
    assert value(text, 'r2p_delivery_errors_total{class="connection",worker="host:1:aaa"}') == 7
    assert value(text, 'r2p_delivery_errors_total{class="421",worker="host:1:aaa"}') == 3
    assert value(text, 'r2p_delivery_errors_total{class="5xx",worker="host:1:aaa"}') == 5
    assert value(text, "r2p_workers_alive") == 2
    assert value(text, "r2p_send_rate_1m") == 15
    # What was there before stays.
    assert 'r2p_deliveries{status="queued"}' in text and "r2p_send_rate " in text


def test_breaker_state_dead_and_stopped_workers(db: Db) -> None:
    now = datetime.now(UTC)
    add_worker(db, "host:1:closed", rate=4.0)
    add_worker(db, "host:2:probing", breaker="half-open", rate=1.0)
    add_worker(db, "host:3:open", breaker="open", breaker_since=now)
    add_worker(db, "host:4:dead", beat_ago=200, started_at=now - timedelta(hours=1), rate=50.0)
    add_worker(db, "host:5:done", stopped_at=now, counters={"sent": 9}, rate=50.0)
    text = scrape(db)
    relay = 'relay="smtp.example.org:587"'
    assert value(text, f'r2p_breaker_state{{{relay},worker="host:1:closed"}}') == 0
    assert value(text, f'r2p_breaker_state{{{relay},worker="host:2:probing"}}') == 1
    assert value(text, f'r2p_breaker_state{{{relay},worker="host:3:open"}}') == 2
    assert value(text, "r2p_workers_alive") == 3
    # The dead worker started before the live ones' rows: it was not replaced.
    assert value(text, "r2p_workers_unhealthy") == 1
    # Only live workers' rates: a dead or stopped worker sends nothing now.
    assert value(text, "r2p_send_rate_1m") == 5
    # A worker stopped a moment ago: its last counters are still there to scrape.
    assert value(text, 'r2p_delivery_sent_total{worker="host:5:done"}') == 9


def test_oldest_due_message_age(db: Db) -> None:
    readers = add_readers(db, ["a@example.org", "b@example.org"])
    alert_campaign(db, readers)
    with db.session() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.subscriber_id == readers[1])
            .values(next_attempt_at=datetime.now(UTC) - timedelta(minutes=10))
        )
        session.commit()
    assert 600 <= value(scrape(db), "r2p_oldest_due_seconds") < 900


def test_label_values_are_escaped(db: Db) -> None:
    add_worker(db, 'odd"name\\x', relay="relay\nwith newline")
    text = scrape(db)
    assert 'worker="odd\\"name\\\\x"' in text and 'relay="relay\\nwith newline"' in text


def test_the_oldest_due_message_is_one_index_step_and_skips_paused_campaigns(db: Db) -> None:
    """/healthz is asked every few seconds: finding the oldest due message must not walk
    the whole queue (20,000 rows during a digest), and must skip a paused campaign's rows."""
    readers = add_readers(db, [f"r{i}@example.org" for i in range(40)])
    paused = alert_campaign(db, readers[:20], key="alert:paused")
    running = alert_campaign(db, readers[20:], key="alert:running")
    now = datetime.now(UTC)
    with db.session() as session:
        session.execute(update(Campaign).where(Campaign.id == paused).values(status="paused"))
        for campaign, minutes in ((paused, 60), (running, 10)):
            session.execute(
                update(Delivery)
                .where(Delivery.campaign_id == campaign)
                .values(next_attempt_at=now - timedelta(minutes=minutes))
            )
        session.commit()
    statements: list[tuple[str, Any]] = []

    def seen(conn: object, cursor: object, statement: str, parameters: Any, *args: object) -> None:
        statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        with db.session() as session:
            age = oldest_due_age(now=now, session=session)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert 600 <= age < 660  # the running campaign's rows, not the paused one's
    [(statement, parameters)] = statements
    explain = "EXPLAIN QUERY PLAN " if db.backend == "sqlite" else "EXPLAIN "
    with db.engine.connect() as conn:
        if db.backend == "postgresql":
            # A test's few rows (and statistics left by earlier tests) would make a table
            # scan the cheaper plan: ask whether the index serves the query at all.
            conn.exec_driver_sql("SET enable_seqscan = off")
        plan = " ".join(str(row) for row in conn.exec_driver_sql(explain + statement, parameters))
    assert "ix_deliveries_due_time" in plan, plan


def test_the_exposition_parses_as_prometheus_text(db: Db) -> None:
    """Written by prometheus_client: a Prometheus parser reads every family back, hostile
    label values included."""
    add_worker(db, 'odd"name\\x', relay="relay\nwith newline")
    families = {f.name: f for f in text_string_to_metric_families(scrape(db))}
    assert {"r2p_deliveries", "r2p_subscribers", "r2p_delivery_sent", "r2p_breaker_state"} <= (
        families.keys()
    )
    assert families["r2p_delivery_sent"].type == "counter"
    [breaker] = families["r2p_breaker_state"].samples
    assert breaker.labels == {"worker": 'odd"name\\x', "relay": "relay\nwith newline"}
