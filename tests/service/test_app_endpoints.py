"""/metrics and /healthz (issue 12, attack 8): metrics only with the bearer token
(R2P_METRICS_TOKEN) and off without it; the public health check says only ok or degraded,
the details are for admins and the metrics scraper."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Db
from tests.support.browser import Site
from tests.support.console import admin_site, log_in
from tests.support.factories import AMINA, add_readers, add_source

TOKEN = "metrics-token-for-the-tests-0123456789"


@pytest.fixture
def site(db: Db) -> Iterator[Site]:
    add_readers(db, [f"reader{n}@example.org" for n in range(3)])
    add_source(db, "secret-feed-key")
    with admin_site(db, AMINA, metrics_token=TOKEN) as site:
        yield site


def get(site: Site, path: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return site.client(**headers).get(path)


def test_metrics_need_the_bearer_token(site: Site) -> None:
    for token in (None, "wrong", TOKEN + "x", TOKEN[:-1], TOKEN.upper()):
        response = get(site, "/metrics", token)
        assert response.status_code == 401, token
        assert "r2p_" not in response.text and "secret-feed-key" not in response.text
        assert response.headers["www-authenticate"] == "Bearer"
    basic = httpx.get(f"{site.url}/metrics", auth=("metrics", TOKEN))
    assert basic.status_code == 401
    response = get(site, "/metrics", TOKEN)
    assert response.status_code == 200
    assert 'r2p_subscribers{status="active"} 3' in response.text


def test_metrics_are_off_without_a_token_setting(db: Db) -> None:
    with admin_site(db, AMINA) as site:
        for token in (None, "anything"):
            response = get(site, "/metrics", token)
            assert response.status_code == 404
            assert "r2p_" not in response.text


def test_public_health_says_only_ok(site: Site) -> None:
    response = get(site, "/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_health_details_are_for_admins_and_the_scraper(site: Site) -> None:
    for response in (get(site, "/healthz", TOKEN), log_in(site).get("/healthz")):
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ok" and body["database"] == "ok"
        assert body["feeds"] == {"enabled": 1, "failing": 0}
    assert get(site, "/healthz", "wrong").json() == {"status": "ok"}


def test_public_health_says_degraded_with_a_503_and_no_reason(db: Db) -> None:
    with admin_site(db, AMINA, metrics_token=TOKEN) as site:
        site.server.app.state.services = [finished_task("scheduler")]
        response = get(site, "/healthz")
        assert response.status_code == 503
        assert response.json() == {"status": "degraded"}
        detailed = get(site, "/healthz", TOKEN)
        assert detailed.status_code == 503
        assert detailed.json()["stopped"] == ["scheduler"]


def finished_task(name: str) -> asyncio.Task[None]:
    """A real task of that name that has stopped (what /healthz watches under `run`)."""

    async def stop() -> None:
        return None

    loop = asyncio.new_event_loop()
    try:
        task = loop.create_task(stop(), name=name)
        loop.run_until_complete(task)
    finally:
        loop.close()
    return task
