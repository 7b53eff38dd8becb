"""Running the service: ``init``, ``run``, ``web``, ``worker``, ``scheduler``, and the
one-off ``poll`` and ``deliver``."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from jobs.deliver import DeliveryWorker
from jobs.deliver import Progress as DeliveryProgress
from jobs.poll import PollOutcome, poll_sources
from jobs.runtime import Runtime
from jobs.scheduler import SchedulerHost
from mailer.config import Settings, load_settings
from mailer.db import make_engine, make_sessionmaker, session_scope
from mailer.email.dkim import DkimSigner
from mailer.errors import MailerError
from mailer.feeds.registry import (
    load_default_sources,
    seed_sources,
)
from mailer.logs import configure_logging
from mailer.migrate import current_revision, upgrade_to_head
from mailer.outbox.queries import queue_depth
from mailer.sending import make_sender
from mailer.terminal import safe
from service.cli.context import MailerTyper, cli_context, console, errors, fail
from service.cli.output import Column, FormatOption, print_records
from staff.actions import feeds
from staff.actions.actor import Actor

service_app = MailerTyper()


@dataclass(frozen=True)
class Initialised:
    settings: Settings
    revision: str
    added: list[str]
    database: str


def initialise(*, create: bool = True) -> Initialised:
    """Migrate to head and add missing default sources; safe to run any number of times.
    Only with ``create`` (``init``) may it make a new SQLite database."""
    try:
        settings = load_settings()
        DkimSigner.from_settings(settings)  # a bad key fails here, naming the setting
        engine = make_engine(settings.database, create=create)
        try:
            before = current_revision(engine)
            revision = upgrade_to_head(engine)
            with session_scope(make_sessionmaker(engine)) as session:
                added = seed_sources(load_default_sources(settings.sources_file), session=session)
                if before != revision or added:
                    Actor.cli().record(
                        "database.init",
                        now=datetime.now(UTC),
                        session=session,
                        before=before or "",
                        revision=revision,
                        added=added,
                    )
        finally:
            engine.dispose()
    except MailerError as exc:
        raise fail(str(exc)) from None
    return Initialised(settings, revision, added, engine.url.render_as_string(hide_password=True))


@service_app.command()
def init() -> None:
    """Create or upgrade the database to the newest schema and add the default feeds."""
    done = initialise()
    console.print(f"Database {safe(done.database)} is at schema revision {safe(done.revision)}.")
    if done.added:
        added = safe(", ".join(done.added))
        console.print(f"Added {len(done.added)} default feed source(s): {added}.")


POLL_COLUMNS = (
    Column("feed", "feed"),
    Column("result", "result"),
    Column("new", "new"),
    Column("items_in_feed", "items in feed"),
    Column("detail", "detail"),
)


@service_app.command()
def poll(
    feed: Annotated[
        str | None, typer.Option(metavar="KEY", help="Poll only this source key.")
    ] = None,
    format: FormatOption = None,
) -> None:
    """Fetch enabled feeds now and store new items; prints one record per feed (new,
    unchanged, failed or gone). Exits 1 if any feed failed."""
    configure_logging(logging.ERROR)
    with cli_context() as (settings, _engine, factory):
        with Progress(
            TextColumn("polling feeds"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            console=errors,
            transient=True,
            disable=not errors.is_terminal,
        ) as progress:
            task = progress.add_task("", total=None)

            def advance(outcome: PollOutcome) -> None:
                progress.update(task, advance=1, description=safe(outcome.key))

            try:
                outcomes = asyncio.run(poll_sources(settings, factory, key=feed, on_done=advance))
            except MailerError as exc:
                raise fail(str(exc)) from None
        new = sum(o.new for o in outcomes)
        failed = [o for o in outcomes if o.status in {"failed", "gone"}]
        with session_scope(factory) as session:
            feeds.polled(feed, outcomes, actor=Actor.cli(), now=datetime.now(UTC), session=session)
        print_records(
            (
                {
                    "feed": outcome.key,
                    "result": outcome.status,
                    "new": outcome.new,
                    "items_in_feed": outcome.seen if outcome.status == "new" else None,
                    "detail": outcome.message,
                }
                for outcome in sorted(outcomes, key=lambda o: o.key)
            ),
            POLL_COLUMNS,
            format=format,
            title="Poll",
        )
        errors.print(
            f"{new} new item(s) from {len(outcomes)} feed(s); {len(failed)} failed.",
            highlight=False,
        )
    if failed:
        raise typer.Exit(1)


def _drain(*, once: bool) -> None:
    """Run a delivery worker in the foreground with a live progress line."""
    with cli_context() as (settings, _engine, factory):
        sender = make_sender(settings)
        with Progress(
            TextColumn("delivering"),
            TextColumn("[green]{task.fields[sent]} sent"),
            TextColumn("[yellow]{task.fields[retry]} retrying now"),
            TextColumn("[red]{task.fields[failed]} failed"),
            TextColumn("{task.fields[rate]:.0f} msg/s (last minute)"),
            TextColumn("{task.fields[relay]}"),
            # On stderr: live on a terminal, else its last state once, when it stops.
            console=errors,
        ) as progress:
            task = progress.add_task("", total=None, sent=0, retry=0, failed=0, rate=0.0, relay="")

            def show(p: DeliveryProgress) -> None:
                # "retrying now": rows waiting for their next attempt at this moment (the
                # heartbeat counts them), not every retry so far.
                relay = "" if p.breaker == "closed" else f"[red]relay failing: breaker {p.breaker}"
                progress.update(
                    task,
                    sent=p.sent,
                    retry=p.retrying_now,
                    failed=p.failed,
                    rate=p.rate,
                    relay=relay,
                )

            worker = DeliveryWorker(settings, factory, sender, on_progress=show)

            async def main() -> DeliveryProgress:
                loop = asyncio.get_running_loop()
                for signum in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(signum, worker.stop)
                return await worker.run(once=once)

            try:
                result = asyncio.run(main())
            except MailerError as exc:
                raise fail(str(exc)) from None
        with session_scope(factory) as session:
            waiting = queue_depth(session=session)
            Actor.cli().record(
                "outbox.deliver",
                now=datetime.now(UTC),
                session=session,
                sent=result.sent,
                retry=result.retry,
                failed=result.failed,
                released=result.released,
            )
        errors.print(
            f"{result.sent} sent, {result.retry} to retry, {result.failed} failed"
            f"{f', {result.released} released' if result.released else ''}; "
            f"{waiting} delivery(ies) still queued or in flight.",
            highlight=False,
        )


@service_app.command()
def deliver(
    once: Annotated[
        bool, typer.Option("--once", help="Stop when nothing is due now instead of waiting.")
    ] = False,
) -> None:
    """Send queued mail with a progress bar (sent, retrying, failed, rate). Without
    R2P_SMTP_URL mail goes to the Maildir under R2P_VAR_DIR/mail."""
    configure_logging(logging.WARNING)
    _drain(once=once)


@service_app.command()
def worker() -> None:
    """Keep sending queued mail until SIGTERM/SIGINT (several may run on PostgreSQL)."""
    configure_logging()
    _drain(once=False)


def _serve(settings: Settings, *, host: str, port: int, with_services: bool) -> None:
    import uvicorn

    from service.app import create_app

    uvicorn.run(
        create_app(settings, with_services=with_services),
        host=host,
        port=port,
        log_config=None,
        timeout_graceful_shutdown=30,
        # Behind a reverse proxy the client's address (rate limits, consent records)
        # comes from X-Forwarded-For, trusted only from these addresses.
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )


def _migrated_settings() -> Settings:
    done = initialise(create=False)
    logging.getLogger("mailer").info(
        "database %s at revision %s%s",
        done.database,
        done.revision,
        f", added sources {', '.join(done.added)}" if done.added else "",
    )
    return done.settings


@service_app.command()
def run(
    host: Annotated[str, typer.Option(metavar="HOST", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="Port to listen on.")] = 8000,
) -> None:
    """Run everything in one process: web app, scheduler (feeds every R2P_POLL_EVERY, the
    weekly digest, sweeps) and a delivery worker. Migrates the database first."""
    configure_logging()
    settings = _migrated_settings()
    _serve(settings, host=host, port=port, with_services=True)


@service_app.command()
def web(
    host: Annotated[str, typer.Option(metavar="HOST", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="Port to listen on.")] = 8000,
) -> None:
    """Run only the web app (signup, preferences, archive, admin, /healthz, /metrics)."""
    configure_logging()
    with cli_context() as (settings, _engine, _factory):
        pass
    _serve(settings, host=host, port=port, with_services=False)


@service_app.command()
def scheduler() -> None:
    """Run only the scheduler. Exactly one runs at a time (a database lock); a second one
    waits and takes over if the first dies."""
    configure_logging()
    with cli_context() as (settings, _engine, factory):

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            await SchedulerHost(Runtime(settings, factory)).run(stop)

        asyncio.run(main())
