"""Relay outage: how many send attempts a delivery worker makes while its SMTP relay is
down, and how long after the relay returns the queue is drained; this tree against an
earlier commit (default: the one before the circuit breaker), side by side.

    .venv/bin/python bench/relay_outage.py [--messages 4000] [--outage 20] [--before REV]

Each run: a fresh SQLite database with MESSAGES queued alert deliveries, a relay on
loopback (an SMTP sink in this process), and ``r2p-mailer worker`` as a real process
(R2P_SMTP_RATE paces it so the outage falls mid-send). Once a quarter of the mail is in,
the relay goes down for OUTAGE seconds: it accepts each connection and drops it at once,
which the worker sees as a failed connection and this script counts (a closed port would
refuse without a trace to count). The earlier commit runs from a ``git worktree`` in /tmp.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailer.db import make_engine, make_sessionmaker  # noqa: E402
from mailer.models import Delivery, Subscriber  # noqa: E402
from mailer.outbox.campaigns import get_or_create_campaign, start  # noqa: E402
from mailer.outbox.ledger import enqueue  # noqa: E402


class Relay:
    """An SMTP sink on loopback that can be taken down (drops every connection at once)
    and brought back on the same port; counts messages and dropped connections."""

    def __init__(self) -> None:
        self.up = True
        self.received = 0
        self.dropped = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()
        self._ready.wait()

    def down(self) -> None:
        self.up = False

    def back(self) -> None:
        self.up = True

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._session, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    def is_up(self) -> bool:
        return self.up

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.is_up():
            self.dropped += 1
            writer.transport.abort()
            return
        writer.write(b"220 relay ESMTP\r\n")
        try:
            while line := await reader.readline():
                if not self.is_up():
                    writer.transport.abort()
                    return
                verb = line[:4].upper()
                if verb in {b"EHLO", b"HELO"}:
                    writer.write(b"250-relay\r\n250-8BITMIME\r\n250 SIZE 50000000\r\n")
                elif verb == b"DATA":
                    writer.write(b"354 go ahead\r\n")
                    await writer.drain()
                    buffer = b""
                    while not buffer.endswith(b"\r\n.\r\n"):
                        chunk = await reader.read(65536)
                        if not chunk:
                            return
                        buffer = buffer[-8:] + chunk
                    self.received += 1
                    writer.write(b"250 accepted\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 bye\r\n")
                    await writer.drain()
                    return
                else:
                    writer.write(b"250 OK\r\n")
                await writer.drain()
        except ConnectionError:
            return
        finally:
            writer.close()


def before_commit() -> str:
    added = subprocess.run(
        ["git", "log", "--diff-filter=A", "--format=%H", "--", "mailer/sending/breaker.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if not added:
        raise SystemExit("cannot find the commit that added the breaker; pass --before REV")
    return f"{added[-1]}^"


def worktree(rev: str) -> Path:
    full = subprocess.run(
        ["git", "rev-parse", rev], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    path = Path(tempfile.gettempdir()) / f"r2p-before-{full[:10]}"
    if not path.exists():
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(path), full],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
    return path


def queue(url: str, messages: int) -> None:
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    now = datetime.now(UTC)
    with factory() as session:
        session.execute(
            insert(Subscriber),
            [{"email": f"reader{i:06d}@example.org", "status": "active"} for i in range(messages)],
        )
        ids = list(session.scalars(select(Subscriber.id)))
        campaign, _ = get_or_create_campaign(
            kind="alert",
            key="alert:outage-bench",
            template="alert",
            subject="Outage bench",
            context={"body": "Civilians are at imminent risk.", "link": "https://example.org/a"},
            priority=100,
            session=session,
        )
        start(campaign, by="bench", now=now, session=session)
        enqueue(
            campaign,
            [(i, "en") for i in ids],
            deadline_at=now + timedelta(days=1),
            now=now,
            session=session,
        )
        session.commit()
    engine.dispose()


def waiting(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        count = conn.scalar(select(func.count()).where(Delivery.status.in_(("queued", "sending"))))
    engine.dispose()
    return int(count or 0)


def wait(condition: object, limit: float) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def trial(tree: Path, args: argparse.Namespace) -> dict[str, float]:
    relay = Relay()
    tmp = Path(tempfile.mkdtemp(prefix="r2p-outage-"))
    url = f"sqlite:///{tmp / 'mailer.sqlite3'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("R2P_")}
    env.update(
        PYTHONPATH=str(tree),
        R2P_DATABASE_URL=url,
        R2P_VAR_DIR=str(tmp / "var"),
        R2P_SECRET_KEY="bench-secret-key",
        R2P_SMTP_URL=f"smtp://127.0.0.1:{relay.port}",
        R2P_SMTP_RATE=str(args.rate),
        R2P_SMTP_CONNECTIONS="4",
    )
    subprocess.run(
        [sys.executable, "-m", "service", "init"],
        cwd=tree,
        env=env,
        check=True,
        capture_output=True,
    )
    queue(url, args.messages)
    with (tmp / "worker.log").open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "service", "worker"], cwd=tree, env=env, stdout=log, stderr=log
        )
        try:
            if not wait(lambda: relay.received >= args.messages // 4, 120):
                raise SystemExit(
                    f"the worker in {tree} did not start sending; see {tmp}/worker.log"
                )
            relay.down()
            time.sleep(args.outage)  # the outage itself, not a measurement
            attempts = relay.dropped
            relay.back()
            back = time.monotonic()
            left = args.messages - relay.received
            drained = wait(lambda: waiting(url) == 0, args.limit)
            after = time.monotonic() - back if drained else float("nan")
        finally:
            worker.terminate()
            worker.wait(timeout=60)
    return {
        "attempts": attempts,
        "drained_after": after,
        "sending": left / args.rate,
        "received": relay.received,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--outage", type=float, default=20.0, help="seconds the relay is down")
    parser.add_argument("--rate", type=float, default=200.0, help="R2P_SMTP_RATE of the worker")
    parser.add_argument("--limit", type=float, default=600.0, help="longest wait to drain (s)")
    parser.add_argument("--before", default="", help="earlier commit (default: before breaker)")
    args = parser.parse_args()
    before_tree = worktree(args.before or before_commit())
    results = {}
    for label, tree in (("before", before_tree), ("after", ROOT)):
        print(f"{label}: {tree} ...", flush=True)
        results[label] = trial(tree, args)
    print(
        f"\n{args.messages} messages, relay down {args.outage:g} s mid-send "
        f"(R2P_SMTP_RATE={args.rate:g})\n"
    )
    print(f"{'':34}{'before':>12}{'after':>12}{'ratio':>10}")
    for key, title in (
        ("attempts", "attempts during the outage"),
        ("drained_after", "queue drained after return (s)"),
        ("sending", "  of which sending what was left (s)"),
    ):
        b, a = results["before"][key], results["after"][key]
        ratio = f"{b / a:.1f}x" if a else "-"
        print(f"{title:34}{b:>12.1f}{a:>12.1f}{ratio:>10}")
    print(
        f"{'messages received (incl. repeats)':34}{results['before']['received']:>12}"
        f"{results['after']['received']:>12}"
    )


if __name__ == "__main__":
    main()
