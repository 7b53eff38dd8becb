"""``r2p-mailer admins ...``: staff accounts and their API tokens."""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, datetime
from typing import Annotated

import typer

from mailer.admins import AdminError, get_admin
from mailer.db import session_scope
from mailer.terminal import safe
from service.cli.context import MailerTyper, cli_context, console, fail
from staff.actions import accounts
from staff.actions.actor import Actor

admins_app = MailerTyper(help="Admin accounts and API tokens.")


def _read_password(confirm: bool) -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    password = getpass.getpass("Password: ")
    if confirm and getpass.getpass("Again: ") != password:
        raise fail("the two passwords differ")
    return password


@admins_app.command("add")
def admins_add(
    email: Annotated[str, typer.Argument(metavar="ADDRESS", help="The admin's email address.")],
) -> None:
    """Create an admin; the password is read from a prompt (or one line of stdin)."""
    password = _read_password(confirm=True)
    with cli_context() as (_settings, _engine, factory), session_scope(factory) as session:
        try:
            admin = accounts.add(
                email, password, actor=Actor.cli(), now=datetime.now(UTC), session=session
            )
        except AdminError as exc:
            raise fail(str(exc)) from None
    console.print(f"Admin {safe(admin.email)} added.")


@admins_app.command("token")
def admins_token(
    email: Annotated[str, typer.Argument(metavar="ADDRESS", help="The admin the token acts as.")],
    name: Annotated[str, typer.Option(metavar="NAME", help="What the token is for.")] = "api",
) -> None:
    """Create an API token for the JSON admin API (shown once: keep it safe)."""
    with cli_context() as (_settings, _engine, factory), session_scope(factory) as session:
        try:
            admin = get_admin(email, session=session)
        except AdminError as exc:
            raise fail(str(exc)) from None
        token = accounts.new_token(
            admin, name=name, actor=Actor.cli(), now=datetime.now(UTC), session=session
        )
    console.print(token, markup=False, highlight=False)


@admins_app.command("revoke")
def admins_revoke(
    email: Annotated[str, typer.Argument(metavar="ADDRESS", help="Whose tokens to revoke.")],
) -> None:
    """Revoke every API token of an admin."""
    with cli_context() as (_settings, _engine, factory), session_scope(factory) as session:
        try:
            admin = get_admin(email, session=session)
        except AdminError as exc:
            raise fail(str(exc)) from None
        count = accounts.revoke(admin, actor=Actor.cli(), now=datetime.now(UTC), session=session)
    console.print(f"Revoked {count} token(s) of {safe(admin.email)}.")
