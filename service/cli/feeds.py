"""``r2p-mailer feeds ...``: the feed sources and their health."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from mailer.db import session_scope
from mailer.errors import MailerError
from mailer.feeds.health import health_of
from mailer.feeds.registry import OTHER_SECTION, SourceEdit, SourceSpec, list_sources
from mailer.terminal import safe
from service.cli.context import MailerTyper, cli_context, console, fail
from service.cli.output import Column, FormatOption, print_records
from staff.actions import feeds
from staff.actions.actor import Actor

feeds_app = MailerTyper(help="List, add, edit, enable and disable feed sources.")


FEED_COLUMNS = (
    Column("key", "source"),
    Column("title", "title"),
    Column("url", "url"),
    Column("section", "section", in_table=False),
    Column("enabled", "on"),
    Column("disabled_reason", "why off"),
    Column("items", "items"),
    Column("last_success_at", "last success"),
    Column("consecutive_failures", "failures"),
    Column("empty_responses", "empty", in_table=False),
    Column("last_empty_at", "last empty", in_table=False),
    Column("health", "health"),
    Column("last_error", "last error", in_table=False),
    Column("last_error_at", "error at", in_table=False),
)


@feeds_app.command("list")
def feeds_list(format: FormatOption = None) -> None:
    """Show every source with its health: last success, failures, and what is wrong in
    plain words. The table leaves out empty answers, the last error as recorded and when
    they happened; tsv, json and csv have every field."""
    with cli_context() as (_settings, _engine, factory), session_scope(factory) as session:
        records = (
            {
                "key": source.key,
                "title": source.title,
                "url": source.url,
                "section": source.section,
                "enabled": source.enabled,
                "disabled_reason": source.disabled_reason,
                "items": count,
                "last_success_at": source.last_success_at,
                "consecutive_failures": source.consecutive_failures,
                "empty_responses": source.empty_responses,
                "last_empty_at": source.last_empty_at,
                "health": health_of(source).summary,
                "last_error": source.last_error,
                "last_error_at": source.last_error_at,
            }
            for source, count in list_sources(session=session)
        )
        print_records(records, FEED_COLUMNS, format=format, title="Feed sources")


@feeds_app.command("add")
def feeds_add(
    key: Annotated[
        str, typer.Argument(metavar="KEY", help="Short name: lower-case letters, digits, hyphens.")
    ],
    url: Annotated[str, typer.Argument(metavar="URL", help="The feed's http(s) URL.")],
    title: Annotated[str, typer.Option(metavar="TEXT", help="A readable name.")] = "",
    language: Annotated[
        str, typer.Option(metavar="LANG", help="Language code of the feed.")
    ] = "en",
    always_relevant: Annotated[
        bool, typer.Option(help="Keep every item of this feed, whatever its words.")
    ] = False,
    section: Annotated[
        str,
        typer.Option(
            metavar="SECTION",
            help='The digest section of its items, e.g. "global-centre", "un-news".',
        ),
    ] = OTHER_SECTION,
) -> None:
    """Add a feed source. Private and loopback addresses are refused unless
    R2P_ALLOW_PRIVATE_FEEDS=true."""
    with cli_context() as (settings, _engine, factory), session_scope(factory) as session:
        spec = SourceSpec(
            key, url, title, language=language, always_relevant=always_relevant, section=section
        )
        try:
            feeds.add(
                spec, actor=Actor.cli(), settings=settings, now=datetime.now(UTC), session=session
            )
        except MailerError as exc:
            raise fail(str(exc)) from None
    console.print(f"Added source {safe(key)}: {safe(url)}")


@feeds_app.command("edit")
def feeds_edit(
    key: Annotated[str, typer.Argument(metavar="KEY", help="The source's key.")],
    url: Annotated[
        str | None, typer.Option(metavar="URL", help="A new http(s) address for the feed.")
    ] = None,
    title: Annotated[str | None, typer.Option(metavar="TEXT", help="A readable name.")] = None,
    language: Annotated[
        str | None, typer.Option(metavar="LANG", help="Language code of the feed.")
    ] = None,
    always_relevant: Annotated[
        bool | None,
        typer.Option(help="Keep every item of this feed, whatever its words (or not)."),
    ] = None,
    section: Annotated[
        str | None, typer.Option(metavar="SECTION", help="The digest section of its items.")
    ] = None,
) -> None:
    """Change a feed source. A new URL passes the same checks as `feeds add` (private and
    loopback addresses refused unless R2P_ALLOW_PRIVATE_FEEDS=true)."""
    changes = SourceEdit(
        url=url, title=title, language=language, always_relevant=always_relevant, section=section
    )
    with cli_context() as (settings, _engine, factory), session_scope(factory) as session:
        try:
            changed = feeds.edit(
                key,
                changes,
                actor=Actor.cli(),
                settings=settings,
                now=datetime.now(UTC),
                session=session,
            )
        except MailerError as exc:
            raise fail(str(exc)) from None
    if not changed:
        console.print(f"Source {safe(key)}: nothing to change.")
        return
    fields = ", ".join(f"{name} = {safe(str(value))}" for name, value in changed.items())
    console.print(f"Source {safe(key)} saved: {fields}")


def _set_enabled(key: str, enabled: bool) -> None:
    with cli_context() as (_settings, _engine, factory), session_scope(factory) as session:
        change = feeds.enable if enabled else feeds.disable
        try:
            change(key, actor=Actor.cli(), now=datetime.now(UTC), session=session)
        except MailerError as exc:
            raise fail(str(exc)) from None
    console.print(f"Source {safe(key)} {'enabled' if enabled else 'disabled'}.")


@feeds_app.command("disable")
def feeds_disable(
    key: Annotated[str, typer.Argument(metavar="KEY", help="The source's key.")],
) -> None:
    """Stop polling a source (its stored items stay)."""
    _set_enabled(key, False)


@feeds_app.command("enable")
def feeds_enable(
    key: Annotated[str, typer.Argument(metavar="KEY", help="The source's key.")],
) -> None:
    """Poll a disabled source again."""
    _set_enabled(key, True)
