"""``r2p-mailer items ...``: the stored items, why each is relevant, and an editor's
"relevant / not relevant" on one of them."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import typer

from mailer.db import session_scope
from mailer.errors import MailerError
from mailer.feeds.items import ItemFilter, find_items
from mailer.terminal import safe
from service.cli.context import MailerTyper, cli_context, console, fail
from service.cli.output import Column, FormatOption, print_records
from staff.actions import items
from staff.actions.actor import Actor

items_app = MailerTyper(help="Find stored items and correct their relevance.")

ITEM_COLUMNS = (
    Column("id", "id"),
    Column("published_at", "published"),
    Column("source", "source"),
    Column("title", "title"),
    Column("relevant", "relevant"),
    Column("decided_by", "decided by"),
    Column("why", "why"),
    Column("url", "url", in_table=False),
    Column("relevance", "score", in_table=False),
)


class Verdict(StrEnum):
    RELEVANT = "relevant"
    NOT_RELEVANT = "not-relevant"
    RULES = "rules"


VERDICTS = {Verdict.RELEVANT: True, Verdict.NOT_RELEVANT: False, Verdict.RULES: None}


@items_app.command("list")
def items_list(
    search: Annotated[
        str, typer.Option(metavar="TEXT", help="Words in the title or summary.")
    ] = "",
    source: Annotated[str, typer.Option(metavar="KEY", help="Only this source's items.")] = "",
    since: Annotated[
        datetime | None,
        typer.Option(metavar="DATE", formats=["%Y-%m-%d"], help="Published on or after."),
    ] = None,
    until: Annotated[
        datetime | None,
        typer.Option(metavar="DATE", formats=["%Y-%m-%d"], help="Published on or before."),
    ] = None,
    tag: Annotated[str, typer.Option(metavar="TAG", help="Only items with this tag.")] = "",
    relevant: Annotated[
        bool | None, typer.Option(help="Only relevant (or only not relevant) items.")
    ] = None,
    limit: Annotated[int, typer.Option(metavar="N", min=1, help="At most N items.")] = 50,
    format: FormatOption = None,
) -> None:
    """Stored items, newest first, with the terms behind each tag ("why") and who decided
    their relevance (the rules or an editor). The table leaves out the URL and the score."""
    verdict = "" if relevant is None else ("relevant" if relevant else "not-relevant")
    wanted = ItemFilter(
        text=search,
        source=source,
        since=since.date() if since else None,
        until=until.date() if until else None,
        tag=tag,
        verdict=verdict,
    )
    with cli_context() as (settings, _engine, factory), session_scope(factory) as session:
        found = find_items(
            wanted, session=session, relevance_file=settings.relevance_file, page_size=limit
        )
    print_records(
        (
            {
                "id": row.id,
                "published_at": row.published_at,
                "source": row.source_key,
                "title": row.title,
                "relevant": row.relevant,
                "decided_by": row.override_by if row.override is not None else "rules",
                "why": "; ".join(
                    f"{r.label}: {r.term}" if r.term else r.label for r in row.reasons
                ),
                "url": row.url,
                "relevance": row.relevance,
            }
            for row in found.rows
        ),
        ITEM_COLUMNS,
        format=format,
        title=f"Items ({len(found.rows)} of {found.total})",
    )


@items_app.command("mark")
def items_mark(
    item_id: Annotated[int, typer.Argument(metavar="ID", help="The item's id (`items list`).")],
    verdict: Annotated[
        Verdict,
        typer.Argument(
            metavar="VERDICT",
            case_sensitive=False,
            help="relevant, not-relevant, or rules (let the relevance rules decide again).",
        ),
    ],
) -> None:
    """Correct an item's relevance; later polls never undo it, the next digest follows it,
    and so does an issue under review."""
    with cli_context() as (settings, _engine, factory), session_scope(factory) as session:
        try:
            marked = items.mark(
                item_id,
                VERDICTS[verdict],
                actor=Actor.cli(),
                settings=settings,
                now=datetime.now(UTC),
                session=session,
            )
        except MailerError as exc:
            raise fail(str(exc)) from None
        title, relevant = marked.item.title, marked.item.relevant
        issue = marked.draft.key if marked.draft is not None else None
    state = "relevant" if relevant else "not relevant"
    console.print(f"Item {item_id} ({safe(title)}) is now {state}.")
    if issue is not None:
        console.print(f"The issue under review ({safe(issue)}) follows it.")
