"""The reader links of a test email open a page saying it was a test (and change
nothing), for as long as the signed test token lasts; forged or other links do not."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from mailer.email.compose import test_copy as make_test_copy
from mailer.email.render import RenderedEmail, slot
from mailer.tokens import TEST_LINK_MAX_AGE, Purpose, make_token
from tests.conftest import Db
from tests.support.browser import Site, parse, running_site, text_of


@pytest.fixture
def site(db: Db) -> Iterator[Site]:
    with running_site(lambda url: db.settings(base_url=url)) as site:
        yield site


def links_of_a_test(site: Site) -> dict[str, str]:
    rendered = RenderedEmail(
        "Urgent: test",
        f"Body.\n\nPreferences: {slot('preferences_url')}\n"
        f"Unsubscribe: {slot('unsubscribe_url')}\n",
        f'<p><a href="{slot("unsubscribe_url")}">Unsubscribe</a></p>',
    )
    message = parse(make_test_copy(rendered, "amina@r2p.example", settings=site.settings))
    found = dict(re.findall(r"(Preferences|Unsubscribe): (\S+)", text_of(message)))
    assert message["List-Unsubscribe"].strip("<>") == found["Unsubscribe"]
    return {name.lower(): url.removeprefix(site.url) for name, url in found.items()}


def test_a_test_emails_links_open_a_page_saying_it_was_a_test(site: Site) -> None:
    links = links_of_a_test(site)
    assert links["unsubscribe"].startswith("/test-link/unsubscribe/")
    reader = site.reader()
    page = reader.get(links["unsubscribe"])
    assert page.status_code == 200
    assert "This link is from a test email" in page.text
    assert "unsubscribes with one button" in page.text
    assert "This link is not valid" not in page.text
    assert "reader's own page to change what they receive" in reader.get(links["preferences"]).text
    one_click = reader.http.post(links["unsubscribe"], data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200 and "nothing was changed" in one_click.text


def test_the_test_page_speaks_the_language_of_the_browser(site: Site) -> None:
    links = links_of_a_test(site)
    french = site.reader(**{"Accept-Language": "fr-FR,fr;q=0.9"}).get(links["unsubscribe"])
    assert "Ce lien vient d’un e-mail de test" in french.text
    assert "se désabonne d’un seul bouton" in french.text  # what the link does, in French
    assert "14 jours" in french.text
    arabic = site.reader(**{"Accept-Language": "ar"}).get(links["preferences"])
    assert 'dir="rtl"' in arabic.text and "هذا الرابط من رسالة تجريبية" in arabic.text
    assert "This link is from a test email" not in arabic.text


def test_forged_expired_or_reader_tokens_are_not_test_links(site: Site) -> None:
    reader = site.reader()
    forged = URLSafeTimedSerializer("another key", salt="r2p-mailer/test-link").dumps("test")
    assert reader.get(f"/test-link/unsubscribe/{forged}").status_code == 400
    real = make_token(site.settings, Purpose.UNSUBSCRIBE, "a" * 20)
    assert reader.get(f"/test-link/unsubscribe/{real}").status_code == 400
    token = _signed_at(site, datetime.now(UTC) - TEST_LINK_MAX_AGE + timedelta(minutes=5))
    valid = links_of_a_test(site)["unsubscribe"].rsplit("/", 1)[1]
    assert reader.get(f"/test-link/settings/{valid}").status_code == 400
    # An old token: signed before the test links' lifetime.
    stale = _signed_at(site, datetime.now(UTC) - TEST_LINK_MAX_AGE - timedelta(minutes=1))
    expired = reader.get(f"/test-link/unsubscribe/{stale}")
    assert expired.status_code == 410 and "This link has expired" in expired.text
    assert reader.get(f"/test-link/unsubscribe/{token}").status_code == 200


def _signed_at(site: Site, when: datetime) -> str:
    class Then(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(when.timestamp())

    key, salt = site.settings.signing_key, "r2p-mailer/test-link"
    return str(URLSafeTimedSerializer(key, salt=salt, signer=Then).dumps("test"))
