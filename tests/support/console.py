"""Helpers for the staff console and API tests: the app with admin accounts, a logged-in
browser-less client, the console's buttons, and reading back campaigns and the audit log."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import select

from mailer.admins import create_token, get_admin
from mailer.models import AuditEntry, Campaign
from tests.conftest import Db
from tests.support.browser import CSRF_INPUT, Reader, Site, running_site
from tests.support.factories import ALERT_SUBJECT, AMINA, PASSWORD, add_admins

BRUNO = "bruno@r2p.example"
DRAFT = {
    "subject": ALERT_SUBJECT,
    "body": "Civilians are trapped in the city.\r\n\r\nThe Security Council must act now.",
    "link": "https://example.org/el-fasher",
    "audience": "all",
    "expires": "43200",
}


@contextmanager
def admin_site(db: Db, *admins: str, live: bool = False, **settings: Any) -> Iterator[Site]:
    """The app at a loopback URL with these admin accounts (password ``PASSWORD``), its
    readers' requests in-process (over HTTP with ``live``: ``running_site``); ``settings``
    override the test settings (``base_url`` included)."""
    add_admins(db, *(admins or (AMINA,)))
    settings_for = lambda url: db.settings(**{"base_url": url, **settings})  # noqa: E731
    with running_site(settings_for, live=live) as site:
        yield site


def log_in(site: Site, email: str = AMINA, password: str = PASSWORD) -> Reader:
    """A client holding an admin session (asserts the login worked)."""
    reader = site.reader()
    response = login(reader, email, password)
    assert response.status_code == 303, response.text
    return reader


def login(reader: Reader, email: str, password: str, **extra: str) -> httpx.Response:
    data = {"email": email, "password": password, **extra}
    return reader.post("/admin/login", data, token_from="/admin/login")


def compose(reader: Reader, **fields: Any) -> httpx.Response:
    return reader.post("/admin/alerts", {**DRAFT, **fields}, token_from="/admin/alerts/new")


def alert_id_of(response: httpx.Response) -> int:
    match = re.fullmatch(r"/admin/alerts/(\d+)\?done=created", response.headers["location"])
    assert match, response.headers.get("location")
    return int(match.group(1))


VERSION_INPUT = re.compile(r'name="version" value="([^"]+)"')


def press(reader: Reader, alert_id: int, button: str) -> httpx.Response:
    """Press the test / approve / cancel button on the alert's page; approving goes on
    through the confirmation page and confirms what it shows (``confirm``)."""
    page = f"/admin/alerts/{alert_id}"
    if button == "approve":
        return confirm(reader, alert_id)
    return reader.post(f"{page}/{button}", {}, token_from=page)


def confirm(reader: Reader, alert_id: int) -> httpx.Response:
    """Open the alert's confirmation page and press its confirm button (or, when the
    page offers none, post without a version: the answer says why)."""
    step = f"/admin/alerts/{alert_id}/approve"
    shown = reader.get(step)
    version = VERSION_INPUT.search(shown.text)
    token = CSRF_INPUT.search(shown.text) or CSRF_INPUT.search(reader.get("/admin").text)
    assert token, f"no CSRF field on {step} or /admin"
    data = {"csrf_token": token.group(1), "confirm": "yes"}
    if version:
        data["version"] = version.group(1)
    return reader.post(step, data)


def campaign(where: Db | Site, campaign_id: int) -> Campaign:
    with where.factory() as session:
        return session.get_one(Campaign, campaign_id)


def audit_actions(where: Db | Site) -> list[tuple[str, str, str]]:
    """(actor, action, target), oldest first."""
    with where.factory() as session:
        return [
            (e.actor, e.action, e.target)
            for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        ]


def token_for(db: Db, email: str = AMINA) -> str:
    with db.session() as session:
        token = create_token(get_admin(email, session=session), name="tests", session=session)
        session.commit()
        return token
