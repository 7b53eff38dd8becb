"""The archive in each language: an issue's page, the list and the RSS feed in French
carry the French stories (and English ones no French source covers), with links that
stay in French; a language without stories in an issue does not list it."""

from __future__ import annotations

import feedparser
from fastapi.testclient import TestClient

from service.app import create_app
from tests.conftest import Db
from tests.mailer.test_digest import send_digest
from tests.mailer.test_digest_languages import FRENCH_UN_NEWS, leads, multilingual
from tests.support.factories import add_readers

__all__ = ["multilingual"]

BASE = "https://r2p.example.org"


def test_the_archive_lists_shows_and_syndicates_each_issue_in_french(multilingual: Db) -> None:
    add_readers(multilingual, ["reader@example.org"])
    campaign, _, _ = send_digest(multilingual, base_url=BASE)
    assert campaign is not None
    with TestClient(create_app(multilingual.settings(base_url=BASE))) as web:
        listing = web.get("/archive?lang=fr")
        assert listing.status_code == 200 and '<html lang="fr"' in listing.text
        assert f'href="/archive/{campaign.key}?lang=fr"' in listing.text
        assert 'href="/archive/feed.xml?lang=fr"' in listing.text
        assert "Synthèse hebdomadaire R2P" in listing.text

        page = web.get(f"/archive/{campaign.key}?lang=fr")
        assert page.status_code == 200 and '<html lang="fr"' in page.text
        titles = leads(page.text)
        assert any(FRENCH_UN_NEWS in url for url in titles)
        assert not any("news.un.org/en/story/" in url for url in titles)
        assert "Soudan" in page.text and 'href="/archive?lang=fr"' in page.text

        english = web.get(f"/archive/{campaign.key}?lang=en").text
        assert FRENCH_UN_NEWS not in english and campaign.subject in english

        feed = feedparser.parse(web.get("/archive/feed.xml?lang=fr").content)
        assert not feed.bozo and feed.feed.title == "Synthèse hebdomadaire R2P"
        assert feed.feed.language == "fr"
        assert [entry.link for entry in feed.entries] == [f"{BASE}/archive/{campaign.key}?lang=fr"]
        # No Spanish source: no Spanish issue.
        assert web.get(f"/archive/{campaign.key}?lang=es").status_code == 404
        spanish = web.get("/archive?lang=es").text
        assert campaign.key not in spanish
        assert feedparser.parse(web.get("/archive/feed.xml?lang=es").content).entries == []
