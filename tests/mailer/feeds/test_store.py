"""Storing items once per story, and a meeting's press release replacing its live blog."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

import mailer.feeds.store
from mailer.feeds.items import override as override_relevance
from mailer.feeds.normalise import Entry, dedupe_key
from mailer.feeds.store import store_entries
from mailer.feeds.tagging import load_tagger
from mailer.models import Item, Source
from tests.conftest import Db
from tests.support.factories import add_item, add_source

BLOG = "https://press.un.org/en/blog/sc16450"
RELEASE = "https://press.un.org/en/2026/sc16450.doc.htm"
AT = datetime(2026, 11, 24, 20, 31, tzinfo=UTC)


def entry(url: str, title: str) -> Entry:
    return Entry(
        uid=url,
        dedupe_key=dedupe_key(url, url),
        url=url,
        title=title,
        author="Security Council",
        summary_html="",
        summary_text="Reports of mass killings and forced displacement in Rakhine State.",
        body_text="",
        published_at=AT,
    )


def store(session: Session, source_id: int, *entries: Entry) -> int:
    return store_entries(
        session.get_one(Source, source_id),
        list(entries),
        tagger=load_tagger(),
        fetched_at=AT,
        session=session,
    )


def test_a_press_release_that_loses_the_insert_race_still_replaces_the_blog(
    db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    source_id = add_source(db, "un-press")
    blog_id = add_item(db, source_id, "LIVE: Security Council meets on Myanmar", url=BLOG)
    with db.session() as session:
        session.get_one(Item, blog_id).dedupe_key = "un-press:sc16450"
        session.commit()
    # this poller read the story keys before another poller stored the blog
    monkeypatch.setattr(mailer.feeds.store, "stored_by_key", lambda session, keys: {})
    with db.session() as session:
        assert store(session, source_id, entry(RELEASE, "Security Council, 10058th Meeting")) == 1
        session.commit()
    monkeypatch.undo()
    with db.session() as session:
        (item,) = session.scalars(select(Item))
        assert (item.id, item.url, item.uid) == (blog_id, RELEASE, RELEASE)
        assert item.tags["risks"] == ["mass-killings", "forced-displacement"]
        assert store(session, source_id, entry(RELEASE, "Security Council, 10058th Meeting")) == 0
        assert store(session, source_id, entry(BLOG, "LIVE: Security Council meets")) == 0
        session.commit()
        assert session.scalars(select(Item.url)).all() == [RELEASE]


@pytest.mark.parametrize("override", [False, None])
def test_a_replacing_item_keeps_an_editors_relevance_override(
    db: Db, override: bool | None
) -> None:
    source_id = add_source(db, "un-press")
    blog_id = add_item(db, source_id, "LIVE: Security Council meets on Myanmar", url=BLOG)
    with db.session() as session:
        blog = session.get_one(Item, blog_id)
        blog.dedupe_key = dedupe_key(RELEASE, RELEASE)
        if override is not None:
            override_relevance(blog, override, by="amina@r2p.example", at=AT)
        session.commit()
    with db.session() as session:
        assert store(session, source_id, entry(RELEASE, "Security Council, 10058th Meeting")) == 1
        session.commit()
    with db.session() as session:
        item = session.get_one(Item, blog_id)
        assert item.url == RELEASE and item.tags["risks"]  # the rules find it relevant
        if override is None:
            assert (item.relevant, item.rules_relevant, item.relevance_override) == (
                True,
                None,
                None,
            )
        else:
            # the editor's verdict stands; the rules' new verdict is kept beside it
            assert (item.relevant, item.rules_relevant, item.relevance_override) == (
                False,
                True,
                False,
            )
