"""Urgent alerts: validation, approval (one or two admins), expiry, cancel, suggestions,
and the same actions from the CLI against a real SMTP server."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, select

from jobs.poll import poll_sources
from mailer.admins import (
    AdminError,
    add_admin,
    admin_for_token,
    authenticate,
    create_token,
    revoke_tokens,
)
from mailer.alerts import AlertError, Draft, alert_status, approve, create_alert, suggestions
from mailer.feeds.registry import SourceSpec, add_source
from mailer.models import Admin, AuditEntry, Campaign, Item
from mailer.outbox.campaigns import CampaignStateError, cancel
from mailer.outbox.ledger import claim
from tests.conftest import Db
from tests.support.factories import add_readers
from tests.support.feedserver import FeedServer
from tests.support.ledger import campaign_status, deliveries, drain, smtp_sender
from tests.support.running import cli
from tests.support.smtpserver import SMTPServer

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DRAFT = Draft(
    subject="Imminent risk of mass atrocities in El Fasher",
    body="Civilians are trapped.\n\nThe Council must act.",
    link="https://example.org",
)


def new_alert(db: Db, draft: Draft = DRAFT, expires: timedelta = timedelta(hours=12)) -> int:
    with db.session() as session:
        campaign = create_alert(draft, by="a@r2p.org", expires_in=expires, now=NOW, session=session)
        session.commit()
        return campaign.id


def approve_as(db: Db, alert_id: int, admin: str, now: datetime = NOW, **settings: object):  # type: ignore[no-untyped-def]
    """``admin`` approves (an existing, active admin: created here on first use)."""
    with db.session() as session:
        if session.scalar(select(Admin.id).where(Admin.email == admin.lower())) is None:
            session.add(Admin(email=admin.lower(), password_hash="-", active=True))
            session.commit()
        result = approve(
            session.get_one(Campaign, alert_id),
            by=admin,
            settings=db.settings(**settings),
            now=now,
            session=session,
        )
        session.commit()
        return result


@pytest.mark.parametrize(
    ("draft", "message"),
    [
        (Draft("Line one\r\nBcc: x@example.org", "body"), "single line"),
        (Draft("x" * 1000, "body"), "keep it under 200"),
        (Draft("Subject", "   \n "), "body is empty"),
        (Draft("Subject", "body", link="javascript:alert(1)"), "http:// or https://"),
        (Draft("Subject", "body", link="https://example.org/\x01\x00a"), "http:// or https://"),
        (Draft("Subject", "body", link="https:///no-host"), "http:// or https://"),
        (Draft("Subject", "body", audience="topics"), "at least one topic"),
    ],
)
def test_bad_alerts_are_refused_with_a_clear_reason(db: Db, draft: Draft, message: str) -> None:
    with db.session() as session, pytest.raises(AlertError, match=message):
        create_alert(draft, by="a@r2p.org", expires_in=timedelta(hours=1), now=NOW, session=session)


def test_approval_queues_every_active_alert_reader_and_no_one_else(db: Db) -> None:
    wanted = add_readers(db, ["a@example.org", "b@example.org"])
    add_readers(db, ["digest-only@example.org"], wants_alerts=False)
    add_readers(db, ["pending@example.org"], status="pending")
    add_readers(db, ["left@example.org"], status="unsubscribed")
    alert = new_alert(db)
    result = approve_as(db, alert, "a@r2p.org")
    assert result.approved and result.queued == 2
    assert sorted(d.subscriber_id for d in deliveries(db, alert)) == sorted(wanted)
    assert {d.priority for d in deliveries(db, alert)} == {100}


def test_a_topic_alert_reaches_matching_readers_and_those_who_take_everything(db: Db) -> None:
    sudan = add_readers(db, ["sudan@example.org"], topics=["sudan"])
    everything = add_readers(db, ["all@example.org"])
    add_readers(db, ["haiti@example.org"], topics=["haiti"])
    alert = new_alert(db, Draft("Sudan", "body", audience="topics", topics=("sudan",)))
    assert approve_as(db, alert, "a@r2p.org").queued == 2
    assert sorted(d.subscriber_id for d in deliveries(db, alert)) == sorted(sudan + everything)


def test_approving_twice_or_after_expiry_or_cancel_is_refused(db: Db) -> None:
    add_readers(db, ["a@example.org"])
    alert = new_alert(db)
    approve_as(db, alert, "a@r2p.org")
    with pytest.raises(CampaignStateError, match="not awaiting approval"):
        approve_as(db, alert, "b@r2p.org")
    late = new_alert(db, expires=timedelta(hours=1))
    with pytest.raises(CampaignStateError, match="expired"):
        approve_as(db, late, "a@r2p.org", now=NOW + timedelta(hours=2))
    stopped = new_alert(db)
    with db.session() as session:
        cancel(session.get_one(Campaign, stopped), now=NOW, session=session)
        session.commit()
    with pytest.raises(CampaignStateError, match="cancelled"):
        approve_as(db, stopped, "a@r2p.org")


def test_the_two_person_rule_needs_a_second_different_admin(db: Db) -> None:
    add_readers(db, ["a@example.org"])
    alert = new_alert(db)
    first = approve_as(db, alert, "a@r2p.org", alert_approvers=2)
    assert (first.approved, first.approvals, first.queued) == (False, 1, 0)
    with pytest.raises(AlertError, match="another admin must"):
        approve_as(db, alert, "a@r2p.org", alert_approvers=2)
    second = approve_as(db, alert, "b@r2p.org", alert_approvers=2)
    assert second.approved and second.queued == 1
    with db.session() as session:
        status = alert_status(session.get_one(Campaign, alert), session=session)
    assert sorted(status["approved_by"]) == ["a@r2p.org", "b@r2p.org"]


def test_an_alert_can_be_cancelled_mid_send(db: Db) -> None:
    add_readers(db, [f"r{i}@example.org" for i in range(30)])
    alert = new_alert(db)
    approve_as(db, alert, "a@r2p.org")
    with db.session() as session:  # a worker has 10 in flight when the admin cancels
        claim(
            worker="w",
            limit=10,
            lease=timedelta(minutes=5),
            now=NOW + timedelta(minutes=1),
            session=session,
        )
        session.commit()
    with db.session() as session:
        assert cancel(session.get_one(Campaign, alert), now=NOW, session=session) == 20
        session.commit()
    statuses = [d.status for d in deliveries(db, alert)]
    assert statuses.count("cancelled") == 20 and statuses.count("sending") == 10


@pytest.mark.parametrize("second", ["approve", "cancel"])
def test_a_concurrent_approval_or_cancel_waits_for_the_approval_in_progress(
    db: Db, second: str
) -> None:
    """Admin C's approval stops just before it writes; meanwhile B approves or cancels.
    B must wait for C's commit and then see it, never act on the state C read."""
    readers = add_readers(db, [f"r{i}@example.org" for i in range(5)])
    alert = new_alert(db)
    approve_as(db, alert, "x@r2p.org", alert_approvers=2)
    held, reached, release = threading.local(), threading.Event(), threading.Event()

    @event.listens_for(db.engine, "before_cursor_execute")
    def hold(conn: object, cursor: object, statement: str, *args: object) -> None:
        if getattr(held, "on", False) and statement.startswith("INSERT INTO approvals"):
            reached.set()
            release.wait(10)

    outcomes: dict[str, object] = {}

    def act(name: str, action: str) -> None:
        held.on = name == "C"
        try:
            if action == "approve":
                outcomes[name] = approve_as(db, alert, f"{name}@r2p.org", alert_approvers=2)
            else:
                with db.session() as session:
                    outcomes[name] = cancel(
                        session.get_one(Campaign, alert), now=NOW, session=session
                    )
                    session.commit()
        except CampaignStateError as exc:
            outcomes[name] = exc

    c = threading.Thread(target=act, args=("C", "approve"))
    c.start()
    assert reached.wait(10)
    b = threading.Thread(target=act, args=("B", second))
    b.start()
    b.join(1.0)  # blocked behind C (as it must be), or done already (the bug)
    release.set()
    c.join(10)
    b.join(10)
    event.remove(db.engine, "before_cursor_execute", hold)

    c_result = outcomes["C"]
    assert not isinstance(c_result, Exception) and c_result.approved  # type: ignore[attr-defined]
    statuses = [d.status for d in deliveries(db, alert)]
    assert len(statuses) == len(readers)
    if second == "approve":
        assert isinstance(outcomes["B"], CampaignStateError)
        assert campaign_status(db, alert) == "sending" and set(statuses) == {"queued"}
    else:
        assert outcomes["B"] == len(readers)
        assert campaign_status(db, alert) == "cancelled" and set(statuses) == {"cancelled"}


def test_suggestions_pick_urgent_items_once(db: Db, feed_server: FeedServer) -> None:
    with db.session() as session:
        for key, name, always in (
            ("gc", "globalr2p/feed.xml", True),
            ("news", "un-news/all.xml", False),
        ):
            add_source(
                SourceSpec(
                    key=key, url=feed_server.serve_file(f"/{key}", name), always_relevant=always
                ),
                allow_private=True,
                session=session,
            )
        session.commit()
    asyncio.run(poll_sources(db.settings(), db.factory))
    with db.session() as session:
        found = suggestions(now=datetime.now(UTC), session=session)
        titles = [item.title for item in found]
        assert any(t.startswith("Atrocity Alert No. 430") for t in titles)
        assert not any("Toilet" in t or "Climate" in t or "vacancy" in t for t in titles)
        used = next(i for i in found if i.title.startswith("Atrocity Alert"))
        create_alert(
            Draft(used.title, "body", item_id=used.id),
            by="a@r2p.org",
            expires_in=timedelta(hours=1),
            now=datetime.now(UTC),
            session=session,
        )
        session.commit()
        again = [i.id for i in suggestions(now=datetime.now(UTC), session=session)]
        assert used.id not in again
        assert session.scalar(select(Item.id).where(Item.id == used.id)) == used.id


def test_admin_passwords_and_tokens(db: Db) -> None:
    with db.session() as session:
        with pytest.raises(AdminError, match="at least 12"):
            add_admin("staff@r2p.org", "short", session=session)
        admin = add_admin("Staff@R2P.org", "correct horse battery", session=session)
        assert admin.password_hash.startswith("scrypt$") and "battery" not in admin.password_hash
        assert authenticate("staff@r2p.org", "correct horse battery", now=NOW, session=session)
        assert authenticate("staff@r2p.org", "wrong password!!", now=NOW, session=session) is None
        assert (
            authenticate("nobody@r2p.org", "correct horse battery", now=NOW, session=session)
            is None
        )
        token = create_token(admin, name="ci", session=session)
        assert admin_for_token(token, now=NOW, session=session) == admin
        assert revoke_tokens(admin, now=NOW, session=session) == 1
        assert admin_for_token(token, now=NOW, session=session) is None
        assert admin_for_token("r2p_forged", now=NOW, session=session) is None


def test_the_cli_composes_tests_approves_and_reports_an_alert(
    cli_env: Db, smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    db = cli_env
    monkeypatch.setenv("R2P_SMTP_URL", smtp_server.url)
    added = cli("admins", "add", "staff@r2p.org", stdin="correct horse battery\n")
    assert added.exit_code == 0, added.output
    token = cli("admins", "token", "staff@r2p.org")
    assert token.exit_code == 0 and token.output.strip().startswith("r2p_")
    readers = add_readers(db, ["a@example.org", "b@example.org"])
    body = tmp_path / "body.txt"
    body.write_text("Mass killings are under way.\n\nAct now.")
    created = cli(
        "alert", "create", "--subject", "El Fasher", "--body-file", str(body), "--expires", "6h"
    )
    assert created.exit_code == 0, created.output
    alert_id = int(created.output.strip())
    tested = cli("alert", "test", str(alert_id), "--to", "me@r2p.org")
    assert tested.exit_code == 0, tested.output
    test_mail = smtp_server.handler.to("me@r2p.org")[0].message
    assert test_mail["Subject"] == "[TEST] Urgent: El Fasher"
    assert deliveries(db, alert_id) == []  # a test queues nothing
    approve = ("alert", "approve", str(alert_id), "--by", "staff@r2p.org", "--password-stdin")
    approved = cli(*approve, stdin="correct horse battery\n")
    assert approved.exit_code == 0 and "2 delivery(ies) queued" in approved.output
    again = cli(*approve, stdin="correct horse battery\n")
    assert again.exit_code == 1 and "not awaiting approval" in again.output
    drain(db, smtp_sender(smtp_server.url))
    status = cli("alert", "status", str(alert_id))
    assert "done" in status.output and "2 sent" in status.output
    assert sorted(d.subscriber_id for d in deliveries(db, alert_id)) == sorted(readers)
    bad = cli("alert", "create", "--subject", "x" * 1000, "--body-file", str(body))
    assert bad.exit_code == 1 and "keep it under 200" in bad.output
    with db.session() as session:
        actions = [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions == [
        "admin.add",
        "token.create",
        "alert.create",
        "alert.test",
        "alert.approve",
        "alert.approve.refused",
    ]
