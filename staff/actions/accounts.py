"""Staff accounts as staff change them, each audited: add an admin (admin.add), invite one
by email (admin.invite), deactivate (admin.deactivate: their sessions and API tokens end)
and reactivate (admin.reactivate), change a role (admin.role), mail a password reset link
(admin.reset_password), unlock (admin.unlock: forget their login failures from every
network), remove a colleague's second factor (admin.2fa.reset), create or revoke API
tokens (token.create, token.revoke). All of these need the owner role, and no change may
leave the service without an active owner.

An admin's own account, whatever their role: enrol a second factor (admin.2fa.start,
admin.2fa.enable), new recovery codes (admin.2fa.codes), and set a password through an
emailed link (admin.password). And the proof the CLI asks of an admin it acts for. The
session is never committed here.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from mailer import twofactor
from mailer.admin_links import LinkPurpose, link_mail
from mailer.admins import (
    AdminError,
    active_owners,
    add_admin,
    admin_for_token,
    create_token,
    end_sessions,
    has_password,
    list_admins,
    revoke_tokens,
    set_password,
    verify_password,
)
from mailer.alerts import AlertError, approver
from mailer.config import Settings
from mailer.models import Admin
from mailer.roles import Permission, Role
from mailer.sending import SendResult, send_now
from mailer.web.ratelimit import unlock_account
from staff.actions.actor import Actor


@dataclass(frozen=True)
class AccountRow:
    """One admin as the account list shows them."""

    id: int
    email: str
    role: str
    active: bool
    invited: bool  # no password chosen yet
    two_factor: bool
    created_at: datetime
    last_login_at: datetime | None


def listing(*, actor: Actor, session: Session) -> list[AccountRow]:
    """Every admin, by address (read-only: any role may see who the staff are)."""
    return [
        AccountRow(
            admin.id,
            admin.email,
            admin.role,
            admin.active,
            not has_password(admin),
            twofactor.enabled(admin),
            admin.created_at,
            admin.last_login_at,
        )
        for admin in list_admins(session=session)
    ]


def _keep_an_owner(admin: Admin, *, session: Session) -> None:
    """Refuse a change that would leave no active owner (nobody could manage accounts)."""
    session.flush()
    if active_owners(session=session) == 0:
        raise AdminError(f"{admin.email} is the last active owner: make another owner first")


def add(
    email: str,
    password: str,
    *,
    role: Role = Role.OWNER,
    actor: Actor,
    now: datetime,
    session: Session,
) -> Admin:
    """A new active admin; raises AdminError (not an address, short password, taken)."""
    actor.require(Permission.ACCOUNTS, session=session)
    admin = add_admin(email, password, role=role, session=session)
    actor.record("admin.add", target=admin.email, now=now, session=session, role=role.value)
    return admin


def _mail_link(admin: Admin, purpose: LinkPurpose, settings: Settings) -> SendResult:
    """Send the admin their password link through the configured transport. Runs its own
    event loop (a synchronous route or a CLI command). A message the server refused
    raises AdminError, a transport that cannot be used at all MailerError or OSError: the
    caller's transaction rolls back, so nothing is recorded for mail that did not go."""
    message = link_mail(settings, admin, purpose)
    [result] = asyncio.run(send_now(settings, [(admin.email, message)]))
    if result.verdict != "sent":
        raise AdminError(
            f"the mail to {admin.email} was not sent ({result.code} {result.reply}): "
            "check the mail settings, then try again"
        )
    return result


def invite(
    email: str, role: Role, *, actor: Actor, settings: Settings, now: datetime, session: Session
) -> Admin:
    """A new admin with ``role`` and no password yet, mailed a link to choose one
    (R2P_ADMIN_INVITE_MAX_AGE); raises AdminError (not an address, taken, the mail
    refused)."""
    actor.require(Permission.ACCOUNTS, session=session)
    admin = add_admin(email, None, role=role, session=session)
    result = _mail_link(admin, LinkPurpose.INVITE, settings)
    actor.record(
        "admin.invite",
        target=admin.email,
        now=now,
        session=session,
        role=role.value,
        verdict=result.verdict,
    )
    return admin


def reset_password(
    admin: Admin, *, actor: Actor, settings: Settings, now: datetime, session: Session
) -> None:
    """Mail the admin a link to set a new password (R2P_ADMIN_RESET_MAX_AGE); their
    current password works until they use it. An invited admin gets a new invitation."""
    actor.require(Permission.ACCOUNTS, session=session)
    if not admin.active:
        raise AdminError(f"{admin.email} is deactivated: reactivate the account first")
    purpose = LinkPurpose.RESET if has_password(admin) else LinkPurpose.INVITE
    result = _mail_link(admin, purpose, settings)
    actor.record(
        "admin.reset_password",
        target=admin.email,
        now=now,
        session=session,
        link=purpose.value,
        verdict=result.verdict,
    )


def deactivate(admin: Admin, *, actor: Actor, now: datetime, session: Session) -> int:
    """Stop the admin logging in or using the API: their sessions end and their API
    tokens are revoked (how many is returned). Refused for the last active owner."""
    actor.require(Permission.ACCOUNTS, session=session)
    if not admin.active:
        raise AdminError(f"{admin.email} is deactivated already")
    admin.active = False
    _keep_an_owner(admin, session=session)
    end_sessions(admin.id, session=session)
    revoked = revoke_tokens(admin, now=now, session=session)
    actor.record("admin.deactivate", target=admin.email, now=now, session=session, tokens=revoked)
    return revoked


def reactivate(admin: Admin, *, actor: Actor, now: datetime, session: Session) -> None:
    """Let a deactivated admin log in again (their revoked API tokens stay revoked)."""
    actor.require(Permission.ACCOUNTS, session=session)
    if admin.active:
        raise AdminError(f"{admin.email} is active already")
    admin.active = True
    actor.record("admin.reactivate", target=admin.email, now=now, session=session)


def change_role(admin: Admin, role: Role, *, actor: Actor, now: datetime, session: Session) -> None:
    """Give the admin ``role`` (at once, for their open sessions too). Refused when it
    would leave no active owner."""
    actor.require(Permission.ACCOUNTS, session=session)
    before = admin.role
    admin.role = role.value
    _keep_an_owner(admin, session=session)
    actor.record(
        "admin.role", target=admin.email, now=now, session=session, before=before, after=role.value
    )


def unlock(
    admin: Admin, *, actor: Actor, settings: Settings, now: datetime, session: Session
) -> int:
    """Forget the admin's failed logins from every network: the networks refused for
    this account are let in again and its slow-down ends. How many were forgotten."""
    actor.require(Permission.ACCOUNTS, session=session)
    forgotten = unlock_account(admin.email, secret=settings.signing_key, session=session)
    actor.record("admin.unlock", target=admin.email, now=now, session=session, failures=forgotten)
    return forgotten


def reset_two_factor(admin: Admin, *, actor: Actor, now: datetime, session: Session) -> None:
    """Remove a colleague's second factor (a lost phone and no recovery code): they log in
    with their password alone, and enrol again where R2P_ADMIN_REQUIRE_2FA asks it."""
    actor.require(Permission.ACCOUNTS, session=session)
    twofactor.disable(admin, session=session)
    actor.record("admin.2fa.reset", target=admin.email, now=now, session=session)


def new_token(admin: Admin, *, name: str, actor: Actor, now: datetime, session: Session) -> str:
    """A new API token acting as ``admin``: returned once, only its hash is kept."""
    actor.require(Permission.ACCOUNTS, session=session)
    if not admin.active:
        raise AdminError(f"{admin.email} is deactivated")
    token = create_token(admin, name=name, session=session)
    actor.record("token.create", target=admin.email, now=now, session=session, name=name)
    return token


def revoke(admin: Admin, *, actor: Actor, now: datetime, session: Session) -> int:
    """Revoke every API token of ``admin``; returns how many were live."""
    actor.require(Permission.ACCOUNTS, session=session)
    count = revoke_tokens(admin, now=now, session=session)
    actor.record("token.revoke", target=admin.email, now=now, session=session, count=count)
    return count


def choose_password(
    admin: Admin,
    password: str,
    *,
    purpose: LinkPurpose,
    actor: Actor,
    now: datetime,
    session: Session,
) -> None:
    """The admin sets their password through their emailed link (which this ends, with
    every session of theirs); raises AdminError for a short password."""
    set_password(admin, password)
    end_sessions(admin.id, session=session)
    actor.record("admin.password", target=admin.email, now=now, session=session, link=purpose.value)


def start_two_factor(admin: Admin, *, actor: Actor, now: datetime, session: Session) -> str:
    """Begin enrolling the admin's own second factor: a new secret, asked for at login
    only once a code confirms it. Refused while one is enabled (an owner removes it, for
    a new phone)."""
    if twofactor.enabled(admin):
        raise AdminError("a second factor is enabled already")
    secret = twofactor.start(admin)
    actor.record("admin.2fa.start", target=admin.email, now=now, session=session)
    return secret


def enable_two_factor(
    admin: Admin, code: str, *, actor: Actor, now: datetime, session: Session
) -> list[str] | None:
    """Confirm enrolment with a code from the app: the ten recovery codes (shown once),
    or None when the code is wrong (nothing is audited then)."""
    if admin.totp_secret is None or twofactor.enabled(admin):
        raise AdminError("start enrolling a second factor first")
    codes = twofactor.enable(admin, code, now=now, session=session)
    if codes is not None:
        actor.record("admin.2fa.enable", target=admin.email, now=now, session=session)
    return codes


def new_recovery_codes(admin: Admin, *, actor: Actor, now: datetime, session: Session) -> list[str]:
    """Ten new recovery codes for the admin's own second factor; the old ones stop working."""
    if not twofactor.enabled(admin):
        raise AdminError("enable a second factor first")
    codes = twofactor.new_recovery_codes(admin, now=now, session=session)
    actor.record("admin.2fa.codes", target=admin.email, now=now, session=session)
    return codes


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
