"""Staff accounts as actions: every action checks the actor's role in the database, owners
manage accounts and no change leaves the service without an active owner, deactivation
ends sessions and API tokens, unlock forgets failed logins from every network, and an
invitation mails a link."""

from __future__ import annotations

import mailbox
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from mailer.admins import AdminError, add_admin, admin_for_token, create_token, get_admin
from mailer.alerts import Draft
from mailer.models import Admin, AuditEntry
from mailer.roles import Role
from staff.actions import accounts, alerts
from staff.actions.actor import Actor, NotAllowedError
from staff.console.login import LoginLimits
from tests.conftest import Db
from tests.support.factories import AMINA, PASSWORD

BRUNO, CARLA = "bruno@r2p.example", "carla@r2p.example"
NOW = datetime.now(UTC)


def staff(db: Db, **roles: Role) -> None:
    """AMINA the owner, and the others with their roles (keys: local parts)."""
    with db.session() as session:
        add_admin(AMINA, PASSWORD, role=Role.OWNER, session=session)
        for name, role in roles.items():
            add_admin(f"{name}@r2p.example", PASSWORD, role=role, session=session)
        session.commit()


def web(email: str) -> Actor:
    return Actor.web(email, "192.0.2.1")


def test_a_viewer_may_not_compose_and_an_editor_may(db: Db) -> None:
    staff(db, bruno=Role.VIEWER, carla=Role.EDITOR)
    draft = Draft("El Fasher", "Civilians are trapped.")
    settings = db.settings()
    with db.session() as session:
        with pytest.raises(NotAllowedError, match="editor role or higher"):
            alerts.create(
                draft,
                expires_in=None,
                actor=web(BRUNO),
                settings=settings,
                now=NOW,
                session=session,
            )
        alerts.create(
            draft, expires_in=None, actor=web(CARLA), settings=settings, now=NOW, session=session
        )


def test_an_editor_may_not_approve(db: Db) -> None:
    staff(db, carla=Role.EDITOR)
    settings = db.settings()
    with db.session() as session:
        campaign = alerts.create(
            Draft("El Fasher", "Act now."),
            expires_in=None,
            actor=web(CARLA),
            settings=settings,
            now=NOW,
            session=session,
        )
        with pytest.raises(NotAllowedError, match="approver role"):
            alerts.approve_alert(
                campaign, actor=web(CARLA), settings=settings, now=NOW, session=session
            )


def test_a_deactivated_admin_may_do_nothing_even_with_a_role(db: Db) -> None:
    staff(db, carla=Role.OWNER)
    with db.session() as session:
        get_admin(CARLA, session=session).active = False
        session.commit()
        with pytest.raises(NotAllowedError):
            accounts.unlock(
                get_admin(AMINA, session=session),
                actor=web(CARLA),
                settings=db.settings(),
                now=NOW,
                session=session,
            )


def test_the_command_line_user_acts_as_an_owner(db: Db) -> None:
    staff(db, bruno=Role.VIEWER)
    with db.session() as session:
        accounts.change_role(
            get_admin(BRUNO, session=session),
            Role.EDITOR,
            actor=Actor.cli(),
            now=NOW,
            session=session,
        )
        assert get_admin(BRUNO, session=session).role == "editor"


def test_only_owners_manage_accounts(db: Db) -> None:
    staff(db, bruno=Role.APPROVER)
    with db.session() as session:
        amina = get_admin(AMINA, session=session)
        with pytest.raises(NotAllowedError, match="owner role"):
            accounts.change_role(amina, Role.VIEWER, actor=web(BRUNO), now=NOW, session=session)
        with pytest.raises(NotAllowedError):
            accounts.deactivate(amina, actor=web(BRUNO), now=NOW, session=session)
        with pytest.raises(NotAllowedError):
            accounts.new_token(amina, name="x", actor=web(BRUNO), now=NOW, session=session)


def test_the_last_active_owner_cannot_be_demoted_or_deactivated(db: Db) -> None:
    staff(db, bruno=Role.EDITOR)
    with db.session() as session:
        amina = get_admin(AMINA, session=session)
        with pytest.raises(AdminError, match="last active owner"):
            accounts.change_role(amina, Role.APPROVER, actor=web(AMINA), now=NOW, session=session)
        session.rollback()
        amina = get_admin(AMINA, session=session)
        with pytest.raises(AdminError, match="last active owner"):
            accounts.deactivate(amina, actor=web(AMINA), now=NOW, session=session)
        session.rollback()
        accounts.change_role(
            get_admin(BRUNO, session=session),
            Role.OWNER,
            actor=web(AMINA),
            now=NOW,
            session=session,
        )
        accounts.deactivate(
            get_admin(AMINA, session=session), actor=web(BRUNO), now=NOW, session=session
        )


def test_deactivation_ends_sessions_and_revokes_tokens_and_is_audited(db: Db) -> None:
    staff(db, bruno=Role.EDITOR)
    with db.session() as session:
        bruno = get_admin(BRUNO, session=session)
        token = create_token(bruno, name="api", session=session)
        generation = bruno.session_generation
        assert accounts.deactivate(bruno, actor=web(AMINA), now=NOW, session=session) == 1
        session.commit()
        session.refresh(bruno)
        assert not bruno.active and bruno.session_generation == generation + 1
        assert admin_for_token(token, now=NOW, session=session) is None
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "admin.deactivate")
        ).one()
        assert (entry.actor, entry.target, entry.detail["tokens"]) == (AMINA, BRUNO, 1)


def test_unlock_forgets_the_account_s_failures_from_every_network(db: Db) -> None:
    staff(db, bruno=Role.EDITOR)
    settings = db.settings()
    limits = LoginLimits.from_settings(settings, db.factory)
    for network in ("198.51.100.7", "203.0.113.9"):
        for _ in range(settings.login_rate_limit):
            assert limits.begin(network, BRUNO, NOW) is not None
        assert limits.begin(network, BRUNO, NOW) is None  # refused from this network
    limits.begin("192.0.2.55", AMINA, NOW)  # someone else's failure stays
    assert limits.failures(BRUNO, NOW) == 2 * settings.login_rate_limit
    with db.session() as session:
        forgotten = accounts.unlock(
            get_admin(BRUNO, session=session),
            actor=web(AMINA),
            settings=settings,
            now=NOW,
            session=session,
        )
        session.commit()
    assert forgotten == 4 * settings.login_rate_limit
    assert limits.failures(BRUNO, NOW) == 0
    assert limits.failures(AMINA, NOW) == 1
    for network in ("198.51.100.7", "203.0.113.9"):
        attempt = limits.begin(network, BRUNO, NOW)
        assert attempt is not None and not attempt.delay


def test_an_invitation_mails_a_link_and_makes_an_admin_without_a_password(db: Db) -> None:
    staff(db)
    settings = db.settings()
    with db.session() as session:
        admin = accounts.invite(
            "Carla@R2P.example",
            Role.EDITOR,
            actor=web(AMINA),
            settings=settings,
            now=NOW,
            session=session,
        )
        session.commit()
        assert (admin.email, admin.role) == (CARLA, "editor")
    [message] = mailbox.Maildir(settings.mail_dir, create=False)
    assert message["To"] == CARLA
    body = message.get_payload(decode=True).decode()
    assert f"{settings.base_url}/admin/password/" in body
    with db.session() as session:
        audited = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "admin.invite")
        ).one()
        assert audited.detail["role"] == "editor" and audited.detail["verdict"] == "sent"


def test_a_reset_is_refused_for_a_deactivated_admin(db: Db) -> None:
    staff(db, bruno=Role.EDITOR)
    with db.session() as session:
        bruno = session.scalars(select(Admin).where(Admin.email == BRUNO)).one()
        bruno.active = False
        with pytest.raises(AdminError, match="deactivated"):
            accounts.reset_password(
                bruno, actor=web(AMINA), settings=db.settings(), now=NOW, session=session
            )
