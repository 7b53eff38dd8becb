"""/healthz says degraded (issue 13) when a live worker's circuit breaker is open, when the
oldest due message waits longer than R2P_HEALTH_QUEUE_AGE, or when a worker stopped beating
without stopping; the public answer stays ``{"status": ...}``, the reasons are for admins
and the metrics scraper, and R2P_HEALTH_DEGRADED_STATUS=503 turns the 200 into a 503.

Worker rows are real ``worker_status`` rows, as a delivery worker writes them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest import MonkeyPatch
from sqlalchemy import update

from mailer.config import load_settings
from mailer.errors import ConfigError
from mailer.models import Campaign, Delivery, WorkerStatus
from tests.conftest import Db
from tests.support.browser import Site
from tests.support.console import admin_site, log_in
from tests.support.factories import AMINA, add_readers, alert_campaign

TOKEN = "health-token-for-the-tests-0123456789"


def add_worker(db: Db, name: str, *, beat_ago: float = 1.0, **fields: Any) -> None:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "started_at": now - timedelta(minutes=5),
        "heartbeat_at": now - timedelta(seconds=beat_ago),
        "relay": "smtp.example.org:587",
        "counters": {},
        **fields,
    }
    with db.session() as session:
        session.add(WorkerStatus(name=name, **values))
        session.commit()


@contextmanager
def site_for(db: Db, **settings: Any) -> Iterator[Site]:
    with admin_site(db, AMINA, metrics_token=TOKEN, **settings) as site:
        yield site


def public(site: Site) -> httpx.Response:
    return site.client().get("/healthz")


def detailed(site: Site) -> httpx.Response:
    return site.client(Authorization=f"Bearer {TOKEN}").get("/healthz")


def assert_degraded(site: Site, reason: str, code: int = 200) -> dict[str, Any]:
    answer = public(site)
    assert answer.status_code == code
    assert answer.json() == {"status": "degraded"}
    details = detailed(site)
    assert details.status_code == code
    body: dict[str, Any] = details.json()
    assert body["status"] == "degraded"
    assert any(reason in r for r in body["reasons"]), body
    return body


def test_an_open_breaker_of_a_live_worker_makes_health_degraded(db: Db) -> None:
    add_worker(db, "host:1:aaa")
    add_worker(
        db,
        "host:2:bbb",
        breaker="open",
        breaker_since=datetime.now(UTC) - timedelta(seconds=40),
        breaker_reason="connection refused",
    )
    with site_for(db) as site:
        body = assert_degraded(site, "breaker open")
        assert any("connection refused" in r and "host:2:bbb" in r for r in body["reasons"])
        assert body["workers"]["alive"] == 2
        assert body["database"] == "ok"
        # The admin's view has the same reasons (a second later, the breaker has been open
        # a second longer).
        admin = log_in(site).get("/healthz").json()
        assert without_seconds(admin["reasons"]) == without_seconds(body["reasons"])


def without_seconds(reasons: list[str]) -> list[str]:
    return [re.sub(r"\b\d+ s\b", "N s", reason) for reason in reasons]


def test_a_probing_breaker_is_degraded_and_a_closed_one_is_ok(db: Db) -> None:
    add_worker(db, "host:1:aaa", breaker="half-open", breaker_reason="421 too busy")
    with site_for(db) as site:
        assert_degraded(site, "breaker half-open")
        with db.session() as session:
            session.execute(update(WorkerStatus).values(breaker="closed", breaker_reason=""))
            session.commit()
        assert public(site).json() == {"status": "ok"}
        assert detailed(site).json()["reasons"] == []


def test_the_breaker_of_a_stopped_worker_does_not_count(db: Db) -> None:
    add_worker(db, "host:1:aaa", breaker="open", stopped_at=datetime.now(UTC))
    with site_for(db) as site:
        answer = public(site)
        assert answer.status_code == 200 and answer.json() == {"status": "ok"}


def test_degraded_answers_503_when_so_configured(db: Db) -> None:
    add_worker(db, "host:1:aaa", breaker="open", breaker_reason="connection refused")
    with site_for(db, health_degraded_status=503) as site:
        assert_degraded(site, "breaker open", code=503)


def test_a_message_due_for_longer_than_the_queue_age_makes_health_degraded(db: Db) -> None:
    readers = add_readers(db, ["a@example.org", "b@example.org"])
    campaign = alert_campaign(db, readers)
    with site_for(db, health_queue_age=timedelta(minutes=15)) as site:
        assert public(site).json() == {"status": "ok"}
        assert detailed(site).json()["queue"]["oldest_due_seconds"] < 60
        with db.session() as session:
            session.execute(
                update(Delivery)
                .where(Delivery.campaign_id == campaign, Delivery.subscriber_id == readers[0])
                .values(next_attempt_at=datetime.now(UTC) - timedelta(minutes=20))
            )
            session.commit()
        body = assert_degraded(site, "oldest due message")
        assert body["queue"]["oldest_due_seconds"] >= 20 * 60


def test_waiting_messages_that_are_not_due_do_not_count(db: Db) -> None:
    """A retry backing off, or a paused campaign, is not a queue that lags."""
    readers = add_readers(db, ["a@example.org", "b@example.org"])
    campaign = alert_campaign(db, readers)
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    with db.session() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.subscriber_id == readers[0])
            .values(next_attempt_at=datetime.now(UTC) + timedelta(minutes=5))
        )
        session.execute(
            update(Delivery)
            .where(Delivery.subscriber_id == readers[1])
            .values(next_attempt_at=long_ago)
        )
        session.execute(update(Campaign).where(Campaign.id == campaign).values(status="paused"))
        session.commit()
    with site_for(db) as site:
        assert public(site).json() == {"status": "ok"}
        assert detailed(site).json()["queue"]["oldest_due_seconds"] == 0


def test_a_worker_that_stopped_beating_makes_health_degraded(db: Db) -> None:
    # lease_seconds = three heartbeats: 30 s by default.
    add_worker(db, "host:1:alive")
    add_worker(db, "host:2:dead", beat_ago=45)
    with site_for(db) as site:
        body = assert_degraded(site, "no heartbeat")
        assert any("host:2:dead" in r for r in body["reasons"])
        assert body["workers"] == {
            "alive": 1,
            "unhealthy": ["host:2:dead"],
            "breakers": {"host:1:alive": "closed"},
        }


def test_a_cleanly_stopped_or_replaced_worker_is_not_unhealthy(db: Db) -> None:
    now = datetime.now(UTC)
    add_worker(db, "host:1:stopped", beat_ago=600, stopped_at=now - timedelta(minutes=10))
    # Killed, then replaced by a worker that started after its last heartbeat.
    add_worker(db, "host:2:killed", beat_ago=600)
    add_worker(db, "host:3:new", started_at=now - timedelta(minutes=5))
    with site_for(db) as site:
        assert public(site).json() == {"status": "ok"}
        body = detailed(site).json()
        assert body["workers"]["alive"] == 1 and body["workers"]["unhealthy"] == []


def test_a_stopped_service_is_still_a_503_whatever_the_setting(db: Db) -> None:
    """The in-process scheduler of `run` stopped: the process itself is broken."""
    from tests.service.test_app_endpoints import finished_task

    with site_for(db) as site:
        site.server.app.state.services = [finished_task("scheduler")]
        answer = public(site)
        assert answer.status_code == 503 and answer.json() == {"status": "degraded"}
        assert any("scheduler" in r for r in detailed(site).json()["reasons"])


def test_the_degraded_status_is_read_from_the_environment(
    monkeypatch: MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("R2P_HEALTH_DEGRADED_STATUS", "503")
    assert load_settings().health_degraded_status == 503
    monkeypatch.setenv("R2P_HEALTH_DEGRADED_STATUS", "500")
    with pytest.raises(ConfigError, match="R2P_HEALTH_DEGRADED_STATUS"):
        load_settings()
