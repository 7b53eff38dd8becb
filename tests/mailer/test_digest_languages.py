"""The digest in the reader's language: written in each of the six (subject, headings,
plurals, dates, right to left in Arabic) and carrying the stories of the sources in that
language, with English stories no source in it covers when the reader wants them."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from jobs.poll import poll_sources
from mailer import i18n
from mailer.digest_content import preheader, subject_line
from mailer.email.render import reader_date
from mailer.feeds.registry import SourceSpec, add_source
from mailer.models import Campaign, Delivery, Subscriber
from mailer.sending.memory import MemorySender
from tests.conftest import Db
from tests.mailer.test_digest import parts, received, send_digest
from tests.support.factories import add_readers
from tests.support.feedserver import FeedServer
from tests.support.ledger import drain

FRENCH_UN_NEWS = "news.un.org/fr/story/"
ENGLISH_UN_NEWS = "news.un.org/en/story/"
GLOBAL_CENTRE = "globalr2p.org"


@pytest.fixture
def multilingual(db: Db, feed_server: FeedServer) -> Db:
    """The Global Centre and UN press releases (English only), UN News in English, and
    its French and Arabic twins (``un-news-all-fr``, ``un-news-all-ar``)."""
    with db.session() as session:
        for key, name, always, section, language in (
            ("globalr2p", "globalr2p/feed.xml", True, "global-centre", "en"),
            ("un-press", "un-press/rss.xml", False, "un-press", "en"),
            ("un-news-all", "un-news/all.xml", False, "un-news", "en"),
            ("un-news-all-fr", "un-news-languages/fr.xml", False, "un-news", "fr"),
            ("un-news-all-ar", "un-news-languages/ar.xml", False, "un-news", "ar"),
        ):
            url = feed_server.serve_this_weeks(f"/{key}", name)
            add_source(
                SourceSpec(
                    key=key, url=url, always_relevant=always, section=section, language=language
                ),
                allow_private=True,
                session=session,
            )
        session.commit()
    asyncio.run(poll_sources(db.settings(), db.factory))
    return db


def mail_of(db: Db) -> dict[str, tuple[str, str, str]]:
    """(subject, text, html) of every digest sent, by address."""
    sender = MemorySender()
    drain(db, sender, base_url="https://r2p.example.org")
    return {
        address: (message["Subject"], *parts(message))
        for address, message in received(sender).items()
    }


def leads(html: str) -> list[str]:
    """The link of each story's title."""
    return re.findall(r'<h3[^>]*><a href="([^"]+)"', html)


def set_english(db: Db, address: str, include: bool) -> None:
    with db.session() as session:
        reader = session.scalars(select(Subscriber).where(Subscriber.email == address)).one()
        reader.include_english = include
        session.commit()


def test_readers_get_their_languages_stories_and_english_ones_it_does_not_cover(
    multilingual: Db,
) -> None:
    add_readers(multilingual, ["en@example.org"])
    add_readers(multilingual, ["fr@example.org"], language="fr")
    add_readers(multilingual, ["fr-only@example.org"], language="fr")
    set_english(multilingual, "fr-only@example.org", False)
    add_readers(multilingual, ["es@example.org"], language="es")  # no Spanish source here
    campaign, queued, said = send_digest(multilingual)
    assert campaign is not None and queued == 4, said
    mail = mail_of(multilingual)

    _subject, _text, english = mail["en@example.org"]
    assert ENGLISH_UN_NEWS in english and GLOBAL_CENTRE in english
    assert FRENCH_UN_NEWS not in english and "news.un.org/ar/" not in english

    # French UN News instead of its English twin; the Global Centre (no French source)
    # in English.
    _subject, _text, french = mail["fr@example.org"]
    assert FRENCH_UN_NEWS in french and "Soudan" in french
    # No English UN News story (a press release's story may cite UN News beside it).
    assert not [url for url in leads(french) if ENGLISH_UN_NEWS in url]
    assert "news.un.org/ar/" not in french
    assert GLOBAL_CENTRE in french and "Atrocity Alert No. 430" in french

    _subject, _text, only = mail["fr-only@example.org"]
    assert FRENCH_UN_NEWS in only
    assert GLOBAL_CENTRE not in only and ENGLISH_UN_NEWS not in only
    assert only.count("<h3") == 3  # Sudan, Ukraine and the Rohingya; football stays out

    # No Spanish source: English stories, in a Spanish mail.
    _subject, _text, spanish = mail["es@example.org"]
    assert ENGLISH_UN_NEWS in spanish and 'lang="es"' in spanish
    assert "Resumen semanal de R2P" in spanish

    with multilingual.session() as session:
        keys = dict(
            session.execute(
                select(Subscriber.email, Delivery.content_key).join(
                    Delivery, Delivery.subscriber_id == Subscriber.id
                )
            ).all()
        )
    assert len(set(keys.values())) == 4
    assert keys["fr@example.org"].startswith("fr:")
    assert keys["fr-only@example.org"].startswith("fr:")


def test_french_readers_with_the_same_choice_share_one_render(multilingual: Db) -> None:
    add_readers(multilingual, ["a@example.org", "b@example.org"], language="fr")
    add_readers(multilingual, ["c@example.org", "d@example.org"], language="fr")
    set_english(multilingual, "c@example.org", False)
    set_english(multilingual, "d@example.org", False)
    _campaign, _queued, said = send_digest(multilingual)
    assert said.endswith("2 distinct contents"), said


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_the_digest_is_written_in_the_readers_language(multilingual: Db, language: str) -> None:
    add_readers(multilingual, ["reader@example.org"], language=language)
    send_digest(multilingual, digest_section_limit=1)
    subject, text, html = mail_of(multilingual)["reader@example.org"]
    with i18n.use_language(language):
        heading = i18n.gettext("R2P weekly digest")
        thematic = i18n.gettext("R2P, genocide prevention and the UN system")
        read_on = i18n.gettext("Read this issue on the web")
        count = re.search(r"(\d+)\D*$", subject)
        assert count, subject
        n = int(count.group(1))
        more = i18n.ngettext(
            "%(headline)s, and %(count)s more", "%(headline)s, and %(count)s more", n
        ) % {"headline": "", "count": n}
    if language != "en":
        assert heading != "R2P weekly digest" and read_on != "Read this issue on the web"
    assert re.search(f"<h1[^>]*>{re.escape(heading)}</h1>", html) and heading.upper() in text
    assert read_on in html and read_on in text
    # The subject's "and N more" in the language (its words around the count).
    assert subject.endswith(more), subject
    assert re.search(f'<html lang="{language}" dir="{i18n.direction(language)}"', html)
    assert ('dir="rtl"' in html) == (language == "ar")
    if language != "en":  # English stories (the Global Centre's) read left to right
        assert re.search(r'<h3 lang="en" dir="ltr"', html)
    else:
        assert not re.search(r"<h3 lang=", html)
    # The dates as the language writes them.
    with multilingual.session() as session:
        campaign = session.scalars(select(Campaign)).one()
        until = datetime.fromisoformat(campaign.context["until"]).astimezone(UTC)
    with i18n.use_language(language):
        written = reader_date(until)
    assert written in html and written in text
    if language in ("en", "fr"):  # the thematic section: the French UN News has none
        assert f">{thematic}<" in html


@pytest.mark.parametrize(
    ("language", "count", "expected"),
    [
        ("en", 2, "Lead, and 1 more"),
        ("en", 3, "Lead, and 2 more"),
        ("fr", 2, "Lead, et 1 autre"),
        ("fr", 3, "Lead, et 2 autres"),
        ("ru", 2, "Lead и ещё 1"),
        ("ar", 2, "Lead، وقصة أخرى"),
        ("ar", 3, "Lead، وقصتان أخريان"),
        ("ar", 4, "Lead، و3 قصص أخرى"),
        ("ar", 12, "Lead، و11 قصة أخرى"),
        ("zh", 3, "Lead，另有 2 条"),
    ],
)
def test_subjects_count_in_each_languages_plural_forms(
    language: str, count: int, expected: str
) -> None:
    with i18n.use_language(language):
        assert subject_line("Lead", count) == expected


@pytest.mark.parametrize(
    ("language", "total", "words"),
    [
        ("en", 1, "1 story for you"),
        ("en", 5, "5 stories for you"),
        ("fr", 1, "1 article pour vous"),
        ("fr", 5, "5 articles pour vous"),
        ("ru", 1, "1 материал для вас"),
        ("ru", 3, "3 материала для вас"),
        ("ru", 5, "5 материалов для вас"),
        ("ar", 1, "قصة واحدة لك"),
        ("ar", 2, "قصتان لك"),
        ("es", 5, "5 noticias para usted"),
    ],
)
def test_preheaders_count_stories_in_each_languages_plural_forms(
    language: str, total: int, words: str
) -> None:
    since, until = datetime(2026, 11, 30), datetime(2026, 12, 7)
    with i18n.use_language(language):
        line = preheader("Lead", total, ["Sudan"], since, until)
    assert line.startswith("Lead") and words in line and "Sudan" in line
