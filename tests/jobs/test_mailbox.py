"""The bounce mailbox over real IMAP and POP3 on loopback (tests/support/mailstore.py):
messages recorded then removed; a connection dropped between recording and removing,
then a second pass, counts each report once; a wrong password or a plain-text server is
one clear error that loses nothing and never shows the password."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from apscheduler.schedulers.background import BackgroundScheduler
from pydantic import SecretStr
from sqlalchemy import select

from jobs.mailbox import (
    MailboxError,
    bounce_mailbox_job,
    envelope_to,
    fetch_mailbox,
    mailbox_of,
)
from jobs.runtime import Runtime, install
from jobs.schedule import schedule_jobs
from mailer.bounces.verp import bounce_address
from mailer.config import Settings
from mailer.errors import ConfigError
from mailer.models import MailReport, Subscriber
from mailer.outbox.status import SubscriberStatus
from tests.conftest import Db
from tests.support.bounces import fixture, for_delivery
from tests.support.factories import add_readers, alert_campaign
from tests.support.ledger import deliveries
from tests.support.mailstore import Store, serving

DOMAIN = "bounces.example.org"
PASSWORD_IN_URL = "s3cret%20pa%25ss"  # the store's password, percent-encoded


def _settings(db: Db, scheme: str, port: int, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "bounce_domain": DOMAIN,
        "bounce_mailbox_url": f"{scheme}://bounces:{PASSWORD_IN_URL}@127.0.0.1:{port}",
        "bounce_mailbox_insecure": True,  # the loopback servers speak no TLS
        "bounce_mailbox_timeout": "10s",
        **overrides,
    }
    return db.settings(**values)


def _reports(db: Db) -> list[tuple[str, str, int | None]]:
    with db.session() as session:
        rows = session.execute(
            select(MailReport.via, MailReport.decision, MailReport.subscriber_id).order_by(
                MailReport.id
            )
        )
        return [(r.via, r.decision, r.subscriber_id) for r in rows]


def _reader(db: Db, subscriber_id: int) -> Subscriber:
    with db.session() as session:
        reader = session.get(Subscriber, subscriber_id)
        assert reader is not None
        session.expunge(reader)
        return reader


def _fill(db: Db, store: Store) -> tuple[int, int]:
    """A hard bounce for one reader, a counted soft one (mailbox full) for another, an
    auto-reply and something unreadable; (hard reader, soft reader)."""
    settings = db.settings(bounce_domain=DOMAIN)
    readers = add_readers(db, ["gone@example.net", "full@example.net"])
    gone, full = deliveries(db, alert_campaign(db, readers))
    for name, delivery, address in (
        ("postfix-5.1.1.eml", gone, "gone@example.net"),
        ("microsoft-5.2.2-mailbox-full.eml", full, "full@example.net"),
    ):
        store.add(
            for_delivery(
                name,
                settings,
                delivery_id=delivery.id,
                campaign_id=delivery.campaign_id,
                subscriber_id=delivery.subscriber_id,
                recipient=address,
            )
        )
    store.add(fixture("auto-reply-rfc3834.eml"))
    store.add(fixture("unparsable.eml"))
    return gone.subscriber_id, full.subscriber_id


@pytest.mark.parametrize("scheme", ["imap", "pop3"])
def test_each_message_is_recorded_then_removed(db: Db, scheme: str) -> None:
    store = Store()
    hard, soft = _fill(db, store)
    with serving(store, scheme) as port:
        fetched = fetch_mailbox(_settings(db, scheme, port), db.factory)
    assert (fetched.read, fetched.recorded, fetched.duplicates, fetched.removed) == (4, 4, 0, 4)
    assert store.messages == []
    assert _reports(db) == [
        ("mailbox", "hard", hard),
        ("mailbox", "soft", soft),
        ("mailbox", "ignored", None),
        ("mailbox", "unknown", None),
    ]
    assert _reader(db, hard).status == SubscriberStatus.BOUNCED
    assert _reader(db, soft).hard_bounces == 1


@pytest.mark.parametrize(
    ("scheme", "drop"), [("imap", "STORE"), ("pop3", "DELE"), ("pop3", "QUIT")]
)
def test_a_pass_cut_off_before_removing_counts_once_when_run_again(
    db: Db, scheme: str, drop: str
) -> None:
    store = Store(drop_at={drop})
    _hard, soft = _fill(db, store)
    with serving(store, scheme) as port:
        settings = _settings(db, scheme, port)
        with pytest.raises(MailboxError, match="cannot read the bounce mailbox"):
            fetch_mailbox(settings, db.factory)
        first = _reports(db)
        assert first  # recorded before the server hung up ...
        assert len(store.messages) == 4  # ... and nothing was removed
        again = fetch_mailbox(settings, db.factory)
    assert again.read == 4 and again.duplicates == len(first) and again.removed == 4
    assert store.messages == []
    assert len(_reports(db)) == 4  # each report once
    assert _reader(db, soft).hard_bounces == 1  # the counted soft bounce counted once


@pytest.mark.parametrize("scheme", ["imap", "pop3"])
def test_a_wrong_password_is_one_clear_error_and_loses_nothing(db: Db, scheme: str) -> None:
    store = Store()
    _fill(db, store)
    with serving(store, scheme) as port:
        settings = _settings(
            db, scheme, port, bounce_mailbox_url=f"{scheme}://bounces:Wr0ng@127.0.0.1:{port}"
        )
        with pytest.raises(MailboxError) as raised:
            fetch_mailbox(settings, db.factory)
    message = str(raised.value)
    assert f"{scheme}://bounces@127.0.0.1:{port}" in message
    assert "refused the login of bounces" in message and "Wr0ng" not in message
    assert len(store.messages) == 4 and _reports(db) == []


@pytest.mark.parametrize(("scheme", "starttls"), [("imap", "STARTTLS"), ("pop3", "STLS")])
def test_plain_text_is_refused_unless_allowed(db: Db, scheme: str, starttls: str) -> None:
    store = Store()
    _fill(db, store)
    with serving(store, scheme) as port:
        settings = _settings(db, scheme, port, bounce_mailbox_insecure=False)
        with pytest.raises(MailboxError, match=f"offers no {starttls}") as raised:
            fetch_mailbox(settings, db.factory)
    assert "R2P_BOUNCE_MAILBOX_INSECURE" in str(raised.value)
    assert "s3cret" not in str(raised.value)
    assert store.logins == 0  # the password was never sent
    assert len(store.messages) == 4 and _reports(db) == []


def test_imap_can_mark_seen_instead_of_deleting(db: Db) -> None:
    store = Store()
    _fill(db, store)
    with serving(store, "imap") as port:
        settings = _settings(db, "imap", port, bounce_mailbox_done="seen")
        first = fetch_mailbox(settings, db.factory)
        second = fetch_mailbox(settings, db.factory)
    assert (first.read, first.removed, second.read) == (4, 4, 0)
    assert "4 marked seen" in first.summary()
    assert [m.flags for m in store.messages] == [{"\\Seen"}] * 4
    assert len(_reports(db)) == 4


@pytest.mark.parametrize("scheme", ["imap", "pop3"])
def test_a_message_over_the_size_limit_stays_in_the_mailbox(db: Db, scheme: str) -> None:
    store = Store()
    store.add(fixture("unparsable.eml") + b"x" * 20_000 + b"\r\n")
    store.add(fixture("auto-reply-rfc3834.eml"))
    with serving(store, scheme) as port:
        fetched = fetch_mailbox(_settings(db, scheme, port, inbound_max_bytes=10_000), db.factory)
    assert (fetched.read, fetched.too_large, fetched.removed) == (1, 1, 1)
    assert len(store.messages) == 1 and len(store.messages[0].data) > 20_000
    assert _reports(db) == [("mailbox", "ignored", None)]


def test_the_url_and_password_file(db: Db, tmp_path: Path) -> None:
    mailbox = mailbox_of(
        db.settings(bounce_mailbox_url=f"imaps://bounces:{PASSWORD_IN_URL}@mx.example.org/Bounces")
    )
    assert (mailbox.port, mailbox.password, mailbox.folder) == (993, "s3cret pa%ss", "Bounces")
    assert str(mailbox) == repr(mailbox)[8:-1] == "imaps://bounces@mx.example.org:993/Bounces"
    secret = tmp_path / "password"
    secret.write_text("from-a-file\n", encoding="utf-8")
    pop = mailbox_of(
        db.settings(
            bounce_mailbox_url="pop3s://bounces@mx.example.org",
            bounce_mailbox_password_file=secret,
        )
    )
    assert (pop.port, pop.password, str(pop)) == (
        995,
        "from-a-file",
        "pop3s://bounces@mx.example.org:995",
    )
    for url in (
        "https://bounces:x@mx.example.org",
        "imaps://mx.example.org",
        "imaps://u@mx.example.org",
    ):
        with pytest.raises(ConfigError) as raised:
            mailbox_of(db.settings(bounce_mailbox_url=url))
        assert "x@" not in str(raised.value)


def test_the_scheduled_job_reads_the_mailbox_and_logs_a_failure(
    db: Db, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store()
    store.add(fixture("auto-reply-rfc3834.eml"))
    with serving(store, "pop3") as port:
        settings = _settings(db, "pop3", port)
        scheduler = BackgroundScheduler(timezone="UTC")
        schedule_jobs(scheduler, settings)
        job = scheduler.get_job("bounce-mailbox")
        assert job is not None and job.func_ref == "jobs.mailbox:bounce_mailbox_job"
        assert job.trigger.interval.total_seconds() == 300
        install(Runtime(settings, db.factory))
        bounce_mailbox_job()
        assert store.messages == [] and _reports(db) == [("mailbox", "ignored", None)]
        store.add(fixture("unparsable.eml"))
        wrong = settings.model_copy(
            update={"bounce_mailbox_url": SecretStr(f"pop3://bounces:nope@127.0.0.1:{port}")}
        )
        install(Runtime(wrong, db.factory))
        with caplog.at_level(logging.ERROR, logger="jobs.mailbox"):
            bounce_mailbox_job()  # logged, not raised: the next run tries again
    assert "refused the login of bounces" in caplog.text and "nope" not in caplog.text
    assert len(store.messages) == 1
    scheduler = BackgroundScheduler(timezone="UTC")
    schedule_jobs(scheduler, db.settings())
    assert scheduler.get_job("bounce-mailbox") is None  # no mailbox, no job


def test_a_report_quoting_nothing_is_matched_by_the_address_it_was_delivered_to(
    db: Db,
) -> None:
    settings = db.settings(bounce_domain=DOMAIN)
    [delivery] = deliveries(db, alert_campaign(db, add_readers(db, ["gone@example.net"])))
    verp = bounce_address(settings, delivery.id, delivery.campaign_id, delivery.subscriber_id)
    bare = (
        f"Delivered-To: {verp}\r\nX-Original-To: bounces+1-forged@{DOMAIN}\r\n"
        "From: MAILER-DAEMON@mx.example.net\r\nTo: someone@example.org\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        "Final-Recipient: rfc822; gone@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n--b--\r\n"
    ).encode()
    assert envelope_to(bare) == [verp, f"bounces+1-forged@{DOMAIN}", "someone@example.org"]
    store = Store()
    store.add(bare)
    store.add(bare.replace(f"Delivered-To: {verp}\r\n".encode(), b""))  # nothing genuine
    with serving(store, "imap") as port:
        fetch_mailbox(_settings(db, "imap", port), db.factory)
    assert _reports(db) == [
        ("mailbox", "hard", delivery.subscriber_id),
        ("mailbox", "ignored", None),
    ]


# --- TLS from the first byte (imaps://, pop3s://), with a throwaway CA ------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _server_tls(ca: trustme.CA, host: str = "127.0.0.1") -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(host).configure_cert(context)
    return context


@pytest.fixture
def trusting(ca: trustme.CA) -> Iterator[ssl.SSLContext]:
    """What the reader trusts: the default checks, with the test CA as the only root."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    yield context


@pytest.mark.parametrize("scheme", ["imap", "pop3"])
def test_the_mailbox_is_read_over_tls_from_the_first_byte(
    db: Db, ca: trustme.CA, trusting: ssl.SSLContext, scheme: str
) -> None:
    store = Store()
    hard, _ = _fill(db, store)
    with serving(store, scheme, tls=_server_tls(ca)) as port:
        settings = _settings(db, scheme + "s", port, bounce_mailbox_insecure=False)
        fetched = fetch_mailbox(settings, db.factory, tls_context=trusting)
    assert (fetched.read, fetched.recorded, fetched.removed) == (4, 4, 4)
    assert store.logins == 1 and store.messages == []
    assert _reports(db)[0] == ("mailbox", "hard", hard)


@pytest.mark.parametrize("scheme", ["imap", "pop3"])
@pytest.mark.parametrize("problem", ["unknown CA", "another host"])
def test_a_server_certificate_that_does_not_check_out_gets_no_password(
    db: Db, ca: trustme.CA, trusting: ssl.SSLContext, scheme: str, problem: str
) -> None:
    store = Store()
    _fill(db, store)
    if problem == "unknown CA":
        server, client = _server_tls(ca), ssl.create_default_context()
    else:
        server, client = _server_tls(ca, "mail.example.org"), trusting
    with serving(store, scheme, tls=server) as port:
        settings = _settings(db, scheme + "s", port, bounce_mailbox_insecure=False)
        with pytest.raises(MailboxError, match="certificate verify failed") as raised:
            fetch_mailbox(settings, db.factory, tls_context=client)
    assert f"{scheme}s://bounces@127.0.0.1:{port}" in str(raised.value)
    assert "s3cret" not in str(raised.value)
    assert store.logins == 0  # the password was never sent
    assert len(store.messages) == 4 and _reports(db) == []
