"""One story, one entry: a week whose event was reported by the Global Centre, a UN press
release and UN News, in the shape the real feeds give, with a backlog item among them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from mailer.models import Delivery, Item, Source, Subscriber
from mailer.sending.memory import MemorySender
from tests.conftest import Db
from tests.mailer.test_digest import parts, received, send_digest
from tests.support.factories import add_readers
from tests.support.ledger import drain

NOW = datetime.now(UTC)
PRESS_URL = "https://press.un.org/en/2026/sgsm23001.doc.htm"
LEAD = "Global Centre welcomes the genocide adviser's warning on El Fasher"
SUDAN = {"crimes": ["genocide"], "countries": ["sudan"], "r2p": True}


def add_story_item(db: Db, source: str, title: str, **fields: Any) -> None:
    values: dict[str, Any] = {
        "uid": fields.get("url", title),
        "dedupe_key": "url:" + fields.get("url", title),
        "summary_text": title,
        "published_at": NOW - timedelta(days=1),
        "fetched_at": NOW - timedelta(hours=1),
        "tags": SUDAN,
        "relevance": 8,
        "relevant": True,
        **fields,
    }
    with db.session() as session:
        source_id = session.scalar(select(Source.id).where(Source.key == source))
        session.add(Item(source_id=source_id, title=title, **values))
        session.commit()


@pytest.fixture
def week(db: Db) -> Db:
    with db.session() as session:
        session.add_all(
            [
                Source(
                    key="globalr2p",
                    url="https://globalr2p.org/feed/",
                    always_relevant=True,
                    section="global-centre",
                ),
                Source(
                    key="un-press",
                    url="https://press.un.org/en/rss.xml",
                    title="UN press",
                    section="un-press",
                ),
                Source(
                    key="un-news",
                    url="https://news.un.org/feed/rss.xml",
                    title="UN News",
                    section="un-news",
                ),
            ]
        )
        session.commit()
    add_story_item(
        db,
        "globalr2p",
        LEAD,
        url="https://www.globalr2p.org/publications/el-fasher-genocide-warning/",
        summary_html=f'<p>The Global Centre welcomes the <a href="{PRESS_URL}">warning</a>.</p>',
        summary_text="The Global Centre welcomes the warning and calls for protection.",
        published_at=NOW - timedelta(hours=20),
    )
    add_story_item(
        db,
        "un-press",
        "Special Adviser on Prevention of Genocide Warns of ‘Hallmarks of Genocide’ in El Fasher",
        url=PRESS_URL,
        dedupe_key="un-press:sgsm23001",
        published_at=NOW - timedelta(hours=30),
    )
    add_story_item(
        db,
        "un-news",
        "UN genocide adviser warns of hallmarks of genocide in El Fasher",
        url="https://news.un.org/en/story/2026/12/1166500",
        dedupe_key="un-news:en:1166500",
        summary_text="The Special Adviser's statement (SG/SM/23001) cites mass killings.",
        published_at=NOW - timedelta(hours=28),
    )
    add_story_item(
        db,
        "un-news",
        "Aid convoys reach Tawila as displacement from North Darfur grows",
        url="https://news.un.org/en/story/2026/12/1166510",
        dedupe_key="un-news:en:1166510",
        tags={"crimes": [], "countries": ["sudan"], "r2p": False},
    )
    add_story_item(
        db,
        "un-news",
        "Rohingya face grave and rising risk of genocide in Rakhine",
        url="https://news.un.org/en/story/2026/12/1166520",
        dedupe_key="un-news:en:1166520",
        tags={"crimes": ["genocide"], "countries": ["myanmar"], "r2p": False},
        published_at=NOW - timedelta(hours=5),
    )
    add_story_item(
        db,
        "un-press",
        "General Assembly Holds Plenary Debate on Responsibility to Protect",
        url="https://press.un.org/en/2026/ga12777.doc.htm",
        dedupe_key="un-press:ga12777",
        tags={"crimes": [], "countries": [], "r2p": True},
    )
    add_story_item(
        db,
        "un-news",
        "Backlog: Security Council visits Darfur",
        url="https://news.un.org/en/story/2026/07/1150000",
        dedupe_key="un-news:en:1150000",
        published_at=NOW - timedelta(days=120),
        fetched_at=NOW - timedelta(minutes=30),
    )
    return db


def test_one_event_is_one_entry_with_every_source_in_sections_by_situation(week: Db) -> None:
    add_readers(week, ["all@example.org"])
    campaign, queued, said = send_digest(week)
    assert campaign is not None and queued == 1, said
    assert len(campaign.context["item_ids"]) == 6  # the backlog item is not in the issue
    sender = MemorySender()
    drain(week, sender)
    message = received(sender)["all@example.org"]
    text, html = parts(message)

    assert message["Subject"] == f"Sudan: {LEAD}, and 3 more"
    preheader = html.split("mso-hide:all", 1)[1].split("</div>", 1)[0]
    assert f"Sudan: {LEAD}" in preheader.replace("&#39;", "'") and "4 stories for you" in preheader
    assert "Backlog" not in html and "Backlog" not in text

    entries = html.split("<h3")[1:]
    assert len(entries) == 4  # six items, four stories
    story = next(e for e in entries if "El Fasher" in e)
    for source in ("Global Centre for R2P", "UN press release SG/SM/23001", "UN News"):
        assert source in story
    assert "hallmarks of genocide in El Fasher</a>" not in html  # the Global Centre's title won
    assert PRESS_URL in story and "news.un.org/en/story/2026/12/1166500" in story
    assert re.search(r"\d{1,2} [A-Z][a-z]+ 20\d\d", story)  # one human date format

    order = [
        html.index(f">{title}<")
        for title in (
            "From the Global Centre for R2P",
            "Myanmar",
            "Sudan",
            "R2P, genocide prevention and the UN system",
        )
    ]
    assert order == sorted(order)
    lines = text.replace("\r\n", "\n").split(LEAD, 1)[1].split("\n\n", 1)[0]
    assert lines.count("\n  - ") == 3  # the text part lists the three sources too


def test_readers_of_the_same_stories_share_one_content(week: Db) -> None:
    add_readers(week, ["sudan@example.org"], topics=["sudan"])
    add_readers(week, ["sudan-venezuela@example.org"], topics=["sudan", "venezuela"])
    add_readers(week, ["myanmar@example.org"], topics=["myanmar"])
    campaign, queued, said = send_digest(week)
    assert campaign is not None and queued == 3 and said.endswith("2 distinct contents")
    with week.session() as session:
        keys = dict(
            session.execute(
                select(Subscriber.email, Delivery.content_key).join(
                    Delivery, Delivery.subscriber_id == Subscriber.id
                )
            ).all()
        )
    assert keys["sudan@example.org"] == keys["sudan-venezuela@example.org"]
    assert keys["myanmar@example.org"] != keys["sudan@example.org"]
    sender = MemorySender()
    drain(week, sender)
    mail = received(sender)
    assert mail["myanmar@example.org"]["Subject"] == (
        "Myanmar: Rohingya face grave and rising risk of genocide in Rakhine"
    )
    assert mail["sudan@example.org"]["Subject"] == f"Sudan: {LEAD}, and 1 more"
