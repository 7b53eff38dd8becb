"""Sending speed of the delivery engine against the transport ceiling and a naive loop,
side by side in one run, all to the same local SMTP sink (its own process); and how soon
an alert approved in the middle of a digest reaches that sink.

    .venv/bin/python bench/send.py [--subscribers 20000] [--connections 4] [--topics]
    .venv/bin/python bench/send.py --topics --alert-during [--postgres-url URL]

1. ceiling: aiosmtplib sending prebuilt bytes, the same mix of messages the engine sent,
   over the same number of reused connections;
2. naive: an EmailMessage built per recipient, sent with smtplib on one connection (a
   sample of the recipients: its rate does not depend on how many);
3. engine: a real weekly digest for N readers through the ledger (SQLite by default,
   --database-url for PostgreSQL), in a child process whose peak RSS is reported, with the
   number of segments (distinct language + topics), contents and renders.

Readers: by default a light mix (3 in 5 take everything). With --topics, as real readers
choose (fixed seed): 40% take everything, 60% pick 1-4 of the topics; languages 55% en,
15% fr, 10% es, 10% ar, 5% ru, 5% zh.

--alert-during: the digest is sent by one `r2p-mailer run` process on SQLite (the alert is
approved through its JSON admin API), then by two `r2p-mailer worker` processes on
PostgreSQL (approved from another process, as `r2p-mailer alert approve` does); five
alerts each time, approval to first alert message at the sink, median. 1% of the readers
take alerts, so each alert is short and all five land while the digest is still going out.

Goals (README, "Measured"): engine/ceiling >= 0.85, engine/naive >= 5, peak RSS < 250 MB at
100,000; approval to first alert message <= 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import queue
import random
import resource
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib

ROOT = Path(__file__).resolve().parent.parent
READER = "reader-address@example.org"  # where each naive message puts its recipient
LANGUAGES = {"en": 55, "fr": 15, "es": 10, "ar": 10, "ru": 5, "zh": 5}
LIGHT_MIX: list[list[str]] = [[], [], [], ["sudan"], ["genocide", "myanmar"]]
ALERT_TRIALS = 5
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Sink:
    """bench/sink.py in its own process; remembers when each marked message arrived."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "sink.py"), str(self.port)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "ready"
        self.marked: queue.Queue[tuple[str, float]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            _word, marker, at = line.split()
            self.marked.put((marker, float(at)))

    def arrival(self, marker: str, timeout: float = 60.0) -> float:
        deadline = time.monotonic() + timeout
        while True:
            found, at = self.marked.get(timeout=max(deadline - time.monotonic(), 0.01))
            if found == marker:
                return at

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


# --- the week and its readers -------------------------------------------------------------


def reader_rows(count: int, *, topics: bool, alert_share: float = 1.0) -> Iterator[dict[str, Any]]:
    from mailer.feeds.tagging import load_tagger

    rng = random.Random(20261202)
    tags = sorted({rule.tag for rule in load_tagger(None).rules})
    languages, weights = list(LANGUAGES), list(LANGUAGES.values())
    every = max(round(1 / alert_share), 1)
    for i in range(count):
        if topics:
            chosen = [] if rng.random() < 0.4 else rng.sample(tags, rng.randint(1, 4))
            language = rng.choices(languages, weights)[0]
        else:
            chosen, language = LIGHT_MIX[i % len(LIGHT_MIX)], "en"
        yield {
            "email": f"reader{i:06d}@example.org",
            "status": "active",
            "language": language,
            "topics": chosen,
            "wants_alerts": i % every == 0,
        }


def prepare(settings: Any, readers: Iterator[dict[str, Any]]) -> Any:
    """A migrated database with the fixture feeds ingested and the readers added."""
    from itertools import islice

    from sqlalchemy import insert

    from jobs.poll import poll_sources
    from mailer.db import make_engine, make_sessionmaker, session_scope
    from mailer.feeds.registry import SourceSpec, add_source
    from mailer.migrate import upgrade_to_head
    from mailer.models import Subscriber
    from tests.support.feedserver import FeedServer

    db = make_engine(settings.database, create=True)
    upgrade_to_head(db)
    factory = make_sessionmaker(db)
    feeds = FeedServer().start()
    with session_scope(factory) as session:
        for key, name, always in (
            ("un-news", "un-news/all.xml", False),
            ("un-press", "un-press/rss.xml", False),
            ("globalr2p", "globalr2p/feed.xml", True),
        ):
            url = feeds.serve_file(f"/{key}", name)
            spec = SourceSpec(key=key, url=url, always_relevant=always)
            add_source(spec, allow_private=True, session=session)
    asyncio.run(poll_sources(settings, factory))
    feeds.stop()
    with session_scope(factory) as session:
        while chunk := list(islice(readers, 5000)):
            session.execute(insert(Subscriber), chunk)
    return factory


def create_issue(settings: Any, factory: Any) -> tuple[int, float, str]:
    from mailer.db import session_scope
    from mailer.digest import create_digest, plan_digest

    started = time.perf_counter()
    with session_scope(factory) as session:
        plan = plan_digest(now=datetime.now(UTC), session=session)
        _campaign, queued, said = create_digest(plan, settings=settings, session=session)
    return queued, time.perf_counter() - started, said


def bench_settings(tmp: Path, database_url: str, args: argparse.Namespace, **more: Any) -> Any:
    from mailer.config import Settings

    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        var_dir=tmp,
        database_url=database_url,
        allow_private_feeds=True,
        secret_key="bench",
        base_url="https://r2p.example.org",
        mail_from="R2P News <news@example.org>",
        smtp_connections=args.connections,
        delivery_batch=args.batch,
        **more,
    )


# --- speed: engine vs ceiling vs naive ------------------------------------------------------


async def ceiling(port: int, messages: list[bytes], connections: int) -> float:
    clients = [aiosmtplib.SMTP(hostname="127.0.0.1", port=port) for _ in range(connections)]
    for client in clients:
        await client.connect()
    started = time.perf_counter()

    async def lane(client: aiosmtplib.SMTP, mine: list[bytes]) -> None:
        for i, message in enumerate(mine):
            await client.sendmail("news@example.org", [f"reader{i}@example.org"], message)

    await asyncio.gather(*(lane(c, messages[i::connections]) for i, c in enumerate(clients)))
    elapsed = time.perf_counter() - started
    for client in clients:
        await client.quit()
    return len(messages) / elapsed


def naive(port: int, contents: list[tuple[str, str, str]]) -> float:
    """One EmailMessage built per recipient from (subject, text, html), sent with smtplib."""
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for i, (subject, text, html) in enumerate(contents):
            message = EmailMessage()
            message["Subject"] = subject
            message["From"] = "R2P News <news@example.org>"
            message["To"] = f"reader{i}@example.org"
            message["List-Unsubscribe"] = f"<https://r2p.example.org/unsubscribe/{i}>"
            message.set_content(text.replace(READER, f"reader{i}@example.org"))
            message.add_alternative(html.replace(READER, f"reader{i}@example.org"), subtype="html")
            smtp.send_message(message)
    return len(contents) / (time.perf_counter() - started)


def samples(settings: Any, factory: Any) -> list[dict[str, Any]]:
    """One real message per content the engine sent, with how many readers got it, so the
    ceiling and the naive loop send the same mix of sizes."""
    from sqlalchemy import func, select

    from jobs.deliver import DeliveryWorker
    from mailer.content import render_contents
    from mailer.db import session_scope
    from mailer.email.render import preview_values
    from mailer.models import Campaign, Delivery
    from mailer.outbox.ledger import Claimed
    from mailer.sending.memory import MemorySender

    worker = DeliveryWorker(settings, factory, MemorySender())
    out = []
    with session_scope(factory) as session:
        campaign = session.scalars(select(Campaign).where(Campaign.kind == "digest")).one()
        rows = session.execute(
            select(Delivery.content_key, func.count(), func.min(Delivery.id))
            .where(Delivery.campaign_id == campaign.id)
            .group_by(Delivery.content_key)
        ).all()
        rendered = render_contents(
            campaign, [key for key, _n, _id in rows], settings=settings, session=session
        )
    for key, count, delivery_id in rows:
        claimed = Claimed(delivery_id, campaign.id, 1, READER, key, 1, datetime.now(UTC), 0)
        template = worker._load_templates([claimed])[(campaign.id, key)]
        _message_id, message = worker.message_for(claimed, template)
        email = rendered[key].with_slots(preview_values(settings, READER))
        out.append(
            {
                "count": count,
                "message": base64.b64encode(message).decode(),
                "subject": email.subject,
                "text": email.text,
                "html": email.html,
            }
        )
    return out


def engine(args: argparse.Namespace) -> None:
    """Child process: build a real digest for N readers, drain it, print JSON figures."""
    from sqlalchemy import func, select

    from jobs.deliver import DeliveryWorker
    from mailer.models import CampaignContent, Delivery, Subscriber
    from mailer.sending.smtp import SMTPPool, parse_smtp_url

    settings = bench_settings(Path(tempfile.mkdtemp(prefix="r2p-bench-")), args.database_url, args)
    factory = prepare(settings, reader_rows(args.subscribers, topics=args.topics))
    queued, enqueue_seconds, _said = create_issue(settings, factory)
    sender = SMTPPool(parse_smtp_url(f"smtp://127.0.0.1:{args.port}"), connections=args.connections)
    worker = DeliveryWorker(settings, factory, sender)
    started = time.perf_counter()
    progress = asyncio.run(worker.run(once=True))
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with factory() as session:
        choices = session.execute(
            select(Subscriber.language, Subscriber.topics).join(
                Delivery, Delivery.subscriber_id == Subscriber.id
            )
        )
        segments = len({(language, tuple(sorted(topics))) for language, topics in choices})
        contents = session.scalar(select(func.count()).select_from(CampaignContent))
    print(
        json.dumps(
            {
                "queued": queued,
                "sent": progress.sent,
                "seconds": seconds,
                "enqueue_seconds": enqueue_seconds,
                "rate": progress.sent / seconds,
                "peak_rss_mb": peak,
                "segments": segments,
                "contents": contents,
                "renders": worker.renders,
                "mix": samples(settings, factory),
            }
        )
    )


def speed(args: argparse.Namespace) -> None:
    sink = Sink()
    try:
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--engine-child",
                "--port",
                str(sink.port),
                *child_args(args),
            ],
            capture_output=True,
            text=True,
        )
        if child.returncode != 0:
            sys.exit(f"the engine run failed:\n{child.stderr[-3000:]}")
        result = json.loads(child.stdout.strip().splitlines()[-1])
        messages: list[bytes] = []
        contents: list[tuple[str, str, str]] = []
        for sample in result["mix"]:
            messages += [base64.b64decode(sample["message"])] * sample["count"]
            contents += [(sample["subject"], sample["text"], sample["html"])] * sample["count"]
        random.Random(1).shuffle(messages)
        random.Random(1).shuffle(contents)
        size = sum(len(m) for m in messages) / len(messages)
        top = asyncio.run(ceiling(sink.port, messages, args.connections))
        slow = naive(sink.port, contents[: args.naive_sample])
    finally:
        sink.stop()

    rate = result["rate"]
    mix = "readers' own topics and languages" if args.topics else "light topic mix"
    print(
        f"digest to {args.subscribers:,} readers ({mix}), {args.connections} connections, "
        f"~{size / 1024:.1f} KB per message"
    )
    print(
        f"  {result['segments']:,} segments (language + topics), {result['contents']:,} "
        f"distinct contents, {result['renders']:,} renders"
    )
    print(f"  ceiling (aiosmtplib, prebuilt bytes) {top:8.0f} msg/s")
    print(f"  naive (EmailMessage + smtplib)      {slow:8.0f} msg/s")
    print(
        f"  engine (ledger + worker)            {rate:8.0f} msg/s  "
        f"({result['sent']:,} sent in {result['seconds']:.1f} s; "
        f"issue created in {result['enqueue_seconds']:.1f} s)"
    )
    print(f"  engine/ceiling = {rate / top:.2f}  (goal >= 0.85)")
    print(f"  engine/naive   = {rate / slow:.1f}  (goal >= 5)")
    print(f"  engine peak RSS = {result['peak_rss_mb']:.0f} MB  (goal < 250 MB at 100,000)")


def child_args(args: argparse.Namespace) -> list[str]:
    return [
        "--subscribers",
        str(args.subscribers),
        "--connections",
        str(args.connections),
        "--batch",
        str(args.batch),
        "--database-url",
        args.database_url,
        *(["--topics"] if args.topics else []),
    ]


# --- an alert approved while the digest is being sent -------------------------------------------


def service_env(settings: Any, sink: Sink) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("R2P_")}
    env.update(
        R2P_DATABASE_URL=settings.database,
        R2P_VAR_DIR=str(settings.var_dir),
        R2P_SECRET_KEY="bench",
        R2P_SMTP_URL=f"smtp://127.0.0.1:{sink.port}",
        R2P_SMTP_CONNECTIONS=str(settings.smtp_connections),
        R2P_DELIVERY_BATCH=str(settings.delivery_batch),
        R2P_BASE_URL="https://r2p.example.org",
        R2P_MAIL_FROM="R2P News <news@example.org>",
        R2P_POLL_EVERY="24h",
    )
    return env


def digest_progress(factory: Any) -> tuple[int, int]:
    """(sent, still to send) of the digest."""
    from sqlalchemy import func, select

    from mailer.models import Campaign, Delivery

    with factory() as session:
        rows = dict(
            session.execute(
                select(Delivery.status, func.count())
                .join(Campaign, Campaign.id == Delivery.campaign_id)
                .where(Campaign.kind == "digest")
                .group_by(Delivery.status)
            ).all()
        )
    return rows.get("sent", 0), rows.get("queued", 0) + rows.get("sending", 0)


def wait_for_sending(factory: Any, at_least: int, process: subprocess.Popen[bytes]) -> None:
    while digest_progress(factory)[0] < at_least:
        if process.poll() is not None:
            sys.exit(f"the service stopped early:\n{process.stderr.read().decode()[-3000:]}")  # type: ignore[union-attr]
        time.sleep(0.2)


def trials(sink: Sink, factory: Any, approve_one: Any) -> list[tuple[float, int]]:
    """(latency, digest rows still to send at the approval) for each alert."""
    out = []
    for n in range(1, ALERT_TRIALS + 1):
        remaining = digest_progress(factory)[1]
        approved_at = approve_one(f"R2PBENCH-{n} Imminent risk of mass atrocities")
        out.append((sink.arrival(str(n)) - approved_at, remaining))
        time.sleep(1.0)
    return out


def run_on_sqlite(args: argparse.Namespace, sink: Sink, tmp: Path) -> list[tuple[float, int]]:
    """One `r2p-mailer run` process; alerts created and approved through its JSON API."""
    import httpx

    from mailer.admins import add_admin, create_token
    from mailer.db import session_scope

    settings = bench_settings(tmp, f"sqlite:///{tmp / 'bench.sqlite3'}", args)
    factory = prepare(settings, reader_rows(args.subscribers, topics=True, alert_share=0.01))
    with session_scope(factory) as session:
        token = create_token(
            add_admin("bench@example.org", "bench-password-long", session=session),
            name="bench",
            session=session,
        )
    create_issue(settings, factory)
    port = free_port()
    service = subprocess.Popen(
        [sys.executable, "-m", "service", "run", "--port", str(port)],
        env=service_env(settings, sink),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    api = httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )

    def approve_one(subject: str) -> float:
        draft = api.post("/api/alerts", json={"subject": subject, "body": "Act now."})
        draft.raise_for_status()
        approved_at = time.time()
        api.post(f"/api/alerts/{draft.json()['id']}/approve").raise_for_status()
        return approved_at

    try:
        wait_for_sending(factory, 2000, service)
        return trials(sink, factory, approve_one)
    finally:
        service.terminate()
        service.wait(timeout=60)


def run_on_postgresql(
    args: argparse.Namespace, sink: Sink, tmp: Path, url: str
) -> list[tuple[float, int]]:
    """Two `r2p-mailer worker` processes; alerts approved from this process."""
    from sqlalchemy import text

    from mailer.alerts import Draft, approve, create_alert
    from mailer.db import make_engine, session_scope
    from mailer.models import Admin

    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    name = f"r2p_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    database = admin.url.set(database=name).render_as_string(hide_password=False)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        settings = bench_settings(tmp, database, args)
        factory = prepare(settings, reader_rows(args.subscribers, topics=True, alert_share=0.01))
        create_issue(settings, factory)
        with session_scope(factory) as session:  # the approver must be an existing admin
            session.add(Admin(email="bench@example.org", password_hash="-"))
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "service", "worker"],
                env=service_env(settings, sink),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for _ in range(2)
        ]

        def approve_one(subject: str) -> float:
            with session_scope(factory) as session:
                now = datetime.now(UTC)
                alert = create_alert(
                    Draft(subject, "Act now."),
                    by="bench@example.org",
                    expires_in=timedelta(hours=1),
                    now=now,
                    session=session,
                )
            approved_at = time.time()
            with session_scope(factory) as session:
                session.add(alert)
                approve(alert, by="bench@example.org", settings=settings, now=now, session=session)
            return approved_at

        wait_for_sending(factory, 2000, workers[0])
        return trials(sink, factory, approve_one)
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=60)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def alert_during(args: argparse.Namespace) -> None:
    postgres = args.postgres_url or os.environ.get("R2P_TEST_POSTGRES_URL", "")
    print(
        f"approval -> first alert message at the sink, while a digest to "
        f"{args.subscribers:,} readers (own topics) is being sent; {ALERT_TRIALS} alerts "
        f"(goal: median <= 1 s)"
    )
    runs = [("one `run` process, SQLite, approved via the API", None)]
    if postgres:
        runs.append(("two `worker` processes, PostgreSQL", postgres))
    else:
        print("  (no --postgres-url or R2P_TEST_POSTGRES_URL: PostgreSQL run skipped)")
    for label, url in runs:
        sink = Sink()
        try:
            with tempfile.TemporaryDirectory(prefix="r2p-bench-") as tmp:
                if url is None:
                    results = run_on_sqlite(args, sink, Path(tmp))
                else:
                    results = run_on_postgresql(args, sink, Path(tmp), url)
        finally:
            sink.stop()
        latencies = [latency for latency, _ in results]
        print(
            f"  {label:48s} median {statistics.median(latencies) * 1000:5.0f} ms, "
            f"max {max(latencies) * 1000:5.0f} ms; digest rows still to send at each "
            f"approval: {', '.join(f'{left:,}' for _, left in results)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--batch", type=int, default=500, help="delivery batch size")
    parser.add_argument("--naive-sample", type=int, default=2000)
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument(
        "--topics", action="store_true", help="readers pick their own topics and languages"
    )
    parser.add_argument(
        "--alert-during",
        action="store_true",
        help="time alerts approved while the digest is sent (SQLite `run`, PostgreSQL workers)",
    )
    parser.add_argument(
        "--postgres-url",
        default="",
        help="server for the PostgreSQL part of --alert-during (default R2P_TEST_POSTGRES_URL)",
    )
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--engine-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine_child:
        engine(args)
    elif args.alert_during:
        alert_during(args)
    else:
        speed(args)


if __name__ == "__main__":
    main()
