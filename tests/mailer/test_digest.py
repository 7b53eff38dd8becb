"""The weekly digest: built from ingested fixture items, per reader profile, once per week."""

from __future__ import annotations

import asyncio
import email.policy
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from jobs.deliver import DeliveryWorker
from jobs.poll import poll_sources
from mailer.digest import create_digest, plan_digest, preview_digest
from mailer.feeds.registry import SourceSpec, add_source
from mailer.models import Campaign, CampaignContent, Delivery, Item, Subscriber
from mailer.sending.memory import MemorySender
from tests.conftest import Db
from tests.support.factories import add_readers
from tests.support.feedserver import FeedServer
from tests.support.ledger import drain
from tests.support.running import invoke

NOW = datetime.now(UTC)


@pytest.fixture
def ingested(db: Db, feed_server: FeedServer) -> Db:
    with db.session() as session:
        for key, name, always, section in (
            ("globalr2p", "globalr2p/feed.xml", True, "global-centre"),
            ("un-press", "un-press/rss.xml", False, "un-press"),
            ("un-news-all", "un-news/all.xml", False, "un-news"),
        ):
            url = feed_server.serve_this_weeks(f"/{key}", name)
            add_source(
                SourceSpec(key=key, url=url, always_relevant=always, section=section),
                allow_private=True,
                session=session,
            )
        session.commit()
    asyncio.run(poll_sources(db.settings(), db.factory))
    return db


def send_digest(db: Db, **settings: object) -> tuple[Campaign | None, int, str]:
    with db.session() as session:
        plan = plan_digest(now=datetime.now(UTC), session=session)
        result = create_digest(plan, settings=db.settings(**settings), session=session)
        session.commit()
    return result


def received(sender: MemorySender) -> dict[str, EmailMessage]:
    messages = {}
    for _from, to, raw in sender.sent:
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        messages[to] = parsed
    return messages


def parts(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def test_each_reader_gets_the_sections_their_topics_match(ingested: Db) -> None:
    add_readers(ingested, ["all@example.org"])
    add_readers(ingested, ["myanmar@example.org"], topics=["myanmar"])
    add_readers(ingested, ["venezuela@example.org"], topics=["venezuela"])
    add_readers(ingested, ["alerts-only@example.org"], wants_digest=False)
    add_readers(ingested, ["pending@example.org"], status="pending")
    campaign, queued, message = send_digest(ingested)
    assert campaign is not None and queued == 2, message
    sender = MemorySender()
    drain(ingested, sender, base_url="https://r2p.example.org")
    mail = received(sender)
    assert sorted(mail) == ["all@example.org", "myanmar@example.org"]

    text, html = parts(mail["all@example.org"])
    order = [
        html.index(title)
        for title in (
            ">From the Global Centre for R2P<",
            ">Sudan<",
            ">R2P, genocide prevention and the UN system<",
        )
    ]
    assert order == sorted(order)
    assert "Atrocity Alert No. 430: Sudan, Myanmar and Haiti" in text
    assert "World Toilet Day" not in html  # irrelevant items stay out
    assert "https://news.un.org/en/story/2026/11/1166401" in html

    _text, myanmar_html = parts(mail["myanmar@example.org"])
    assert "https://news.un.org/en/story/2026/11/1166402" in myanmar_html  # Rohingya story
    assert "atrocity-alert-no-430" in myanmar_html  # names Myanmar among others
    assert "https://news.un.org/en/story/2026/11/1166406" not in myanmar_html  # Gaza
    assert "populations-at-risk-nicaragua" not in myanmar_html


def test_both_parts_carry_links_headers_and_stay_small(ingested: Db) -> None:
    add_readers(ingested, ["reader@example.org"])
    send_digest(ingested)
    sender = MemorySender()
    drain(ingested, sender, base_url="https://r2p.example.org")
    raw = sender.sent[0][2]
    message = received(sender)["reader@example.org"]
    text, html = parts(message)
    assert len(raw) < 100 * 1024
    assert re.match(r".{20,}, and \d+ more$", message["Subject"])
    assert "weekly digest 20" not in message["Subject"]  # no ISO-week jargon
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = message["List-Unsubscribe"].strip("<>")
    for part in (text, html):
        assert unsubscribe in part
        assert "https://r2p.example.org/preferences/" in part
        assert "https://r2p.example.org/archive/digest:" in part
    assert "<" not in text.replace("<https", "")  # the text part is plain text
    assert "<img" not in html and "@import" not in html and "fonts.googleapis" not in html
    assert 'name="color-scheme"' in html and "prefers-color-scheme: dark" in html
    assert 'style="' in html  # CSS inlined for clients that drop <style>


def test_a_second_send_for_the_same_week_does_nothing(ingested: Db) -> None:
    add_readers(ingested, ["reader@example.org"])
    first, queued, _ = send_digest(ingested)
    assert first is not None and queued == 1
    again, queued_again, message = send_digest(ingested)
    assert again is None and queued_again == 0 and "already exists" in message
    with ingested.session() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 1
        assert session.scalar(select(func.count()).select_from(Campaign)) == 1


def test_nothing_new_since_the_last_issue_means_no_issue(ingested: Db) -> None:
    add_readers(ingested, ["reader@example.org"])
    first, _, _ = send_digest(ingested)
    assert first is not None
    next_week = datetime.now(UTC) + timedelta(days=7)
    with ingested.session() as session:
        plan = plan_digest(now=next_week, session=session)
        assert plan.since == datetime.fromisoformat(first.context["until"])
        campaign, queued, message = create_digest(
            plan, settings=ingested.settings(), session=session
        )
    assert campaign is None and queued == 0 and "no new relevant items" in message


def test_long_sections_link_to_the_rest_on_the_web(ingested: Db) -> None:
    add_readers(ingested, ["reader@example.org"])
    send_digest(ingested)
    sender = MemorySender()
    drain(ingested, sender, digest_section_limit=2, base_url="https://r2p.example.org")
    text, html = parts(received(sender)["reader@example.org"])
    assert re.search(r"and \d+ more in From the Global Centre for R2P", html)
    assert "#global-centre" in html and "and 2 more:" in text


def test_preview_renders_without_storing_anything(ingested: Db) -> None:
    with ingested.session() as session:
        plan = plan_digest(now=datetime.now(UTC), session=session)
        everything = preview_digest(plan, settings=ingested.settings(), session=session)
        nothing = preview_digest(
            plan, settings=ingested.settings(), session=session, topics=["venezuela"]
        )
        assert session.scalar(select(func.count()).select_from(Campaign)) == 0
        relevant = session.scalar(select(func.count()).where(Item.relevant))
    assert everything is not None and nothing is None
    assert relevant is not None
    stories = int(re.findall(r"(\d+) stories for you", everything.text)[0])
    assert 0 < stories < relevant  # stories reported by several sources are one entry
    assert "R2PSLOT" not in everything.html and "reader@example.org" in everything.html


def test_the_digest_commands_preview_send_once_and_refuse_bad_periods(
    ingested: Db, cli_env: Db, tmp_path: Path
) -> None:
    add_readers(ingested, ["reader@example.org"], topics=["haiti"])
    out = tmp_path / "next.html"
    code, output = invoke("digest", "preview", "--out", str(out))
    assert code == 0 and re.search(r"Subject: .+, and \d+ more", output)
    assert out.read_text().startswith("<!DOCTYPE html>")
    code, output = invoke("digest", "preview", "--subscriber", "reader@example.org")
    assert "Atrocity Alert No. 430" in output and "Nicaragua" not in output
    code, output = invoke("digest", "preview", "--subscriber", "nobody@example.org")
    assert code == 1 and "no subscriber" in output
    code, output = invoke("digest", "send", "--period", "2026-W48")
    assert code == 0 and "1 deliveries queued" in output
    code, output = invoke("digest", "send", "--period", "2026-W48")
    assert code == 0 and "already exists: nothing to do" in output
    code, output = invoke("digest", "send", "--period", "2026-48")
    assert code == 2 and "not an ISO week" in output


def test_readers_whose_topics_select_the_same_items_share_one_render(ingested: Db) -> None:
    same = ["sudan@example.org", "sudan-venezuela@example.org", "haiti-sudan@example.org"]
    add_readers(ingested, [same[0]], topics=["sudan"])
    add_readers(ingested, [same[1]], topics=["sudan", "venezuela"])  # nothing on Venezuela
    add_readers(ingested, [same[2]], topics=["haiti", "sudan"])  # Haiti only beside Sudan
    add_readers(ingested, ["soudan@example.org"], topics=["sudan"], language="fr")
    add_readers(ingested, ["all@example.org"])
    add_readers(ingested, ["nicaragua@example.org"], topics=["nicaragua"])
    campaign, queued, said = send_digest(ingested)
    assert campaign is not None and queued == 6
    # The French reader's mail is written in French: a content of its own (the same
    # English items: the fixture has no French source).
    assert said.endswith("4 distinct contents")
    with ingested.session() as session:
        assert session.scalar(select(func.count()).select_from(CampaignContent)) == 4
        keys = dict(
            session.execute(
                select(Subscriber.email, Delivery.content_key).join(
                    Delivery, Delivery.subscriber_id == Subscriber.id
                )
            ).all()
        )
    assert len({keys[a] for a in same}) == 1 and keys["soudan@example.org"] != keys[same[0]]
    assert keys["soudan@example.org"].startswith("fr:")
    assert len(set(keys.values())) == 4

    sender = MemorySender()
    worker = DeliveryWorker(
        ingested.settings(base_url="https://r2p.example.org"), ingested.factory, sender
    )
    assert asyncio.run(worker.run(once=True)).sent == 6
    assert worker.renders == 4  # one per content, not one per topic set (that would be 6)
    mail = received(sender)
    subjects = {mail[a]["Subject"] for a in same}
    assert len(subjects) == 1 and subjects.pop().endswith(", and 2 more")
    assert mail["soudan@example.org"]["Subject"].endswith(", et 2 autres")
    assert mail["nicaragua@example.org"]["Subject"] == "Populations at Risk: Nicaragua"


PROFILES = [
    ("en", []),
    ("en", ["myanmar"]),
    ("en", ["sudan"]),
    ("en", ["nicaragua"]),
    ("en", ["r2p"]),
    ("en", ["genocide", "ukraine"]),
    ("fr", ["dr-congo", "israel-opt"]),
    ("ar", ["sudan", "war-crimes"]),
    ("zh", ["crimes-against-humanity"]),
]


def test_every_readers_subject_and_preheader_count_what_their_body_lists(
    ingested: Db,
) -> None:
    for n, (language, topics) in enumerate(PROFILES):
        add_readers(ingested, [f"profile{n}@example.org"], language=language, topics=topics)
    send_digest(ingested)
    sender = MemorySender()
    drain(ingested, sender, digest_section_limit=2)  # long sections end in "and N more"
    mail = received(sender)
    assert len(mail) == len(PROFILES)
    counts = set()
    english = {f"profile{n}@example.org" for n, (lang, _) in enumerate(PROFILES) if lang == "en"}
    for address, message in mail.items():
        if address not in english:  # other languages: tests/mailer/test_digest_languages.py
            continue
        match = re.match(r"(.+?)(?:, and (\d+) more)?$", message["Subject"])
        assert match, message["Subject"]
        said, lead = 1 + int(match.group(2) or 0), match.group(1).rstrip("…")
        text, html = parts(message)
        listed = html.count("<h3")
        more = sum(int(m) for m in re.findall(r"and (\d+) more in", html))
        assert listed + more == said, (address, listed, more, said)
        assert f"· {said} stor" in text
        preheader = html.split("mso-hide:all", 1)[1].split("</div>", 1)[0]
        assert f"{said} stor" in preheader and lead.replace("&", "&amp;") in preheader
        first_title = re.search(r"<h3[^>]*><a[^>]*>(.*?)</a>", html, re.S)
        assert first_title and first_title.group(1)[:30] in lead.replace("&", "&amp;")
        counts.add(said)
    assert len(counts) > 3  # the profiles really got different amounts


def test_an_issue_queued_before_content_keys_still_goes_out(ingested: Db) -> None:
    """Rows queued by the previous version name a topic segment (``en|sudan``) and have
    no stored content: the worker works the content out from the segment."""
    add_readers(ingested, ["sudan@example.org"], topics=["sudan"])
    add_readers(ingested, ["all@example.org"])
    campaign, _queued, _said = send_digest(ingested)
    assert campaign is not None
    with ingested.session() as session:
        session.execute(delete(CampaignContent))
        for delivery in session.scalars(select(Delivery)):
            reader = session.get_one(Subscriber, delivery.subscriber_id)
            delivery.content_key = "en|sudan" if reader.topics else "en|*"
        session.commit()
    sender = MemorySender()
    assert drain(ingested, sender).sent == 2
    mail = received(sender)
    sudan, everything = parts(mail["sudan@example.org"])[0], parts(mail["all@example.org"])[0]
    assert mail["sudan@example.org"]["Subject"].endswith(", and 2 more")
    assert "El Fasher" in sudan and "Nicaragua" not in sudan
    # 11 relevant items (a country alone makes nothing relevant) in 9 stories
    assert "9 stories for you" in everything and "Nicaragua" in everything


def test_a_delivery_naming_a_content_its_campaign_lacks_fails_with_the_reason(
    ingested: Db,
) -> None:
    add_readers(ingested, ["a@example.org", "b@example.org"])
    send_digest(ingested)
    with ingested.session() as session:
        first = session.scalars(select(Delivery).order_by(Delivery.id)).first()
        assert first is not None
        first.content_key = "en:no-such-content"
        session.commit()
    sender = MemorySender()
    progress = drain(ingested, sender)
    assert (progress.sent, progress.failed) == (1, 1)
    with ingested.session() as session:
        rows = {d.content_key: d for d in session.scalars(select(Delivery))}
    assert rows["en:no-such-content"].status == "failed"
    assert "no such content" in rows["en:no-such-content"].last_reply
