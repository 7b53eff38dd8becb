"""The public archive: past issues as pages and as an RSS feed."""

from __future__ import annotations

from datetime import UTC, datetime

import feedparser
from fastapi.testclient import TestClient

from mailer.digest import iso_period
from mailer.digest_draft import edit, prepare, send_now
from mailer.digest_review import Edits
from service.app import create_app
from tests.conftest import Db
from tests.mailer.test_digest import ingested, send_digest
from tests.support.factories import AMINA, add_item, add_readers, add_source

__all__ = ["ingested"]


def test_published_issues_are_listed_shown_and_syndicated(ingested: Db) -> None:
    add_readers(ingested, ["reader@example.org"], topics=["myanmar"])
    campaign, _, _ = send_digest(ingested, base_url="https://r2p.example.org")
    assert campaign is not None
    with TestClient(create_app(ingested.settings(base_url="https://r2p.example.org"))) as web:
        listing = web.get("/archive")
        assert listing.status_code == 200 and campaign.subject in listing.text
        page = web.get(f"/archive/{campaign.key}")
        assert page.status_code == 200
        # The web page shows everything, whatever one reader's topics were.
        assert "Populations at Risk: Nicaragua" in page.text
        assert 'id="global-centre"' in page.text and "Unsubscribe" not in page.text
        feed = web.get("/archive/feed.xml")
        assert feed.headers["content-type"].startswith("application/rss+xml")
        parsed = feedparser.parse(feed.content)
        assert not parsed.bozo and parsed.feed.title == "R2P weekly digest"
        assert [entry.link for entry in parsed.entries] == [
            f"https://r2p.example.org/archive/{campaign.key}"
        ]
        assert web.get("/archive/digest:1999-W01").status_code == 404
        assert web.get("/archive/alert:x").status_code == 404


def test_an_empty_archive_says_so(db: Db) -> None:
    with TestClient(create_app(db.settings())) as web:
        page = web.get("/archive")
    assert page.status_code == 200 and "No issue has been published yet" in page.text


def test_a_reviewed_issue_shows_its_note_and_not_what_the_editor_removed(db: Db) -> None:
    add_readers(db, ["reader@example.org"])
    source = add_source(db)
    add_item(db, source, "Killings reported in El Fasher")
    gone = add_item(
        db,
        source,
        "Famine spreads in Gaza",
        tags={"crimes": ["genocide"], "countries": ["palestine"], "r2p": True},
    )
    settings = db.settings(base_url="https://r2p.example.org")
    now = datetime.now(UTC)
    with db.session() as session:
        period = iso_period(now)
        issued = prepare(settings=settings, period=period, now=now, by="test", session=session)
        assert issued.campaign is not None
        edits = Edits.of(issued.campaign.context).removing(gone, removed=True)
        edit(
            issued.campaign,
            edits.noting("See [our statement](https://example.org/s)."),
            settings=settings,
            session=session,
        )
        send_now(issued.campaign, settings=settings, by=AMINA, now=now, session=session)
        key = issued.campaign.key
        session.commit()
    with TestClient(create_app(settings)) as web:
        page = web.get(f"/archive/{key}").text
    assert (
        '<a href="https://example.org/s" rel="noopener noreferrer nofollow">our statement</a>'
        in page
    )
    assert "Killings reported in El Fasher" in page and "Famine spreads in Gaza" not in page
