"""Issue 12, the reader side: a signup never undoes an opt-out (consent kept as history),
confirmation mails capped per real mailbox and per domain, ids never reused and links bound
to a per-reader secret, confirmation by POST, and the data download by a fresh link."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select, update

from mailer.db import session_scope
from mailer.models import Campaign, Delivery, Subscriber
from subscribers.choices import Choices
from subscribers.consent import Consent
from subscribers.gdpr import export_data
from subscribers.purge import purge_unconfirmed
from subscribers.signup import add_by_admin
from tests.conftest import Db
from tests.support.browser import Reader, Site, link_in, running_site, text_of

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def site(db: Db) -> Iterator[Site]:
    with running_site(lambda url: db.settings(base_url=url, signup_rate_limit=50)) as site:
        yield site


def add_reader(site: Site, address: str = "anna@example.org") -> int:
    now = datetime.now(UTC)
    with session_scope(site.factory) as session:
        subscriber = add_by_admin(
            address,
            Choices(language="en", wants_digest=True, wants_alerts=True, topics=("sudan",)),
            Consent(at=now, form="original", text="the reader's own consent", ip="192.0.2.1"),
            confirmed=True,
            settings=site.settings,
            now=now,
            session=session,
        )
        return subscriber.id


def set_status(site: Site, address: str, status: str) -> None:
    with session_scope(site.factory) as session:
        session.execute(update(Subscriber).where(Subscriber.email == address).values(status=status))


def confirm_in_browser(site: Site, reader: Reader, url: str) -> httpx.Response:
    """Open the confirmation link, then press the page's one button."""
    path = site.path(url)
    return reader.post(path, {}, token_from=path)


def mails_queued(site: Site) -> int:
    with site.factory() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Delivery)
                .join(Campaign, Campaign.id == Delivery.campaign_id)
                .where(Campaign.kind == "transactional")
            )
            or 0
        )


# --- 1. a signup never undoes an opt-out ----------------------------------------------


@pytest.mark.parametrize("opted_out", ["unsubscribed", "bounced", "complained"])
def test_a_signup_leaves_an_opted_out_reader_alone_until_they_confirm(
    site: Site, opted_out: str
) -> None:
    add_reader(site)
    set_status(site, "anna@example.org", opted_out)
    before = site.subscriber("anna@example.org")
    assert before is not None

    attacker = site.reader(**{"User-Agent": "Attacker/1.0"})
    answer = attacker.sign_up("anna@example.org", language="ru", alerts="")
    assert answer.status_code == 303

    after = site.subscriber("anna@example.org")
    assert after is not None
    assert after.status == opted_out
    assert (after.language, after.wants_alerts, after.topics) == ("en", True, ["sudan"])
    assert (after.consent_form, after.consent_ip, after.consent_user_agent) == (
        "original",
        "192.0.2.1",
        "",
    )
    # The purge never removes them because of the request ...
    with session_scope(site.factory) as session:
        purge_unconfirmed(
            now=datetime.now(UTC) + timedelta(days=60),
            older_than=timedelta(days=14),
            session=session,
        )
    assert site.subscriber("anna@example.org") is not None
    assert site.subscriber("anna@example.org").status == opted_out  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("opted_out", "mailed"), [("unsubscribed", 1), ("bounced", 0), ("complained", 0)]
)
def test_a_signup_for_a_bounced_or_complaining_address_mails_nothing(
    site: Site, opted_out: str, mailed: int
) -> None:
    """Anyone can ask for a confirmation: an address that bounced or complained must not
    get one (it hurts the sender's reputation); one who unsubscribed may come back."""
    add_reader(site)
    set_status(site, "anna@example.org", opted_out)
    site.reader().sign_up("anna@example.org")
    assert len(site.deliver()) == mailed


def test_the_reader_who_confirms_gets_the_new_choices_and_keeps_the_old_consent(
    site: Site,
) -> None:
    add_reader(site)
    set_status(site, "anna@example.org", "unsubscribed")
    reader = site.reader(**{"User-Agent": "Returning/2.0"})
    reader.sign_up("anna@example.org", language="fr", alerts="")
    [message] = site.deliver()
    # In the language chosen on the form.
    assert "La synthèse hebdomadaire, sur tous les sujets" in " ".join(text_of(message).split())
    assert site.subscriber("anna@example.org").status == "unsubscribed"  # type: ignore[union-attr]
    done = confirm_in_browser(site, reader, link_in(message, "confirm"))
    assert done.status_code == 200 and "votre abonnement est confirmé" in done.text  # in French now
    back = site.subscriber("anna@example.org")
    assert back is not None and back.status == "active"
    assert (back.language, back.wants_alerts, back.topics) == ("fr", False, [])
    assert back.consent_user_agent == "Returning/2.0"
    with site.factory() as session:
        subscriber = session.get_one(Subscriber, back.id)
        history = export_data(subscriber, session=session)["consent_history"]
    kinds = [event["event"] for event in history]
    assert kinds[0] == "admin" and kinds[-2:] == ["signup", "confirmed"]
    assert history[0]["form"] == "original" and history[0]["ip"] == "192.0.2.1"
    assert history[-2]["user_agent"] == "Returning/2.0"


def test_an_unconfirmed_request_for_an_opted_out_reader_is_forgotten_not_the_reader(
    site: Site,
) -> None:
    add_reader(site)
    set_status(site, "anna@example.org", "unsubscribed")
    site.reader().sign_up("anna@example.org")
    with session_scope(site.factory) as session:
        purge_unconfirmed(
            now=datetime.now(UTC) + timedelta(days=60),
            older_than=timedelta(days=14),
            session=session,
        )
    with site.factory() as session:
        subscriber = session.scalar(select(Subscriber))
        assert subscriber is not None and subscriber.status == "unsubscribed"
        kinds = [e["event"] for e in export_data(subscriber, session=session)["consent_history"]]
    assert "signup" not in kinds and kinds[0] == "admin"


# --- 2. one mailbox, many spellings -----------------------------------------------------


def test_plus_variants_from_many_networks_get_at_most_the_mailbox_limit(db: Db) -> None:
    variants = [f"Victim+{i}@Example.org" for i in range(8)]
    networks = [f"2001:db8:{n}::1" for n in range(5)]
    form = {"digest": "on", "consent": "on", "topics_mode": "all"}
    # Live: the networks reach the app as X-Forwarded-For through uvicorn from loopback.
    settings_for = lambda url: db.settings(base_url=url, signup_rate_limit=50)  # noqa: E731
    with running_site(settings_for, live=True) as site:
        readers = [
            site.reader(**{"X-Forwarded-For": networks[i % len(networks)]})
            for i in range(len(variants))
        ]
        tokens = [reader.form_token() for reader in readers]

        def sign_up(i: int) -> int:
            data = {**form, "email": variants[i], "csrf_token": tokens[i]}
            return readers[i].post("/subscribe", data).status_code

        with ThreadPoolExecutor(len(variants)) as pool:
            assert set(pool.map(sign_up, range(len(variants)))) == {303}
        assert mails_queued(site) == site.settings.mailbox_mail_limit == 3
        assert len(site.deliver()) == 3


def test_gmail_dots_and_googlemail_count_as_one_mailbox(site: Site) -> None:
    reader = site.reader()
    for address in (
        "anna.smith@gmail.com",
        "annasmith@gmail.com",
        "a.n.n.a.smith+news@googlemail.com",
        "AnnaSmith@GMAIL.com",
        "anna.smith+x@gmail.com",
    ):
        assert reader.sign_up(address).status_code == 303
    assert mails_queued(site) == 3


def test_one_domain_gets_at_most_the_domain_limit(db: Db, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="subscribers.mailcap")
    with running_site(
        lambda url: db.settings(base_url=url, signup_rate_limit=50, domain_mail_limit=4)
    ) as site:
        reader = site.reader()
        for i in range(6):
            assert reader.sign_up(f"reader{i}@ministry.example").status_code == 303
        reader.sign_up("someone@elsewhere.example")
        assert mails_queued(site) == 5
    held_back = [
        r.getMessage() for r in caplog.records if "R2P_DOMAIN_MAIL_LIMIT" in r.getMessage()
    ]
    assert len(held_back) == 2 and "ministry.example" in held_back[0]
    assert not any("reader" in message for message in held_back)  # no address in the log


# --- 3. ids never reused, links bound to a per-reader secret ------------------------


def test_an_erased_readers_old_links_never_come_back(site: Site) -> None:
    reader = site.reader()
    reader.sign_up("anna@example.org")
    [confirm] = site.deliver()
    page = confirm_in_browser(site, reader, link_in(confirm, "confirm"))
    manage = page.text.split('action="/preferences/', 1)[1].split('"', 1)[0]
    old_manage = f"/preferences/{manage}"
    first = site.subscriber("anna@example.org")
    assert first is not None
    erased = reader.post(f"{old_manage}/delete", {"confirm_delete": "on"}, token_from=old_manage)
    assert erased.status_code == 200

    reader.sign_up("anna@example.org")  # someone signs the address up again
    second = site.subscriber("anna@example.org")
    assert second is not None and second.id > first.id
    assert reader.get(old_manage).status_code == 404
    saved = reader.post(old_manage, {"digest": "on", "language": "en"})
    assert saved.status_code == 404
    assert site.subscriber("anna@example.org").status == "pending"  # type: ignore[union-attr]


def test_ids_are_never_handed_out_twice(site: Site) -> None:
    first = add_reader(site, "anna@example.org")
    with session_scope(site.factory) as session:
        from subscribers.gdpr import erase

        erase(session.get_one(Subscriber, first), now=datetime.now(UTC), session=session)
    assert add_reader(site, "bob@example.org") > first


def payload_of(url: str) -> str:
    token = url.rsplit("/", 1)[1]
    body = token.split(".", 1)[0]
    import base64

    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def test_links_carry_neither_the_id_nor_a_hash_of_the_address(site: Site) -> None:
    reader_id = add_reader(site)
    reader = site.reader()
    reader.post("/resend", {"email": "anna@example.org"}, token_from="/subscribe")
    [message] = site.deliver()
    address_tag = hashlib.sha256(b"anna@example.org").hexdigest()[:12]
    for url in (link_in(message, "preferences"), str(message["List-Unsubscribe"])[1:-1]):
        payload = payload_of(url)
        assert address_tag not in payload
        assert json.loads(payload) != reader_id and str(reader_id) not in payload.split('"')[0]


def test_resubscribing_replaces_the_secret_so_old_links_stop_working(site: Site) -> None:
    add_reader(site)
    reader = site.reader()
    reader.post("/resend", {"email": "anna@example.org"}, token_from="/subscribe")
    [message] = site.deliver()
    old_manage = site.path(link_in(message, "preferences"))
    old_unsubscribe = str(message["List-Unsubscribe"])[1:-1]
    assert httpx.post(old_unsubscribe, data=ONE_CLICK).status_code == 200
    reader.sign_up("anna@example.org")
    [confirm] = site.deliver()
    confirm_in_browser(site, reader, link_in(confirm, "confirm"))
    assert site.subscriber("anna@example.org").status == "active"  # type: ignore[union-attr]
    assert reader.get(old_manage).status_code == 404


def legacy_token(site: Site, purpose: str, subscriber_id: int, address: str) -> str:
    """A link as mail sent before this change carried it: the id and an address hash."""
    serializer = URLSafeTimedSerializer(site.settings.signing_key, salt=f"r2p-mailer/{purpose}")
    tag = hashlib.sha256(address.encode()).hexdigest()[:12]
    return str(serializer.dumps([subscriber_id, tag]))


def test_unsubscribe_links_in_mail_already_sent_keep_working(site: Site) -> None:
    reader_id = add_reader(site)
    other = legacy_token(site, "unsubscribe", reader_id, "someone-else@example.org")
    httpx.post(f"{site.url}/unsubscribe/{other}", data=ONE_CLICK)
    assert site.subscriber("anna@example.org").status == "active"  # type: ignore[union-attr]
    old = legacy_token(site, "unsubscribe", reader_id, "anna@example.org")
    assert site.reader().get(f"/unsubscribe/{old}").status_code == 200
    assert httpx.post(f"{site.url}/unsubscribe/{old}", data=ONE_CLICK).status_code == 200
    assert site.subscriber("anna@example.org").status == "unsubscribed"  # type: ignore[union-attr]


def test_old_preferences_and_confirmation_links_are_refused(site: Site) -> None:
    reader_id = add_reader(site)
    for purpose, path in (("manage", "preferences"), ("confirm", "confirm")):
        old = legacy_token(site, purpose, reader_id, "anna@example.org")
        page = site.reader().get(f"/{path}/{old}")
        assert page.status_code == 410 and 'action="/resend"' in page.text


def test_an_old_confirmation_link_still_confirms_a_signup_made_before_the_upgrade(
    site: Site,
) -> None:
    """Pending readers who signed up in the week before the upgrade can still confirm with
    the link they got; the link confirms only that pending signup at that address."""
    reader = site.reader()
    reader.sign_up("anna@example.org")
    pending = site.subscriber("anna@example.org")
    assert pending is not None and pending.status == "pending"
    old = legacy_token(site, "confirm", pending.id, "anna@example.org")
    wrong_address = legacy_token(site, "confirm", pending.id, "someone@example.org")
    assert site.reader().get(f"/confirm/{wrong_address}").status_code == 404  # not theirs
    page = reader.get(f"/confirm/{old}")
    assert page.status_code == 200 and "Confirm my subscription" in page.text
    done = reader.post(f"/confirm/{old}", {}, token_from=f"/confirm/{old}")
    assert done.status_code == 200 and "your subscription is confirmed" in done.text
    assert site.subscriber("anna@example.org").status == "active"  # type: ignore[union-attr]


# --- 4. confirmation by POST ------------------------------------------------------------


def test_opening_the_confirmation_link_changes_nothing_the_button_confirms(site: Site) -> None:
    reader = site.reader()
    reader.sign_up("anna@example.org")
    [message] = site.deliver()
    path = site.path(link_in(message, "confirm"))
    for _ in range(3):  # a mail gateway scanning the link
        page = httpx.get(site.url + path)
        assert page.status_code == 200
    assert page.text.count("<form") == 1 and page.text.count("<button") == 1
    assert site.subscriber("anna@example.org").status == "pending"  # type: ignore[union-attr]
    assert httpx.post(site.url + path).status_code == 400
    assert reader.post(path, {"csrf_token": "forged"}).status_code == 400
    assert site.subscriber("anna@example.org").status == "pending"  # type: ignore[union-attr]
    done = reader.post(path, {}, token_from=path)
    assert done.status_code == 200 and "Thank you: your subscription is confirmed." in done.text
    assert site.subscriber("anna@example.org").status == "active"  # type: ignore[union-attr]


# --- 5. the data download needs a fresh link from the mailbox --------------------------


def test_the_preferences_link_alone_does_not_download_the_consent_record(site: Site) -> None:
    reader = site.reader(**{"User-Agent": "Private/1.0"})
    reader.sign_up("anna@example.org")
    [confirm] = site.deliver()
    page = confirm_in_browser(site, reader, link_in(confirm, "confirm"))
    manage = page.text.split('action="/preferences/', 1)[1].split('"', 1)[0]
    path = f"/preferences/{manage}"

    forwarded = site.reader()  # whoever got a forwarded digest
    asked = forwarded.post(f"{path}/export", {}, token_from=path)
    assert asked.status_code == 200
    assert "Private/1.0" not in asked.text and "email" in asked.text.lower()
    assert asked.headers["content-type"].startswith("text/html")
    [data_mail] = site.deliver()
    assert data_mail["To"] == "anna@example.org"
    data_path = site.path(link_in(data_mail, "data"))
    opened = httpx.get(site.url + data_path)
    assert opened.status_code == 200 and "Private/1.0" not in opened.text
    assert reader.get(f"/data/{manage}").status_code == 400  # a manage token is not enough
    download = reader.post(data_path, {}, token_from=data_path)
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/json"
    data = download.json()
    assert data["consent"]["user_agent"] == "Private/1.0"
    assert [e["event"] for e in data["consent_history"]] == ["signup", "confirmed"]


def test_the_data_link_expires_after_an_hour(site: Site) -> None:
    from mailer.tokens import Purpose
    from tests.subscribers.web.test_manage import aged

    add_reader(site)
    reader = site.reader()
    reader.post("/resend", {"email": "anna@example.org"}, token_from="/subscribe")
    [manage_mail] = site.deliver()
    path = site.path(link_in(manage_mail, "preferences"))
    reader.post(f"{path}/export", {}, token_from=path)
    [data_mail] = site.deliver()
    fresh = link_in(data_mail, "data").rsplit("/", 1)[1]
    old = aged(site, Purpose.DATA, fresh, timedelta(hours=1, minutes=5))
    assert reader.get(f"/data/{old}").status_code == 410


def test_data_link_tokens_are_kept_out_of_access_logs() -> None:
    from mailer.web.redact import redact

    assert redact("/data/secret.token.here") == "/data/[token]"
