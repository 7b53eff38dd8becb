"""Staff accounts as staff change them: add an admin, create or revoke API tokens, each
audited (admin.add, token.create, token.revoke); and the proof the CLI asks of an admin
it acts for. The session is never committed here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from mailer.admins import add_admin, admin_for_token, create_token, revoke_tokens, verify_password
from mailer.alerts import AlertError, approver
from mailer.models import Admin
from staff.actions.actor import Actor


def add(email: str, password: str, *, actor: Actor, now: datetime, session: Session) -> Admin:
    """A new active admin; raises AdminError (not an address, short password, taken)."""
    admin = add_admin(email, password, session=session)
    actor.record("admin.add", target=admin.email, now=now, session=session)
    return admin


def new_token(admin: Admin, *, name: str, actor: Actor, now: datetime, session: Session) -> str:
    """A new API token acting as ``admin``: returned once, only its hash is kept."""
    token = create_token(admin, name=name, session=session)
    actor.record("token.create", target=admin.email, now=now, session=session, name=name)
    return token


def revoke(admin: Admin, *, actor: Actor, now: datetime, session: Session) -> int:
    """Revoke every API token of ``admin``; returns how many were live."""
    count = revoke_tokens(admin, now=now, session=session)
    actor.record("token.revoke", target=admin.email, now=now, session=session, count=count)
    return count


def proven_admin(
    email: str, *, token: str | None, password: str | None, now: datetime, session: Session
) -> Admin:
    """The existing, active admin ``email`` names, if their password or one of their API
    tokens proves it is them; raises AlertError otherwise."""
    admin = approver(email, session=session)
    if token is not None:
        owner = admin_for_token(token, now=now, session=session)
        if owner is None or owner.id != admin.id:
            raise AlertError(f"not a valid API token of {admin.email}")
    elif password is None or not verify_password(password, admin.password_hash):
        raise AlertError(f"wrong password for {admin.email}")
    return admin
