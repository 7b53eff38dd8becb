"""The signup form over real HTTP: validation, consent records, no enumeration, and the
guards (CSRF, honeypot, per-network limit)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from markupsafe import escape
from sqlalchemy import Engine, event, func, select

from mailer.models import Campaign, Subscriber
from subscribers.choices import vocabulary
from subscribers.consent import FORM_SENTENCE
from tests.conftest import Db
from tests.support.browser import Reader, Site, link_in, running_site, text_of

SENT = "/subscribe/check-your-inbox"


def esc(text: str) -> str:
    return str(escape(text))


@pytest.fixture
def site(db: Db) -> Iterator[Site]:
    with running_site(lambda url: db.settings(base_url=url, signup_rate_limit=50)) as site:
        yield site


def count(site: Site, model: type[Subscriber] | type[Campaign]) -> int:
    with site.factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_the_form_has_every_field_a_guard_and_the_consent_sentence(site: Site) -> None:
    response = site.reader().get("/")
    assert response.status_code == 200
    page = response.text
    for name in ("email", "digest", "alerts", "topics_mode", "language", "consent", "website"):
        assert f'name="{name}"' in page, name
    assert 'name="csrf_token"' in page
    assert esc(FORM_SENTENCE) in page
    for topic in (*vocabulary().themes, *vocabulary().countries):
        assert f'value="{topic.tag}"' in page and esc(topic.label) in page
    assert '<label for="email">Email address</label>' in page
    cookie = response.headers["set-cookie"]
    assert "r2p_csrf=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert site.reader().get("/subscribe").text.count('name="email"') == 1


def test_a_signup_stores_a_pending_reader_with_proof_of_consent(site: Site) -> None:
    reader = site.reader(**{"User-Agent": "Mozilla/5.0 (test) Firefox/140.0"})
    response = reader.sign_up(
        " Anna@Example.ORG ",
        language="fr",
        alerts="",
        topics_mode="chosen",
        topics=["sudan", "genocide"],
    )
    assert response.status_code == 303 and response.headers["location"] == SENT
    subscriber = site.subscriber("anna@example.org")
    assert subscriber is not None
    assert subscriber.status == "pending"
    assert (subscriber.language, subscriber.wants_digest, subscriber.wants_alerts) == (
        "fr",
        True,
        False,
    )
    assert subscriber.topics == ["genocide", "sudan"]
    assert subscriber.consent_at is not None and subscriber.confirmed_at is None
    assert subscriber.consent_form == site.settings.consent_form_version
    assert subscriber.consent_text == FORM_SENTENCE
    assert subscriber.consent_ip == "127.0.0.1"
    assert subscriber.consent_user_agent == "Mozilla/5.0 (test) Firefox/140.0"
    assert "Check your inbox" in reader.get(SENT).text


def test_the_confirmation_email_goes_through_the_outbox_with_one_click_headers(
    site: Site,
) -> None:
    site.reader().sign_up("anna@example.org", alerts="", topics_mode="chosen", topics=["sudan"])
    [message] = site.deliver()
    assert message["To"] == "anna@example.org"
    assert message["Subject"] == "Please confirm your subscription to R2P news"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Unsubscribe"].startswith(f"<{site.url}/unsubscribe/")
    body = text_of(message)
    assert link_in(message, "confirm").startswith(f"{site.url}/confirm/")
    assert "The weekly digest on: Sudan." in body
    assert "If you did not ask for this, ignore this email" in body
    assert "we delete the request after 14 days" in body
    assert "You receive this because you subscribed" not in body
    html_part = message.get_body(preferencelist=("html",))
    assert html_part is not None and "Confirm my subscription" in html_part.get_content()
    assert site.deliver() == []


def test_it_answers_the_same_whether_the_address_is_new_pending_or_active(site: Site) -> None:
    reader = site.reader()
    answers = [reader.sign_up("anna@example.org"), reader.sign_up("anna@example.org")]
    first, second = site.deliver()
    assert "/confirm/" in text_of(first) and "/confirm/" in text_of(second)
    confirm = site.path(link_in(first, "confirm"))
    reader.post(confirm, {}, token_from=confirm)
    assert site.subscriber("anna@example.org").status == "active"  # type: ignore[union-attr]

    answers.append(reader.sign_up("anna@example.org", language="ru", alerts=""))
    answers.append(reader.sign_up("nobody-yet@example.org"))
    assert {(a.status_code, a.headers["location"], a.text) for a in answers} == {(303, SENT, "")}
    manage, _confirm_for_new = site.deliver()
    assert manage["To"] == "anna@example.org"
    assert manage["Subject"] == "Ваша подписка на новости R2P"  # the form's language
    assert link_in(manage, "preferences")
    assert "/confirm/" not in text_of(manage)
    # An unproven form submission changes nothing for an active reader.
    active = site.subscriber("anna@example.org")
    assert active is not None and (active.language, active.wants_alerts) == ("en", True)


def test_duplicate_signups_in_different_case_make_one_subscriber(site: Site) -> None:
    reader = site.reader()
    for address in ("Anna@Example.org", "anna@EXAMPLE.ORG", "ANNA@example.org"):
        assert reader.sign_up(address).status_code == 303
    assert count(site, Subscriber) == 1
    assert site.subscriber("anna@example.org") is not None


def test_a_unicode_domain_is_stored_in_its_ascii_form(site: Site) -> None:
    site.reader().sign_up("anna@bücher.example")
    assert site.subscriber("anna@xn--bcher-kva.example") is not None


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ('"anna smith"@example.org', "Quoting the part before the @-sign is not allowed"),
        ("anna@example.org.", "cannot end with a period"),
        ("a" * 290 + "@example.org", "longer than 254 characters"),
        ("anna@example.org\r\nBcc: everyone@example.org", "line break or control character"),
        ("<script>alert(1)</script>@example.org", "anything after the email address"),
        ("", "Please enter your email address"),
    ],
)
def test_bad_addresses_are_refused_with_the_reason_and_nothing_is_stored(
    site: Site, address: str, reason: str
) -> None:
    response = site.reader().sign_up(address)
    assert response.status_code == 400
    assert esc(reason) in response.text
    assert 'aria-invalid="true"' in response.text
    assert "<script>alert(1)</script>" not in response.text
    if address and "\r" not in address:
        assert f'value="{esc(address[:400])}"' in response.text
    assert count(site, Subscriber) == 0 and count(site, Campaign) == 0


def test_the_consent_box_and_something_to_receive_are_required(site: Site) -> None:
    reader = site.reader()
    response = reader.sign_up("anna@example.org", consent="")
    assert response.status_code == 400 and "Please tick the box to agree" in response.text
    response = reader.sign_up("anna@example.org", digest="", alerts="")
    assert response.status_code == 400
    assert "Choose the weekly digest, urgent alerts, or both." in response.text
    response = reader.sign_up("anna@example.org", topics_mode="chosen")
    assert response.status_code == 400 and "Choose at least one topic" in response.text
    response = reader.sign_up("anna@example.org", topics_mode="chosen", topics=["atlantis"])
    assert response.status_code == 400 and "Unknown topic: atlantis" in response.text
    response = reader.sign_up("anna@example.org", language="xx")
    assert response.status_code == 400 and "Unknown language" in response.text
    assert count(site, Subscriber) == 0


def test_a_missing_or_wrong_csrf_token_is_refused(site: Site) -> None:
    reader = site.reader()
    form = {"email": "anna@example.org", "digest": "on", "consent": "on"}
    reader.get("/subscribe")  # has the cookie now
    missing = reader.post("/subscribe", form)
    forged = reader.post("/subscribe", {**form, "csrf_token": "not-a-token"})
    # A genuine token, but made for another reader's cookie.
    other_token = site.reader().form_token()
    borrowed = reader.post("/subscribe", {**form, "csrf_token": other_token})
    # A genuine token sent without its cookie (a cross-site POST carries none).
    cookieless = httpx.post(
        f"{site.url}/subscribe", data={**form, "csrf_token": reader.form_token()}
    )
    for response in (missing, forged, borrowed, cookieless):
        assert response.status_code == 400
        assert "Please send it again" in response.text
        assert 'value="anna@example.org"' in response.text
    assert count(site, Subscriber) == 0 and count(site, Campaign) == 0
    assert reader.post("/subscribe", form, token_from="/subscribe").status_code == 303


def test_a_filled_honeypot_looks_like_success_but_stores_nothing(site: Site) -> None:
    response = site.reader().sign_up("anna@example.org", website="https://spam.example")
    assert response.status_code == 303 and response.headers["location"] == SENT
    assert count(site, Subscriber) == 0 and count(site, Campaign) == 0


def test_a_signup_flood_from_one_network_is_stopped(db: Db) -> None:
    # Live: the neighbour is told apart by the address its socket comes from.
    settings_for = lambda url: db.settings(base_url=url, signup_rate_limit=3)  # noqa: E731
    with running_site(settings_for, live=True) as site:
        reader = site.reader()
        answers = [reader.sign_up(f"reader{i}@example.org").status_code for i in range(5)]
        assert answers == [303, 303, 303, 429, 429]
        assert count(site, Subscriber) == 3
        assert "too many signups" in reader.sign_up("late@example.org").text
        neighbour = Reader(site.url)
        neighbour.http = httpx.Client(
            base_url=site.url, transport=httpx.HTTPTransport(local_address="127.0.0.2")
        )
        assert neighbour.sign_up("neighbour@example.org").status_code == 303
        neighbour.close()


def test_one_address_gets_only_a_few_emails_however_often_it_is_entered(site: Site) -> None:
    reader = site.reader()
    limit = site.settings.mailbox_mail_limit
    for _ in range(limit + 3):
        assert reader.sign_up("victim@example.org").status_code == 303
    assert len(site.deliver()) == limit


def test_a_new_link_can_be_asked_for_without_revealing_anything(site: Site) -> None:
    reader = site.reader()
    reader.sign_up("anna@example.org")
    site.deliver()
    known = reader.post("/resend", {"email": "ANNA@example.org"}, token_from="/subscribe")
    unknown = reader.post("/resend", {"email": "nobody@example.org"}, token_from="/subscribe")
    assert (known.status_code, known.headers["location"]) == (303, SENT)
    assert (unknown.status_code, unknown.headers["location"]) == (303, SENT)
    [message] = site.deliver()
    assert message["To"] == "anna@example.org" and link_in(message, "confirm")
    assert count(site, Subscriber) == 1
    refused = reader.post("/resend", {"email": "anna@example.org", "csrf_token": "x"})
    assert refused.status_code == 400


def test_simultaneous_signups_of_one_new_address_make_one_subscriber(site: Site) -> None:
    readers = [site.reader() for _ in range(8)]
    tokens = [reader.form_token() for reader in readers]
    form = {"email": "anna@example.org", "digest": "on", "consent": "on"}
    with ThreadPoolExecutor(len(readers)) as pool:
        answers = list(
            pool.map(
                lambda pair: pair[0].post("/subscribe", {**form, "csrf_token": pair[1]}),
                zip(readers, tokens, strict=True),
            )
        )
    assert {a.status_code for a in answers} == {303}
    assert count(site, Subscriber) == 1


def test_a_signup_wakes_the_worker_but_a_bot_does_not(site: Site) -> None:
    woken: list[bool] = []
    site.server.app.state.wake_worker = lambda: woken.append(True)
    site.reader().sign_up("bot@example.org", website="x")
    assert woken == []
    site.reader().sign_up("anna@example.org")
    assert woken == [True]


def test_a_signup_is_one_write_transaction(site: Site, db: Db) -> None:
    """The attempt is counted for the rate limit in the transaction that records the
    signup: under load every write waits its turn for SQLite's one writer lock."""
    if db.backend != "sqlite":
        pytest.skip("counts SQLite's BEGIN IMMEDIATE (write transactions)")
    reader = site.reader()
    token = reader.form_token()
    writes: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.startswith("BEGIN IMMEDIATE"):
            writes.append(statement)

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        form = {"email": "anna@example.org", "digest": "on", "consent": "on"}
        answer = reader.post("/subscribe", {**form, "csrf_token": token})
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    assert answer.status_code == 303
    assert len(writes) == 1
    assert count(site, Subscriber) == 1 and count(site, Campaign) == 1


def test_the_form_follows_accept_language_and_arabic_reads_right_to_left(site: Site) -> None:
    french = site.reader(**{"Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5"}).get("/").text
    assert '<html lang="fr" dir="ltr">' in french
    assert "Recevez les nouvelles R2P par e-mail" in french
    assert '<label for="email">Adresse e-mail</label>' in french
    assert esc("Crimes contre l'humanité") in french  # topic labels from relevance.toml
    assert '<option value="fr" lang="fr" selected>' in french  # the form's default language
    arabic = site.reader(**{"Accept-Language": "ar"}).get("/subscribe").text
    assert '<html lang="ar" dir="rtl">' in arabic
    assert "تلقَّ أخبار المسؤولية عن الحماية بالبريد الإلكتروني" in arabic
    assert "الإبادة الجماعية" in arabic
    english = site.reader(**{"Accept-Language": "de-DE"}).get("/").text
    assert '<html lang="en" dir="ltr">' in english and "Get R2P news by email" in english


def test_the_language_switcher_changes_the_pages_and_is_remembered(site: Site) -> None:
    reader = site.reader(**{"Accept-Language": "fr"})
    page = reader.get("/subscribe").text
    for code in ("ar", "zh", "en", "fr", "ru", "es"):
        assert f'href="/subscribe?lang={code}" lang="{code}"' in page
    assert 'hreflang="fr" aria-current="true"' in page
    chosen = reader.get("/subscribe?lang=ar")
    assert '<html lang="ar" dir="rtl">' in chosen.text
    assert "r2p_lang=ar" in chosen.headers["set-cookie"]
    # Remembered over Accept-Language on the next pages, the form's errors included.
    assert '<html lang="ar" dir="rtl">' in reader.get(SENT).text
    refused = reader.sign_up("anna@example.org", consent="")
    assert refused.status_code == 400
    assert "يُرجى تحديد المربع للموافقة" in refused.text
    missing = reader.get("/nowhere?lang=ru")
    assert missing.status_code == 404 and '<html lang="ru" dir="ltr">' in missing.text
    assert "Страница не найдена" in missing.text and 'href="/subscribe?lang=es"' in missing.text


def test_a_reader_signing_up_in_arabic_gets_an_arabic_confirmation_email(site: Site) -> None:
    reader = site.reader(**{"Accept-Language": "ar"})
    reader.sign_up("layla@example.org", language="ar", topics_mode="chosen", topics=["sudan"])
    subscriber = site.subscriber("layla@example.org")
    assert subscriber is not None and subscriber.language == "ar"
    assert subscriber.consent_text.startswith("أرغب في تلقي رسائل")  # the sentence as shown
    [message] = site.deliver()
    assert message["Subject"] == "يُرجى تأكيد اشتراكك في أخبار المسؤولية عن الحماية"
    body = " ".join(text_of(message).split())  # lines wrapped at 76 characters
    assert "طلب شخص ما، ونأمل أن تكون أنت" in body
    assert "الموجز الأسبوعي والتنبيهات العاجلة، في: السودان." in body
    assert "وسنحذف الطلب بعد 14 يومًا." in body
    html_part = message.get_body(preferencelist=("html",))
    assert html_part is not None
    html = html_part.get_content()
    assert 'lang="ar" dir="rtl"' in html and "تأكيد اشتراكي" in html
    # The page that confirms it is Arabic too: the reader's stored language.
    confirm = site.path(link_in(message, "confirm"))
    stranger = site.reader()  # no Accept-Language: the stored language decides
    assert '<html lang="ar" dir="rtl">' in stranger.get(confirm).text
    confirmed = stranger.post(confirm, {}, token_from=confirm).text
    assert '<html lang="ar" dir="rtl">' in confirmed and "شكرًا لك: تم تأكيد اشتراكك." in confirmed
    assert "اشتراكك</h1>" in confirmed and "حفظ اختياراتي" in confirmed


def test_an_active_reader_gets_the_manage_email_in_the_language_of_the_form(site: Site) -> None:
    reader = site.reader()
    reader.sign_up("anna@example.org")
    confirm = site.path(link_in(site.deliver()[0], "confirm"))
    reader.post(confirm, {}, token_from=confirm)
    reader.sign_up("anna@example.org", language="es")
    [manage] = site.deliver()
    assert manage["Subject"] == "Su suscripción a las noticias de R2P"
    assert "Ya está suscrito" in text_of(manage)
