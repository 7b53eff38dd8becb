"""The "also include English news" preference: on for a new reader, shown (translated) on
the preferences page, stored when saved, and not on the signup form."""

from __future__ import annotations

import re

from mailer import i18n
from mailer.tokens import Purpose
from tests.subscribers.web.test_manage import add_reader, site, token
from tests.support.browser import Site

__all__ = ["site"]

CHOICES = {"language": "fr", "digest": "on", "alerts": "on", "topics_mode": "all"}


def checkbox(html: str) -> str:
    found = re.search(r'<input type="checkbox" id="english"[^>]*>', html)
    assert found, "no English-news checkbox"
    return found.group(0)


def test_the_english_news_preference_round_trips_on_the_preferences_page(site: Site) -> None:
    add_reader(site)
    path = f"/preferences/{token(site, Purpose.MANAGE)}"
    reader = site.reader()
    page = reader.get(path)
    assert "checked" in checkbox(page.text)  # on by default

    saved = reader.post(path, CHOICES, token_from=path)  # unticked: not in the form
    assert saved.status_code == 200
    subscriber = site.subscriber("anna@example.org")
    assert subscriber is not None and subscriber.include_english is False
    assert subscriber.language == "fr"
    page = reader.get(path)
    assert "checked" not in checkbox(page.text)
    with i18n.use_language("fr"):
        label = i18n.gettext("Also include English news")
    assert label != "Also include English news" and label in page.text

    reader.post(path, {**CHOICES, "english": "on"}, token_from=path)
    subscriber = site.subscriber("anna@example.org")
    assert subscriber is not None and subscriber.include_english is True
    assert "checked" in checkbox(reader.get(path).text)


def test_the_signup_form_does_not_ask_and_a_new_reader_gets_english_news(site: Site) -> None:
    reader = site.reader()
    form = reader.get("/subscribe?lang=fr")
    assert 'id="english"' not in form.text
    reader.sign_up("anna@example.org", language="fr")
    subscriber = site.subscriber("anna@example.org")
    assert subscriber is not None and subscriber.include_english is True
