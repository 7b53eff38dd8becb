"""Public error answers: people get an HTML page in the site's layout (404, 405, 500),
the API and JSON clients get JSON, nothing of the request or the failure leaks; the
favicon is served and every page names it."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from service.app import create_app
from tests.conftest import Db

HTML = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture
def app(db: Db) -> FastAPI:
    app = create_app(db.settings(base_url="http://testserver"))

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("SELECT * FROM admins WHERE password='hunter2'")

    return app


def get(app: FastAPI, path: str, method: str = "GET", **headers: str) -> httpx.Response:
    async def ask() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await c.request(method, path, headers=headers)

    return asyncio.run(ask())


def test_a_missing_page_is_an_html_page_in_the_site_layout(app: FastAPI) -> None:
    answer = get(app, "/no-such-page", **HTML)
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "Page not found" in answer.text and 'href="/subscribe"' in answer.text
    assert answer.headers["x-frame-options"] == "DENY"
    assert "default-src" in answer.headers["content-security-policy"]
    assert answer.headers["cache-control"] == "no-store"
    assert '"detail"' not in answer.text


def test_a_client_without_an_accept_header_also_gets_the_page(app: FastAPI) -> None:
    answer = get(app, "/nothing/here")  # curl, a link checker
    assert answer.status_code == 404 and "Page not found" in answer.text


def test_a_hostile_path_is_not_echoed(app: FastAPI) -> None:
    answer = get(app, "/%3Cscript%3Ealert(1)%3C/script%3E", **HTML)
    assert answer.status_code == 404
    assert "<script>" not in answer.text and "alert(1)" not in answer.text


def test_the_api_and_json_clients_keep_json(app: FastAPI) -> None:
    api = get(app, "/api/no-such-thing", **HTML)
    assert api.status_code in {401, 404}
    assert api.headers["content-type"] == "application/json"
    assert "detail" in api.json()
    wanted_json = get(app, "/no-such-page", accept="application/json")
    assert wanted_json.status_code == 404 and wanted_json.json() == {"detail": "Not Found"}


def test_a_wrong_method_is_a_page_too(app: FastAPI) -> None:
    answer = get(app, "/archive", method="DELETE", **HTML)
    assert answer.status_code == 405 and "cannot be used that way" in answer.text
    assert "allow" in answer.headers  # the methods that are allowed, as HTTP requires


def test_a_server_error_is_a_fixed_page_that_says_nothing_of_the_failure(
    app: FastAPI,
) -> None:
    answer = get(app, "/boom", **HTML)
    assert answer.status_code == 500
    assert answer.headers["content-type"].startswith("text/html")
    assert "Something went wrong" in answer.text and "has been logged" in answer.text
    assert "hunter2" not in answer.text and "SELECT" not in answer.text
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_the_favicon_is_served_and_named_by_every_page(app: FastAPI) -> None:
    icon = get(app, "/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/x-icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert "max-age" in icon.headers["cache-control"]
    svg = get(app, "/static/favicon.svg")
    assert svg.status_code == 200 and svg.text.lstrip().startswith("<svg")
    for path in ("/subscribe", "/admin/login", "/no-such-page"):
        page = get(app, path, **HTML)
        assert 'rel="icon" href="/favicon.ico"' in page.text, path
        assert 'href="/static/favicon.svg"' in page.text, path
