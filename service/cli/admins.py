"""``r2p-mailer admins ...``: staff accounts (list, add, invite, role, reset-password,
unlock, remove-2fa, deactivate, reactivate) and their API tokens. The command line's user
acts as an owner (they hold the database and the settings); each change is audited with
their operating-system user."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from mailer.admins import AdminError, get_admin
from mailer.db import session_scope
from mailer.errors import MailerError
from mailer.roles import Role, parse_role
from mailer.terminal import safe
from service.cli.context import MailerTyper, cli_context, console, fail
from service.cli.output import Column, FormatOption, print_records
from staff.actions import accounts
from staff.actions.actor import Actor

admins_app = MailerTyper(help="Admin accounts, roles and API tokens.")

Address = Annotated[str, typer.Argument(metavar="ADDRESS", help="The admin's email address.")]
ROLES = ", ".join(role.value for role in Role)
ADMIN_COLUMNS = (
    Column("email", "admin"),
    Column("role", "role"),
    Column("active", "active"),
    Column("invited", "invited"),
    Column("two_factor", "2FA"),
    Column("last_login_at", "last login"),
    Column("created_at", "added", in_table=False),
)


def _role(value: str) -> Role:
    try:
        return parse_role(value)
    except ValueError as exc:
        raise fail(f"--role: {exc}", code=2) from None


def _read_password(confirm: bool) -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    password = getpass.getpass("Password: ")
    if confirm and getpass.getpass("Again: ") != password:
        raise fail("the two passwords differ")
    return password


def _on_admin(
    email: str, change: Callable[..., Any], *, with_settings: bool = False, **extra: Any
) -> Any:
    """Run the staff action ``change`` on the admin ``email`` as the CLI's user, in one
    transaction (``with_settings``: passing it the settings); any MailerError is the
    command's one-line error."""
    with cli_context() as (settings, _engine, factory), session_scope(factory) as session:
        if with_settings:
            extra["settings"] = settings
        try:
            return change(
                get_admin(email, session=session),
                actor=Actor.cli(),
                now=datetime.now(UTC),
                session=session,
                **extra,
            )
        except MailerError as exc:
            raise fail(str(exc)) from None


@admins_app.command("list")
def admins_list(format: FormatOption = None) -> None:
    """Every admin: role, active, invited (no password chosen yet), second factor, last
    login. The table leaves out when each was added."""
    with cli_context() as (_settings, _engine, factory), session_scope(factory) as session:
        rows = accounts.listing(actor=Actor.cli(), session=session)
    print_records((asdict(row) for row in rows), ADMIN_COLUMNS, format=format, title="Admins")


@admins_app.command("add")
def admins_add(
    email: Address,
    role: Annotated[str, typer.Option(metavar="ROLE", help=f"One of {ROLES}.")] = "owner",
) -> None:
    """Create an admin with a password read from a prompt (or one line of stdin). To let
    them choose their own password, use `admins invite`."""
    chosen = _role(role)
    password = _read_password(confirm=True)
    with cli_context() as (_settings, _engine, factory), session_scope(factory) as session:
        try:
            admin = accounts.add(
                email,
                password,
                role=chosen,
                actor=Actor.cli(),
                now=datetime.now(UTC),
                session=session,
            )
        except AdminError as exc:
            raise fail(str(exc)) from None
    console.print(f"Admin {safe(admin.email)} added ({chosen.value}).")


@admins_app.command("invite")
def admins_invite(
    email: Address,
    role: Annotated[str, typer.Option(metavar="ROLE", help=f"One of {ROLES}.")] = "viewer",
) -> None:
    """Create an admin without a password and mail them a link to choose one (it works
    once, for R2P_ADMIN_INVITE_MAX_AGE)."""
    chosen = _role(role)
    with cli_context() as (settings, _engine, factory):
        try:
            with session_scope(factory) as session:
                admin = accounts.invite(
                    email,
                    chosen,
                    actor=Actor.cli(),
                    settings=settings,
                    now=datetime.now(UTC),
                    session=session,
                )
        except (MailerError, OSError) as exc:
            raise fail(str(exc)) from None
    console.print(f"Invitation mailed to {safe(admin.email)} ({chosen.value}).")


@admins_app.command("role")
def admins_role(
    email: Address,
    role: Annotated[str, typer.Argument(metavar="ROLE", help=f"One of {ROLES}.")],
) -> None:
    """Give an admin another role (at once, in their open sessions too)."""
    chosen = _role(role)
    _on_admin(email, accounts.change_role, role=chosen)
    console.print(f"{safe(email)} is now {chosen.value}.")


@admins_app.command("reset-password")
def admins_reset_password(email: Address) -> None:
    """Mail the admin a link to set a new password (R2P_ADMIN_RESET_MAX_AGE; works once)."""
    try:
        _on_admin(email, accounts.reset_password, with_settings=True)
    except OSError as exc:
        raise fail(f"the mail could not be sent: {exc}") from None
    console.print(f"Password link mailed to {safe(email)}.")


@admins_app.command("unlock")
def admins_unlock(email: Address) -> None:
    """Forget the admin's failed logins from every network (their refusals and slow-down)."""
    count = _on_admin(email, accounts.unlock, with_settings=True)
    console.print(f"Unlocked {safe(email)}: {count} failed login(s) forgotten.")


@admins_app.command("remove-2fa")
def admins_remove_2fa(email: Address) -> None:
    """Remove the admin's second factor (a lost phone and no recovery code)."""
    _on_admin(email, accounts.reset_two_factor)
    console.print(f"Second factor of {safe(email)} removed.")


@admins_app.command("deactivate")
def admins_deactivate(email: Address) -> None:
    """Stop the admin logging in: their sessions end, their API tokens are revoked."""
    count = _on_admin(email, accounts.deactivate)
    console.print(f"{safe(email)} deactivated; {count} API token(s) revoked.")


@admins_app.command("reactivate")
def admins_reactivate(email: Address) -> None:
    """Let a deactivated admin log in again (revoked tokens stay revoked)."""
    _on_admin(email, accounts.reactivate)
    console.print(f"{safe(email)} reactivated.")


@admins_app.command("token")
def admins_token(
    email: Annotated[str, typer.Argument(metavar="ADDRESS", help="The admin the token acts as.")],
    name: Annotated[str, typer.Option(metavar="NAME", help="What the token is for.")] = "api",
) -> None:
    """Create an API token for the JSON admin API (shown once: keep it safe)."""
    token = _on_admin(email, accounts.new_token, name=name)
    console.print(token, markup=False, highlight=False)


@admins_app.command("revoke")
def admins_revoke(
    email: Annotated[str, typer.Argument(metavar="ADDRESS", help="Whose tokens to revoke.")],
) -> None:
    """Revoke every API token of an admin."""
    count = _on_admin(email, accounts.revoke)
    console.print(f"Revoked {count} token(s) of {safe(email)}.")
