"""Sending speed of the delivery engine against the transport ceiling and a naive loop,
side by side in one run, all to the same local SMTP sink (its own process).

    .venv/bin/python bench/send.py [--subscribers 20000] [--connections 4]

1. ceiling: aiosmtplib sending prebuilt bytes of the digest's size over the same number of
   reused connections;
2. naive: an EmailMessage built per recipient, sent with smtplib on one connection (a
   sample of the recipients: its rate does not depend on how many);
3. engine: a real weekly digest campaign for N subscribers through the ledger (SQLite by
   default, --database-url for PostgreSQL), in a child process whose peak RSS is reported.

Goals (DESIGN.md): engine/ceiling >= 0.85, engine/naive >= 5, peak RSS < 250 MB at 100,000.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import resource
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib

ROOT = Path(__file__).resolve().parent.parent
READER = "reader-address@example.org"  # where each naive message puts its recipient
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_sink() -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    sink = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "sink.py"), str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sink.stdout is not None and sink.stdout.readline().strip() == "ready"
    return sink, port


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


def engine(args: argparse.Namespace) -> None:
    """Child process: build a real digest for N readers, drain it, print JSON figures."""
    from sqlalchemy import insert

    from jobs.deliver import DeliveryWorker
    from jobs.poll import poll_sources
    from mailer.config import Settings
    from mailer.content import render_campaign
    from mailer.db import make_engine, make_sessionmaker, session_scope
    from mailer.digest import create_digest, plan_digest
    from mailer.email.render import preview_values
    from mailer.feeds.registry import SourceSpec, add_source
    from mailer.migrate import upgrade_to_head
    from mailer.models import Subscriber
    from mailer.sending.smtp import SMTPPool, parse_smtp_url
    from tests.support.feedserver import FeedServer

    tmp = Path(tempfile.mkdtemp(prefix="r2p-bench-"))
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        var_dir=tmp,
        database_url=args.database_url or "",
        allow_private_feeds=True,
        secret_key="bench",
        base_url="https://r2p.example.org",
        mail_from="R2P News <news@example.org>",
        smtp_connections=args.connections,
        delivery_batch=args.batch,
    )
    db = make_engine(settings.database)
    upgrade_to_head(db)
    factory = make_sessionmaker(db)
    feeds = FeedServer().start()
    with session_scope(factory) as session:
        for key, name in (("un-news", "un-news/all.xml"), ("un-press", "un-press/rss.xml")):
            add_source(
                SourceSpec(key=key, url=feeds.serve_file(f"/{key}", name)),
                allow_private=True,
                session=session,
            )
        add_source(
            SourceSpec(
                key="globalr2p",
                url=feeds.serve_file("/gc", "globalr2p/feed.xml"),
                always_relevant=True,
            ),
            allow_private=True,
            session=session,
        )
    asyncio.run(poll_sources(settings, factory))
    feeds.stop()
    topics = [[], [], [], ["sudan"], ["genocide", "myanmar"]]
    with session_scope(factory) as session:
        for start in range(0, args.subscribers, 5000):
            session.execute(
                insert(Subscriber),
                [
                    {
                        "email": f"reader{i:06d}@example.org",
                        "status": "active",
                        "topics": topics[i % len(topics)],
                    }
                    for i in range(start, min(start + 5000, args.subscribers))
                ],
            )
    started = time.perf_counter()
    with session_scope(factory) as session:
        plan = plan_digest(now=datetime.now(UTC), session=session)
        _campaign, queued, _ = create_digest(plan, settings=settings, session=session)
    enqueue_seconds = time.perf_counter() - started
    sender = SMTPPool(parse_smtp_url(f"smtp://127.0.0.1:{args.port}"), connections=args.connections)
    worker = DeliveryWorker(settings, factory, sender)
    # One real message per segment, and how many readers each segment has: the ceiling
    # and the naive loop send the same mix of sizes.
    samples: dict[str, bytes] = {}
    mix: dict[str, int] = {}
    original = worker.message_for

    def measured(claimed, template):  # type: ignore[no-untyped-def]
        message_id, message = original(claimed, template)
        samples.setdefault(claimed.segment, message)
        mix[claimed.segment] = mix.get(claimed.segment, 0) + 1
        return message_id, message

    worker.message_for = measured  # type: ignore[method-assign]
    started = time.perf_counter()
    progress = asyncio.run(worker.run(once=True))
    seconds = time.perf_counter() - started
    with session_scope(factory) as session:
        rendered = {
            segment: render_campaign(
                _campaign, segment, settings=settings, session=session
            ).with_slots(preview_values(settings, READER))
            for segment in samples
        }
    print(
        json.dumps(
            {
                "queued": queued,
                "sent": progress.sent,
                "seconds": seconds,
                "enqueue_seconds": enqueue_seconds,
                "rate": progress.sent / seconds,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "segments": [
                    {
                        "count": mix[segment],
                        "message": base64.b64encode(samples[segment]).decode(),
                        "subject": rendered[segment].subject,
                        "text": rendered[segment].text,
                        "html": rendered[segment].html,
                    }
                    for segment in samples
                ],
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--batch", type=int, default=500, help="delivery batch size")
    parser.add_argument("--naive-sample", type=int, default=2000)
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--engine-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine_child:
        engine(args)
        return

    sink, port = start_sink()
    try:
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--engine-child",
                "--port",
                str(port),
                "--subscribers",
                str(args.subscribers),
                "--connections",
                str(args.connections),
                "--batch",
                str(args.batch),
                "--database-url",
                args.database_url,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(child.stdout.strip().splitlines()[-1])
        segments = result["segments"]
        messages: list[bytes] = []
        contents: list[tuple[str, str, str]] = []
        for segment in segments:
            messages += [base64.b64decode(segment["message"])] * segment["count"]
            contents += [(segment["subject"], segment["text"], segment["html"])] * segment["count"]
        random.Random(1).shuffle(messages)
        random.Random(1).shuffle(contents)
        size = sum(len(m) for m in messages) / len(messages)
        top = asyncio.run(ceiling(port, messages, args.connections))
        slow = naive(port, contents[: args.naive_sample])
    finally:
        sink.terminate()
        sink.wait()

    rate = result["rate"]
    print(
        f"digest to {args.subscribers:,} subscribers, {args.connections} connections, "
        f"~{size / 1024:.1f} KB per message"
    )
    print(f"  ceiling (aiosmtplib, prebuilt bytes) {top:8.0f} msg/s")
    print(f"  naive (EmailMessage + smtplib)      {slow:8.0f} msg/s")
    print(
        f"  engine (ledger + worker)            {rate:8.0f} msg/s  "
        f"({result['sent']:,} sent in {result['seconds']:.1f} s; "
        f"enqueue {result['enqueue_seconds']:.1f} s)"
    )
    print(f"  engine/ceiling = {rate / top:.2f}  (goal >= 0.85)")
    print(f"  engine/naive   = {rate / slow:.1f}  (goal >= 5)")
    print(f"  engine peak RSS = {result['peak_rss_mb']:.0f} MB  (goal < 250 MB at 100,000)")


if __name__ == "__main__":
    main()
