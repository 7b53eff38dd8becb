"""A week of feeds in the shape of the real ones, through the real pipeline (served on
loopback, polled, normalised, tagged, stored, clustered, sent): one entry per story, a
meeting's press release kept over its live blog, no backlog, no football, and no DR Congo
tag for the Danish Refugee Council (issue 15)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from jobs.poll import poll_sources
from mailer.feeds.registry import SourceSpec, add_source
from mailer.models import Item
from mailer.sending.memory import MemorySender
from tests.conftest import Db
from tests.mailer.test_digest import parts, received, send_digest
from tests.support.factories import add_readers
from tests.support.feedserver import FeedServer
from tests.support.ledger import drain

# (key, fixture, always relevant, digest section), all dated as this week's news.
THIS_WEEK = (
    ("globalr2p", "globalr2p/feed.xml", True, "global-centre"),
    ("globalr2p-statements", "globalr2p/el-fasher-statement.xml", True, "global-centre"),
    ("un-press", "un-press/rss.xml", False, "un-press"),
    ("un-news-all", "un-news/all.xml", False, "un-news"),
    ("un-news-rights", "un-news/feed-view-guids.xml", False, "un-news"),
)
STATEMENT = "Statement on mass killings in El Fasher, Sudan"
EL_FASHER_PRESS = "https://press.un.org/en/2026/sc16444.doc.htm"
EL_FASHER_NEWS = "https://news.un.org/en/story/2026/11/1166401"
MEETING_RELEASE = "https://press.un.org/en/2026/sc16450.doc.htm"
MEETING_BLOG = "https://press.un.org/en/blog/sc16450"
FOOTBALL = "https://news.un.org/en/story/2026/11/1166421"
DANISH_REFUGEE_COUNCIL = "https://news.un.org/en/story/2026/11/1166422"
NORTH_KIVU = "https://news.un.org/en/story/2026/11/1166423"
BACKLOG = (
    "https://news.un.org/en/story/2026/06/1161001",
    "https://news.un.org/en/story/2026/07/1162002",
)


def source(db: Db, key: str, url: str, *, always: bool = False, section: str = "un-news") -> None:
    with db.session() as session:
        add_source(
            SourceSpec(key=key, url=url, always_relevant=always, section=section),
            allow_private=True,
            session=session,
        )
        session.commit()


def poll(db: Db) -> None:
    asyncio.run(poll_sources(db.settings(), db.factory))


@pytest.fixture
def week(db: Db, feed_server: FeedServer) -> Db:
    for key, name, always, section in THIS_WEEK:
        source(
            db, key, feed_server.serve_this_weeks(f"/{key}", name), always=always, section=section
        )
    # A Security Council meeting: its live blog is published (and polled) first, its press
    # release later at the same address.
    meeting = feed_server.serve_this_weeks("/meeting", "un-press/blog-first.xml")
    source(db, "un-press-meeting", meeting, section="un-press")
    # A feed added this week whose entries are from June and July, dated as published.
    source(db, "un-news-africa", feed_server.serve_file("/africa", "un-news/backlog.xml"))
    poll(db)
    feed_server.serve_this_weeks("/meeting", "un-press/release-after-blog.xml")
    poll(db)
    return db


def stored(db: Db) -> dict[str, Item]:
    with db.session() as session:
        return {item.url: item for item in session.scalars(select(Item))}


def test_the_week_is_stored_as_editors_expect(week: Db) -> None:
    items = stored(week)
    assert MEETING_RELEASE in items and MEETING_BLOG not in items  # the release replaced it
    assert not items[FOOTBALL].relevant  # a country alone makes nothing relevant
    council = items[DANISH_REFUGEE_COUNCIL]
    assert "dr-congo" not in council.tags["countries"] and not council.relevant
    kivu = items[NORTH_KIVU]
    assert "dr-congo" in kivu.tags["countries"] and kivu.relevant
    assert kivu.tags["matched"]["dr-congo"] in {"DRC", "North Kivu", "Kinshasa"}
    assert all(url in items for url in BACKLOG)  # stored, but not this week's news


def test_the_weeks_issue_has_each_story_once(week: Db) -> None:
    add_readers(week, ["everything@example.org"])
    campaign, queued, said = send_digest(week)
    assert campaign is not None and queued == 1, said
    sender = MemorySender()
    drain(week, sender, base_url="https://r2p.example.org")
    text, html = parts(received(sender)["everything@example.org"])

    # The Global Centre's statement, the press release and the UN News story on the fall of
    # El Fasher: one entry, in the statement's words, every source linked.
    assert html.count(STATEMENT) == 1 and text.count(STATEMENT) == 1
    assert EL_FASHER_PRESS in html and EL_FASHER_NEWS in html
    assert "Amid Reports of Mass Killings in El Fasher" not in html  # no second entry
    assert "UN press release SC/16444" in html and "UN News" in html

    assert MEETING_RELEASE in html and MEETING_BLOG not in html
    assert NORTH_KIVU in html
    for absent in (FOOTBALL, DANISH_REFUGEE_COUNCIL, *BACKLOG):
        assert absent not in html and absent not in text
    assert "World football" not in html and "Great Lakes" not in html
