"""Helpers for the admin console and API tests (no tests of its own): admins, a logged-in
browser-less client, alerts and feed items in the database.

It lives here, not in tests/support/, only because of who owns which files for now.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from mailer.admins import add_admin, create_token, get_admin
from mailer.alerts import Draft, create_alert
from mailer.models import AuditEntry, Campaign, Item, Source
from tests.conftest import Db
from tests.support.browser import Reader, Site, running_site

PASSWORD = "correct horse battery staple"
AMINA = "amina@r2p.example"
BRUNO = "bruno@r2p.example"
DRAFT = {
    "subject": "Imminent risk of mass atrocities in El Fasher",
    "body": "Civilians are trapped in the city.\r\n\r\nThe Security Council must act now.",
    "link": "https://example.org/el-fasher",
    "audience": "all",
    "expires": "43200",
}


@contextmanager
def admin_site(db: Db, *admins: str, **settings: Any) -> Iterator[Site]:
    """The app on loopback with these admin accounts (password ``PASSWORD``); ``settings``
    override the test settings (``base_url`` included)."""
    add_admins(db, *(admins or (AMINA,)))
    with running_site(lambda url: db.settings(**{"base_url": url, **settings})) as site:
        yield site


def add_admins(db: Db, *emails: str) -> None:
    with db.session() as session:
        for email in emails:
            add_admin(email, PASSWORD, session=session)
        session.commit()


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


def press(reader: Reader, alert_id: int, button: str) -> httpx.Response:
    """Press the test / approve / cancel button on the alert's page."""
    page = f"/admin/alerts/{alert_id}"
    return reader.post(f"{page}/{button}", {}, token_from=page)


def stored_alert(
    db: Db, *, created: datetime | None = None, expires_in: timedelta = timedelta(hours=12)
) -> int:
    """An alert made directly in the database (e.g. in the past, to expire it)."""
    with db.session() as session:
        campaign = create_alert(
            Draft(DRAFT["subject"], "Civilians are trapped."),
            by=AMINA,
            expires_in=expires_in,
            now=created or datetime.now(UTC),
            session=session,
        )
        session.commit()
        return campaign.id


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


def add_source(db: Db, key: str = "un-news", **fields: Any) -> int:
    values = {"url": f"https://example.org/{key}.xml", "title": key, **fields}
    with db.session() as session:
        source = Source(key=key, **values)
        session.add(source)
        session.commit()
        return source.id


def add_item(db: Db, source_id: int, title: str, **fields: Any) -> int:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "url": f"https://example.org/story/{abs(hash(title))}",
        "summary_text": f"{title}. Civilians are at risk.",
        "published_at": now - timedelta(hours=2),
        "fetched_at": now - timedelta(hours=1),
        "tags": {"crimes": ["genocide"], "countries": ["sudan"], "r2p": True},
        "relevance": 5,
        "relevant": True,
        **fields,
    }
    with db.session() as session:
        item = Item(
            source_id=source_id, uid=title, dedupe_key=f"test:{title}", title=title, **values
        )
        session.add(item)
        session.commit()
        return item.id
