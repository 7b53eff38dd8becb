"""`alert approve` from the command line: the approver is an existing, active admin who
proves who they are (password or API token), the OS user is recorded, and the two-person
rule counts distinct admins, so one shell user cannot approve alone."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from mailer.alerts import AlertError, Draft, approve, create_alert
from mailer.db import session_scope
from mailer.models import Approval, AuditEntry, Campaign
from tests.conftest import Db
from tests.support.factories import add_readers
from tests.support.ledger import campaign_status, deliveries
from tests.support.running import cli

AMINA, BRUNO = "amina@r2p.example", "bruno@r2p.example"
PASSWORD = "correct horse battery"


def setup(db: Db, tmp_path: Path) -> int:
    for email in (AMINA, BRUNO):
        assert cli("admins", "add", email, stdin=f"{PASSWORD}\n").exit_code == 0
    add_readers(db, ["reader@example.org"])
    body = tmp_path / "body.txt"
    body.write_text("Act now.")
    created = cli("alert", "create", "--subject", "El Fasher", "--body-file", str(body))
    assert created.exit_code == 0, created.output
    return int(created.output.strip())


def approvals(db: Db, alert_id: int) -> list[str]:
    with db.session() as session:
        return list(
            session.scalars(select(Approval.admin_email).where(Approval.campaign_id == alert_id))
        )


def test_one_shell_user_cannot_satisfy_the_two_person_rule_alone(
    cli_env: Db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("R2P_ALERT_APPROVERS", "2")
    alert_id = setup(cli_env, tmp_path)
    for by in ("somebody", "nobody@r2p.example"):
        result = cli(
            "alert", "approve", str(alert_id), "--by", by, "--password-stdin", stdin=PASSWORD
        )
        assert result.exit_code == 1 and "no active admin" in result.output, result.output
    wrong = cli(
        "alert", "approve", str(alert_id), "--by", AMINA, "--password-stdin", stdin="guess guess!\n"
    )
    assert wrong.exit_code == 1 and "wrong password" in wrong.output
    assert approvals(cli_env, alert_id) == []

    first = cli(
        "alert", "approve", str(alert_id), "--by", AMINA, "--password-stdin", stdin=f"{PASSWORD}\n"
    )
    assert first.exit_code == 0 and "Approval 1 of 2" in first.output, first.output
    for by in (AMINA, AMINA.upper()):
        again = cli(
            "alert", "approve", str(alert_id), "--by", by, "--password-stdin", stdin=PASSWORD
        )
        assert again.exit_code == 1 and "already approved" in again.output, again.output
    assert campaign_status(cli_env, alert_id) == "draft" and deliveries(cli_env, alert_id) == []

    token = cli("admins", "token", BRUNO).output.strip()
    forged = cli("alert", "approve", str(alert_id), "--by", BRUNO, "--token-stdin", stdin="r2p_x")
    assert forged.exit_code == 1 and "not a valid API token" in forged.output
    amina_token = cli("admins", "token", AMINA).output.strip()
    borrowed = cli(
        "alert", "approve", str(alert_id), "--by", BRUNO, "--token-stdin", stdin=amina_token
    )
    assert borrowed.exit_code == 1 and "not a valid API token" in borrowed.output
    second = cli("alert", "approve", str(alert_id), "--by", BRUNO, "--token-stdin", stdin=token)
    assert second.exit_code == 0 and "1 delivery(ies) queued" in second.output, second.output
    assert sorted(approvals(cli_env, alert_id)) == [AMINA, BRUNO]

    with cli_env.session() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "alert.approve").order_by(AuditEntry.id)
        ).all()
    assert [e.actor for e in entries] == [AMINA, BRUNO]
    assert [e.detail["os_user"] for e in entries] == [getpass.getuser()] * 2
    assert [e.detail["proof"] for e in entries] == ["password", "token"]


def test_approve_without_proof_on_a_pipe_says_how(cli_env: Db, tmp_path: Path) -> None:
    alert_id = setup(cli_env, tmp_path)
    result = cli("alert", "approve", str(alert_id), "--by", AMINA, stdin="")
    assert result.exit_code == 2 and "--password-stdin" in result.output, result.output
    missing = cli("alert", "approve", str(alert_id), "--password-stdin", stdin=PASSWORD)
    assert missing.exit_code == 2 and "--by" in missing.output
    assert approvals(cli_env, alert_id) == []


def test_an_inactive_admin_cannot_approve(cli_env: Db, tmp_path: Path) -> None:
    alert_id = setup(cli_env, tmp_path)
    with session_scope(cli_env.factory) as session:
        from mailer.admins import get_admin

        get_admin(AMINA, session=session).active = False
    result = cli(
        "alert", "approve", str(alert_id), "--by", AMINA, "--password-stdin", stdin=PASSWORD
    )
    assert result.exit_code == 1 and "no active admin" in result.output
    assert approvals(cli_env, alert_id) == []


def test_the_rule_itself_counts_only_existing_active_admins(db: Db) -> None:
    now = datetime.now(UTC)
    with db.session() as session:
        campaign = create_alert(
            Draft("Subject", "Body"),
            by="cli:someone",
            expires_in=timedelta(hours=1),
            now=now,
            session=session,
        )
        with pytest.raises(AlertError, match="no active admin"):
            approve(campaign, by="cli:someone", settings=db.settings(), now=now, session=session)
        assert session.scalars(select(Approval)).all() == []
        assert session.get_one(Campaign, campaign.id).status == "draft"
