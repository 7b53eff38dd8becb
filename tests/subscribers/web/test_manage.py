"""Pages behind the links in emails: confirm, preferences, unsubscribe (button and RFC 8058
one-click), download and delete; and every kind of bad link."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select

from mailer.db import session_scope
from mailer.models import Campaign, Delivery, Erasure, Subscriber
from mailer.outbox.transactional import queue_transactional
from mailer.tokens import Purpose, make_token
from subscribers.choices import Choices
from subscribers.consent import Consent
from subscribers.signup import add_by_admin
from tests.conftest import Db
from tests.support.browser import Reader, Site, link_in, running_site

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def site(db: Db) -> Iterator[Site]:
    with running_site(lambda url: db.settings(base_url=url, signup_rate_limit=50)) as site:
        yield site


def add_reader(site: Site, address: str = "anna@example.org", *, confirmed: bool = True) -> int:
    now = datetime.now(UTC)
    with session_scope(site.factory) as session:
        subscriber = add_by_admin(
            address,
            Choices(),
            Consent(at=now, form="test", text="added by a test"),
            confirmed=confirmed,
            settings=site.settings,
            now=now,
            session=session,
        )
        return subscriber.id


def token(site: Site, purpose: Purpose, address: str = "anna@example.org") -> str:
    subscriber = site.subscriber(address)
    assert subscriber is not None
    return make_token(site.settings, purpose, subscriber.link_secret)


def aged(site: Site, purpose: Purpose, fresh: str, age: timedelta) -> str:
    """The same token as if it had been made ``age`` ago."""
    salt = f"r2p-mailer/{purpose.value}"
    payload = URLSafeTimedSerializer(site.settings.signing_key, salt=salt).loads(fresh)

    class Earlier(TimestampSigner):
        def get_timestamp(self) -> int:
            return int((datetime.now(UTC) - age).timestamp())

    return str(
        URLSafeTimedSerializer(site.settings.signing_key, salt=salt, signer=Earlier).dumps(payload)
    )


def status(site: Site, address: str = "anna@example.org") -> str | None:
    subscriber = site.subscriber(address)
    return subscriber.status if subscriber else None


def queue_mail(site: Site, address: str = "anna@example.org") -> None:
    with session_scope(site.factory) as session:
        subscriber = session.scalar(select(Subscriber).where(Subscriber.email == address))
        assert subscriber is not None
        queue_transactional(
            "manage",
            subscriber,
            subject="queued before the click",
            now=datetime.now(UTC),
            retry_for=timedelta(days=1),
            session=session,
        )


# --- confirming -------------------------------------------------------------------------


def confirm_with_button(reader: Reader, path: str) -> httpx.Response:
    """Open the confirmation page and press its button."""
    return reader.post(path, {}, token_from=path)


def test_the_confirmation_link_activates_the_reader_and_shows_their_preferences(
    site: Site,
) -> None:
    reader = site.reader()
    reader.sign_up("anna@example.org", topics_mode="chosen", topics=["sudan"])
    [message] = site.deliver()
    page = confirm_with_button(reader, site.path(link_in(message, "confirm")))
    assert page.status_code == 200
    assert "Thank you: your subscription is confirmed." in page.text
    assert 'id="topic-sudan" name="topics" value="sudan" checked' in page.text
    assert "Save my choices" in page.text and "Unsubscribe from everything" in page.text
    subscriber = site.subscriber("anna@example.org")
    assert subscriber is not None and subscriber.status == "active"
    assert subscriber.confirmed_at is not None
    again = reader.get(site.path(link_in(message, "confirm")))
    assert "already confirmed" in again.text
    assert (
        "already confirmed"
        in confirm_with_button(reader, site.path(link_in(message, "confirm"))).text
    )


def test_an_old_confirmation_link_does_not_undo_an_unsubscribe(site: Site) -> None:
    add_reader(site, confirmed=False)
    confirm = token(site, Purpose.CONFIRM)
    reader = site.reader()
    confirm_with_button(reader, f"/confirm/{confirm}")
    reader.post(f"/unsubscribe/{token(site, Purpose.UNSUBSCRIBE)}", {}, token_from="/")
    assert status(site) == "unsubscribed"
    page = reader.get(f"/confirm/{confirm}")
    assert page.status_code == 200 and "Subscribe again" in page.text
    pressed = reader.post(f"/confirm/{confirm}", {"csrf_token": reader.form_token("/")})
    assert pressed.status_code == 200 and "Subscribe again" in pressed.text
    assert status(site) == "unsubscribed"


# --- preferences ------------------------------------------------------------------------


def test_preferences_can_be_changed(site: Site) -> None:
    add_reader(site)
    path = f"/preferences/{token(site, Purpose.MANAGE)}"
    reader = site.reader()
    page = reader.get(path)
    assert page.status_code == 200 and "anna@example.org" in page.text
    assert page.headers["cache-control"] == "no-store"
    saved = reader.post(
        path,
        {
            "language": "es",
            "alerts": "on",
            "topics_mode": "chosen",
            "topics": ["war-crimes", "myanmar"],
        },
        token_from=path,
    )
    # The page is in the language just chosen.
    assert saved.status_code == 200 and "Sus elecciones se han guardado." in saved.text
    subscriber = site.subscriber("anna@example.org")
    assert subscriber is not None
    assert (subscriber.language, subscriber.wants_digest, subscriber.wants_alerts) == (
        "es",
        False,
        True,
    )
    assert subscriber.topics == ["war-crimes", "myanmar"]
    assert subscriber.status == "active"


def test_preferences_are_not_changed_without_csrf_or_with_bad_choices(site: Site) -> None:
    add_reader(site)
    path = f"/preferences/{token(site, Purpose.MANAGE)}"
    reader = site.reader()
    reader.get(path)
    forged = reader.post(path, {"language": "es", "digest": "on", "csrf_token": "forged"})
    assert forged.status_code == 400 and "Please send it again" in forged.text
    cookieless = httpx.post(
        site.url + path,
        data={"language": "es", "digest": "on", "csrf_token": reader.form_token(path)},
    )
    assert cookieless.status_code == 400
    unknown = reader.post(
        path,
        {"digest": "on", "topics_mode": "chosen", "topics": ["atlantis"]},
        token_from=path,
    )
    assert unknown.status_code == 400 and "Unknown topic: atlantis" in unknown.text
    nothing = reader.post(path, {"language": "es"}, token_from=path)
    assert nothing.status_code == 400 and "digest, urgent alerts, or both" in nothing.text
    subscriber = site.subscriber("anna@example.org")
    assert subscriber is not None and (subscriber.language, subscriber.topics) == ("en", [])


def test_an_unsubscribed_reader_can_come_back_from_the_preferences_page(site: Site) -> None:
    add_reader(site)
    reader = site.reader()
    reader.post(f"/unsubscribe/{token(site, Purpose.UNSUBSCRIBE)}", ONE_CLICK)
    path = f"/preferences/{token(site, Purpose.MANAGE)}"
    page = reader.get(path)
    assert "You are not receiving any email from us" in page.text
    back = reader.post(path, {"digest": "on", "language": "en"}, token_from=path)
    assert "We sent you an email" in back.text
    # The preferences link may sit in a forwarded digest: nothing changes without the
    # reader's mailbox.
    subscriber = site.subscriber("anna@example.org")
    assert subscriber is not None and subscriber.status == "unsubscribed"
    [confirmation] = [m for m in site.deliver() if "confirm" in str(m["Subject"]).lower()]
    confirm_path = site.path(link_in(confirmation, "confirm"))
    done = reader.post(confirm_path, {}, token_from=confirm_path)
    assert "your subscription is confirmed" in done.text
    subscriber = site.subscriber("anna@example.org")
    assert subscriber is not None and subscriber.status == "active"
    assert subscriber.consent_form == f"{site.settings.consent_form_version}/preferences"
    assert subscriber.consent_ip == "127.0.0.1"


# --- unsubscribing ----------------------------------------------------------------------


def test_opening_the_unsubscribe_link_never_unsubscribes(site: Site) -> None:
    add_reader(site)
    path = f"/unsubscribe/{token(site, Purpose.UNSUBSCRIBE)}"
    for _ in range(3):
        page = site.reader().get(path)
        assert page.status_code == 200
    assert page.text.count("<form") == 1 and page.text.count("<button") == 1
    assert status(site) == "active"


def test_the_button_unsubscribes_at_once_and_cancels_queued_mail(site: Site) -> None:
    add_reader(site)
    queue_mail(site)
    path = f"/unsubscribe/{token(site, Purpose.UNSUBSCRIBE)}"
    reader = site.reader()
    done = reader.post(path, {}, token_from=path)
    assert done.status_code == 200 and "You are unsubscribed" in done.text
    subscriber = site.subscriber("anna@example.org")
    assert subscriber is not None and subscriber.status == "unsubscribed"
    assert subscriber.unsubscribed_at is not None
    assert site.deliver() == []
    with site.factory() as session:
        assert session.scalars(select(Delivery.status)).all() == ["cancelled"]
    assert "already unsubscribed" in reader.get(path).text


def test_the_button_without_a_csrf_token_is_refused(site: Site) -> None:
    add_reader(site)
    path = f"/unsubscribe/{token(site, Purpose.UNSUBSCRIBE)}"
    reader = site.reader()
    reader.get(path)
    assert reader.post(path, {}).status_code == 400
    assert reader.post(path, {"csrf_token": "forged"}).status_code == 400
    assert status(site) == "active"


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_the_rfc_8058_one_click_post_unsubscribes_without_cookie_or_csrf(
    site: Site, encoding: str
) -> None:
    add_reader(site)
    queue_mail(site)
    url = f"{site.url}/unsubscribe/{token(site, Purpose.UNSUBSCRIBE)}"
    if encoding == "urlencoded":
        response = httpx.post(
            url,
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    else:
        response = httpx.post(url, files={"List-Unsubscribe": (None, "One-Click")})
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    assert status(site) == "unsubscribed"
    assert site.deliver() == []
    assert httpx.post(url, data=ONE_CLICK).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"List-Unsubscribe=Yes",
        b"List-Unsubscribe=one-click",
        b"list-unsubscribe=One-Click",
        b"One-Click",
        b'{"List-Unsubscribe": "One-Click"}',
    ],
)
def test_a_one_click_post_with_the_wrong_body_changes_nothing(site: Site, body: bytes) -> None:
    add_reader(site)
    url = f"{site.url}/unsubscribe/{token(site, Purpose.UNSUBSCRIBE)}"
    response = httpx.post(
        url, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 400
    assert status(site) == "active"


def test_the_preferences_page_button_unsubscribes_from_everything(site: Site) -> None:
    add_reader(site)
    path = f"/preferences/{token(site, Purpose.MANAGE)}"
    reader = site.reader()
    page = reader.get(path).text
    action = page.split('action="/unsubscribe/', 1)[1].split('"', 1)[0]
    done = reader.post(f"/unsubscribe/{action}", {}, token_from=path)
    assert done.status_code == 200 and status(site) == "unsubscribed"


# --- bad links --------------------------------------------------------------------------


def assert_offers_a_new_link(response: httpx.Response, status_code: int, title: str) -> None:
    assert response.status_code == status_code
    assert title in response.text
    assert 'action="/resend"' in response.text and 'name="email"' in response.text


@pytest.mark.parametrize("path", ["confirm", "preferences", "unsubscribe"])
def test_a_forged_link_is_refused_with_an_offer_to_resend(site: Site, path: str) -> None:
    add_reader(site, confirmed=False)
    genuine = token(site, Purpose(path if path != "preferences" else "manage"))
    tampered = genuine[:-3] + ("xyz" if not genuine.endswith("xyz") else "abc")
    reader = site.reader()
    for bad in ("nonsense", tampered, genuine.split(".")[0]):
        assert_offers_a_new_link(reader.get(f"/{path}/{bad}"), 400, "This link is not valid")
    assert status(site) == "pending"


def test_an_expired_confirmation_link_offers_to_resend(site: Site) -> None:
    add_reader(site, confirmed=False)
    fresh = token(site, Purpose.CONFIRM)
    old = aged(
        site, Purpose.CONFIRM, fresh, site.settings.confirm_link_max_age + timedelta(hours=1)
    )
    assert_offers_a_new_link(site.reader().get(f"/confirm/{old}"), 410, "This link has expired")
    assert status(site) == "pending"
    recent = aged(site, Purpose.CONFIRM, fresh, timedelta(days=1))
    assert confirm_with_button(site.reader(), f"/confirm/{recent}").status_code == 200
    assert status(site) == "active"


def test_an_expired_unsubscribe_link_changes_nothing(site: Site) -> None:
    add_reader(site)
    old = aged(
        site,
        Purpose.UNSUBSCRIBE,
        token(site, Purpose.UNSUBSCRIBE),
        site.settings.unsubscribe_link_max_age + timedelta(days=1),
    )
    assert_offers_a_new_link(site.reader().get(f"/unsubscribe/{old}"), 410, "expired")
    assert status(site) == "active"


def test_an_unsubscribe_link_outlives_the_other_links(site: Site) -> None:
    add_reader(site)
    year_old = aged(
        site,
        Purpose.UNSUBSCRIBE,
        token(site, Purpose.UNSUBSCRIBE),
        site.settings.link_max_age + timedelta(days=1),
    )
    assert site.reader().get(f"/unsubscribe/{year_old}").status_code == 200


@pytest.mark.parametrize(
    ("made_for", "used_on"),
    [
        (Purpose.UNSUBSCRIBE, "preferences"),
        (Purpose.CONFIRM, "preferences"),
        (Purpose.MANAGE, "unsubscribe"),
        (Purpose.MANAGE, "confirm"),
        (Purpose.UNSUBSCRIBE, "confirm"),
    ],
)
def test_a_link_made_for_another_purpose_is_refused(
    site: Site, made_for: Purpose, used_on: str
) -> None:
    add_reader(site, confirmed=False)
    other = token(site, made_for)
    assert_offers_a_new_link(site.reader().get(f"/{used_on}/{other}"), 400, "not valid")
    one_click = httpx.post(f"{site.url}/unsubscribe/{other}", data=ONE_CLICK)
    if made_for is Purpose.UNSUBSCRIBE:  # the one place this token belongs
        assert one_click.status_code == 200 and status(site) == "unsubscribed"
    else:
        assert one_click.status_code == 400 and status(site) == "pending"


def test_a_link_for_a_deleted_reader_leads_nowhere_and_its_id_is_never_reused(
    site: Site,
) -> None:
    first = add_reader(site, "anna@example.org")
    links = {purpose: token(site, purpose) for purpose in Purpose}
    manage = f"/preferences/{links[Purpose.MANAGE]}"
    reader = site.reader()
    reader.post(f"{manage}/delete", {"confirm_delete": "on"}, token_from=manage)
    assert site.subscriber("anna@example.org") is None
    second = add_reader(site, "bob@example.org")
    assert second > first
    for purpose, path in (
        (Purpose.CONFIRM, "confirm"),
        (Purpose.MANAGE, "preferences"),
        (Purpose.UNSUBSCRIBE, "unsubscribe"),
    ):
        assert_offers_a_new_link(
            reader.get(f"/{path}/{links[purpose]}"), 404, "This link no longer works"
        )
    one_click = httpx.post(f"{site.url}/unsubscribe/{links[Purpose.UNSUBSCRIBE]}", data=ONE_CLICK)
    assert one_click.status_code == 200 and "not subscribed" in one_click.text
    assert status(site, "bob@example.org") == "active"


# --- the reader's data ------------------------------------------------------------------


def test_a_reader_can_download_their_data(site: Site) -> None:
    reader = site.reader(**{"User-Agent": "TestBrowser/1.0"})
    reader.sign_up("anna@example.org", topics_mode="chosen", topics=["genocide"])
    [message] = site.deliver()
    confirm_with_button(reader, site.path(link_in(message, "confirm")))
    path = f"/preferences/{token(site, Purpose.MANAGE)}"
    refused = httpx.post(f"{site.url}{path}/export", data={"csrf_token": "x"})
    assert refused.status_code == 400 and "{" not in refused.text[:1]
    asked = reader.post(f"{path}/export", {}, token_from=path)
    assert asked.status_code == 200 and "We sent you an email" in asked.text
    [data_mail] = site.deliver()
    assert data_mail["Subject"] == "Your data at R2P news"
    data_path = site.path(link_in(data_mail, "data"))
    refused = httpx.post(f"{site.url}{data_path}", data={"csrf_token": "x"})
    assert refused.status_code == 400 and "{" not in refused.text[:1]
    response = reader.post(data_path, {}, token_from=data_path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert "attachment" in response.headers["content-disposition"]
    data = response.json()
    assert data["email"] == "anna@example.org" and data["status"] == "active"
    assert data["topics"] == ["genocide"]
    assert data["consent"]["user_agent"] == "TestBrowser/1.0"
    assert data["consent"]["ip"] == "127.0.0.1"
    assert [e["subject"] for e in data["emails"]] == [
        "Please confirm your subscription to R2P news",
        "Your data at R2P news",
    ]
    assert data["emails"][0]["status"] == "sent"


def test_delete_me_erases_everything_but_an_anonymous_count(site: Site) -> None:
    add_reader(site)
    add_reader(site, "bob@example.org")
    queue_mail(site)
    queue_mail(site, "bob@example.org")
    path = f"/preferences/{token(site, Purpose.MANAGE)}"
    reader = site.reader()
    unticked = reader.post(f"{path}/delete", {}, token_from=path)
    assert unticked.status_code == 400 and "Tick the box" in unticked.text
    forged = reader.post(f"{path}/delete", {"confirm_delete": "on", "csrf_token": "x"})
    assert forged.status_code == 400
    assert site.subscriber("anna@example.org") is not None

    done = reader.post(f"{path}/delete", {"confirm_delete": "on"}, token_from=path)
    assert done.status_code == 200 and "Your data is deleted" in done.text
    assert site.subscriber("anna@example.org") is None
    with site.factory() as session:
        assert [(e.was_status, e.erased_at.date()) for e in session.scalars(select(Erasure))] == [
            ("active", datetime.now(UTC).date())
        ]
        assert session.scalar(select(func.count()).select_from(Delivery)) == 1
        assert session.scalar(select(func.count()).select_from(Campaign)) == 1
    assert reader.get(path).status_code == 404
    assert [m["To"] for m in site.deliver()] == ["bob@example.org"]
