"""The admin API authenticates before it reads a body, every body is capped (with or
without Content-Length), and the two-person rule counts admins who proved who they are,
each once, whatever the request claims (issue 12)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from service.app import create_app
from tests.conftest import Db
from tests.support.browser import Site
from tests.support.console import (
    BRUNO,
    DRAFT,
    VERSION_INPUT,
    admin_site,
    alert_id_of,
    audit_actions,
    compose,
    log_in,
    press,
    token_for,
)
from tests.support.factories import AMINA, add_admins, add_readers
from tests.support.ledger import deliveries

CAP = 64 * 1024
ALERT = {"subject": "Imminent risk in El Fasher", "body": "Civilians are trapped."}


@pytest.fixture
def site(db: Db) -> Iterator[Site]:
    with admin_site(db, AMINA, BRUNO) as site:
        yield site


def call(app: Any, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bool]:
    """POST ``body`` to the ASGI app; (status, whether the app asked for the body)."""
    read = False
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        read = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    return int(start["status"]), read


@pytest.mark.parametrize("token", [None, "r2p_wrong", "Basic YTpi"])
def test_an_unauthenticated_api_call_is_refused_before_its_body_is_read(
    db: Db, token: str | None
) -> None:
    app = create_app(db.settings())
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = token if " " in token else f"Bearer {token}"
    status, read = call(app, "/api/alerts", headers, b'{"subject": 1, "nope": [')
    assert (status, read) == (401, False)


def test_a_bad_body_without_a_token_is_a_401_not_a_422(site: Site) -> None:
    response = httpx.post(f"{site.url}/api/alerts", json={"subject": ["x"]}, timeout=10)
    assert response.status_code == 401
    assert "subject" not in response.text


def test_an_authenticated_call_still_reads_its_body(db: Db) -> None:
    add_admins(db, AMINA)
    app = create_app(db.settings())
    headers = {"content-type": "application/json", "authorization": f"Bearer {token_for(db)}"}
    status, read = call(app, "/api/alerts", headers, json.dumps(ALERT).encode())
    assert (status, read) == (201, True)


def chunks(size: int) -> Iterator[bytes]:
    """A body sent chunked (no Content-Length)."""
    for _ in range(size // 4096):
        yield b"x" * 4096


def test_bodies_over_the_cap_are_a_413(site: Site, db: Db) -> None:
    api = {"Authorization": f"Bearer {token_for(db)}", "Content-Type": "application/json"}
    big = json.dumps({**ALERT, "body": "x" * CAP}).encode()
    with httpx.Client(base_url=site.url, timeout=30) as http:
        assert http.post("/api/alerts", content=big, headers=api).status_code == 413
        chunked = http.post("/api/alerts", content=chunks(CAP + 8192), headers=api)
        assert chunked.status_code == 413
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        for path in ("/subscribe", "/admin/login", "/admin/alerts"):
            assert http.post(path, content=b"a=" + b"x" * CAP, headers=form).status_code == 413
            streamed = http.post(path, content=chunks(CAP + 8192), headers=form)
            assert streamed.status_code == 413, path
        # Under the cap, the body reaches the handler.
        fits = json.dumps({**ALERT, "body": "x" * (CAP - 1024)}).encode()
        assert http.post("/api/alerts", content=fits, headers=api).status_code == 422
    assert [a for a in audit_actions(site) if a[1] == "alert.create"] == []


def test_approvals_count_the_authenticated_admin_once_whatever_the_request_says(
    db: Db,
) -> None:
    add_readers(db, ["a@example.org"])
    with admin_site(db, AMINA, BRUNO, alert_approvers=2) as site:
        amina_web = log_in(site, AMINA)
        alert_id = alert_id_of(compose(amina_web))
        # The console approval names the logged-in admin, not a name in the form.
        step = f"/admin/alerts/{alert_id}/approve"
        version = VERSION_INPUT.search(amina_web.get(step).text)
        assert version
        named = {"by": BRUNO, "admin": BRUNO, "email": BRUNO}
        first = amina_web.post(
            step, {**named, "confirm": "yes", "version": version.group(1)}, token_from=step
        )
        assert first.status_code == 303
        # The same admin through the API does not make a second approval ...
        amina_api = {"Authorization": f"Bearer {token_for(db, AMINA)}"}
        again = httpx.post(
            f"{site.url}/api/alerts/{alert_id}/approve", json={"by": BRUNO}, headers=amina_api
        )
        assert again.status_code in {409, 422}
        assert deliveries(db, alert_id) == []
        # ... nor does pressing the button again.
        assert press(amina_web, alert_id, "approve").status_code == 409
        assert deliveries(db, alert_id) == []
        # A second admin who proved who they are does.
        bruno_api = {"Authorization": f"Bearer {token_for(db, BRUNO)}"}
        second = httpx.post(f"{site.url}/api/alerts/{alert_id}/approve", headers=bruno_api)
        assert second.status_code == 200 and second.json()["approved"] is True
        assert second.json()["alert"]["approved_by"] == [AMINA, BRUNO]
        assert len(deliveries(db, alert_id)) == 1
    approvals = [a for a in audit_actions(db) if a[1] == "alert.approve"]
    assert [a[0] for a in approvals] == [AMINA, BRUNO]


def test_a_draft_form_in_the_console_is_capped_too(site: Site) -> None:
    reader = log_in(site)
    response = reader.post(
        "/admin/alerts", {**DRAFT, "body": "x" * CAP}, token_from="/admin/alerts/new"
    )
    assert response.status_code == 413
