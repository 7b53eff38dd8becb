"""UN News in French, Spanish, Arabic, Russian and Chinese, served on loopback and polled
like the English feeds: the atrocity stories are tagged in every language, the football
and vaccination stories are not, and every item keeps its source's language."""

from __future__ import annotations

import pytest

from mailer.feeds.registry import load_default_sources
from tests.conftest import Db
from tests.jobs.test_poll import add, items, poll
from tests.support.feedserver import FeedServer

# story id (last digit) -> what the story is about, the same five in every language
SUDAN_GENOCIDE, UKRAINE_WAR_CRIMES, ROHINGYA, FOOTBALL, VACCINES = "1", "2", "3", "4", "5"


@pytest.mark.parametrize("language", ["fr", "es", "ar", "ru", "zh"])
def test_un_news_in_each_language_is_tagged_by_the_same_rules(
    db: Db, feed_server: FeedServer, language: str
) -> None:
    key = f"un-news-all-{language}"
    url = feed_server.serve_file(f"/{language}.xml", f"un-news-languages/{language}.xml")
    add(db, key, url, language=language)
    outcome = poll(db)[key]
    assert outcome.status == "new" and outcome.new == 5, outcome.message
    stored = {item.url.rsplit("/", 1)[1][-1]: item for item in items(db)}
    assert all(item.language == language for item in stored.values())
    assert all(f"news.un.org/{language}/story/" in item.url for item in stored.values())

    sudan = stored[SUDAN_GENOCIDE]
    assert "genocide" in sudan.tags["crimes"] and "sudan" in sudan.tags["countries"]
    ukraine = stored[UKRAINE_WAR_CRIMES]
    assert "war-crimes" in ukraine.tags["crimes"] and ukraine.tags["countries"] == ["ukraine"]
    rohingya = stored[ROHINGYA]
    assert "myanmar" in rohingya.tags["countries"] and rohingya.tags["risks"] == ["persecution"]
    assert sudan.relevant and ukraine.relevant and rohingya.relevant
    # The term behind each tag is the item's own word, not the English one.
    assert sudan.tags["matched"]["sudan"] in sudan.title + sudan.summary_text
    for unrelated in (stored[FOOTBALL], stored[VACCINES]):
        assert not unrelated.relevant
        assert unrelated.tags["crimes"] == unrelated.tags["risks"] == []
        assert unrelated.tags["r2p"] is False


def test_the_default_registry_has_un_news_in_the_six_un_languages() -> None:
    sources = load_default_sources()
    by_language: dict[str, list[str]] = {}
    for spec in sources:
        if spec.kind == "un-news":
            by_language.setdefault(spec.language, []).append(spec.url)
    assert set(by_language) == {"en", "fr", "es", "ar", "ru", "zh"}
    english = sorted(by_language["en"])
    for language, urls in by_language.items():
        assert sorted(urls) == [url.replace("/en/", f"/{language}/") for url in english]
