"""Does `r2p-mailer run` keep sending while the web app is busy, and does /healthz stay
quick? One `r2p-mailer run` process (real subprocess, SQLite) sends a weekly digest to N
readers (queued before it starts) to the SMTP sink (bench/sink.py, its own process):

1. quiet: only /healthz is asked, ten times a second, for --quiet seconds;
2. signups: --signups signups (form fetched, then posted, each queueing a confirmation
   mail) from --clients concurrent clients, /healthz asked ten times a second throughout;
3. quiet again, for --quiet seconds (so the baseline is taken on both sides of the load).

The sending rate of each phase comes afterwards from the ledger (rows whose ``sent_at``
falls within the phase): nothing is counted while the service runs. Printed: msg/s in each
phase (all messages, and the digest alone), the ratio loaded/unloaded, and /healthz
p50/p99 in each phase. Goals (issue 13): ratio >= 0.7, /healthz p99 < 500 ms.

    .venv/bin/python bench/run_load.py [--readers 20000] [--signups 300] [--clients 20]
                                       [--quiet 8] [--connections 4] [--batch 500]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from send import (  # noqa: E402  (bench/send.py: the same readers, issue and sink)
    Sink,
    bench_settings,
    create_issue,
    digest_progress,
    free_port,
    prepare,
    reader_rows,
    service_env,
)

PROBE_EVERY = 0.1  # seconds between /healthz probes


class Prober:
    """Asks /healthz every PROBE_EVERY seconds on its own connection; keeps latencies."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.latencies: list[float] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as client:
            while not self._stop.is_set():
                started = time.perf_counter()
                try:
                    ok = client.get("/healthz").status_code == 200
                except httpx.HTTPError:
                    ok = False
                elapsed = time.perf_counter() - started
                self.latencies.append(elapsed)
                self.failures += not ok
                self._stop.wait(max(PROBE_EVERY - elapsed, 0))

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(int(share * len(ordered)), len(ordered) - 1)]


def sign_up(client: httpx.Client, email: str) -> bool:
    form = client.get("/subscribe")
    marker = 'name="csrf_token" value="'
    start = form.text.index(marker) + len(marker)
    token = form.text[start : form.text.index('"', start)]
    answer = client.post(
        "/subscribe",
        data={
            "email": email,
            "language": "en",
            "digest": "on",
            "topics_mode": "all",
            "consent": "on",
            "csrf_token": token,
        },
    )
    return answer.status_code in {200, 303}


def signups(base: str, total: int, clients: int) -> int:
    """``total`` signups from ``clients`` concurrent clients; how many were accepted."""
    accepted = [0] * clients

    def client_run(n: int) -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            for i in range(n, total, clients):
                accepted[n] += sign_up(client, f"new-reader-{i:05d}@example.net")

    threads = [threading.Thread(target=client_run, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(accepted)


def sent_between(factory: Any, start: datetime, end: datetime) -> tuple[int, int]:
    """(all messages, digest messages) sent within [start, end)."""
    from sqlalchemy import func, select

    from mailer.models import Campaign, Delivery

    with factory() as session:
        rows = dict(
            session.execute(
                select(Campaign.kind, func.count())
                .select_from(Delivery)
                .join(Campaign, Campaign.id == Delivery.campaign_id)
                .where(Delivery.sent_at >= start, Delivery.sent_at < end)
                .group_by(Campaign.kind)
            ).all()
        )
    return sum(rows.values()), rows.get("digest", 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", type=int, default=20_000)
    parser.add_argument("--signups", type=int, default=300)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--quiet", type=float, default=8.0, help="seconds of each quiet phase")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--log", help="keep the service's log in this file")
    args = parser.parse_args()

    sink = Sink()
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        settings = bench_settings(tmp, f"sqlite:///{tmp / 'bench.sqlite3'}", args)
        print(f"preparing {args.readers} readers and the digest ...", flush=True)
        factory = prepare(settings, reader_rows(args.readers, topics=True))
        queued, _, said = create_issue(settings, factory)
        print(f"digest queued: {queued} messages ({said})", flush=True)
        (tmp / "sources.toml").write_text("source = []\n")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = service_env(settings, sink)
        env.update(
            R2P_BASE_URL=base,
            R2P_SOURCES_FILE=str(tmp / "sources.toml"),
            R2P_SIGNUP_RATE_LIMIT="1000000",
            R2P_DOMAIN_MAIL_LIMIT="1000000",
        )
        log = (tmp / "run.log").open("w")
        service = subprocess.Popen(
            [sys.executable, "-m", "service", "run", "--port", str(port)],
            env=env,
            cwd=tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        phases: list[tuple[str, datetime, datetime, Prober]] = []
        try:
            # Warm up: the service answers and the digest is going out.
            while digest_progress(factory)[0] < min(1000, queued // 10):
                if service.poll() is not None:
                    sys.exit((tmp / "run.log").read_text()[-3000:])
                time.sleep(0.2)
            accepted = 0
            for name in ("quiet", "signups", "quiet again"):
                with Prober(base) as prober:
                    start = datetime.now(UTC)
                    if name == "signups":
                        accepted = signups(base, args.signups, args.clients)
                    else:
                        time.sleep(args.quiet)
                    end = datetime.now(UTC)
                phases.append((name, start, end, prober))
            left = digest_progress(factory)[1]
        finally:
            service.terminate()
            code = service.wait(timeout=60)
            log.close()
            sink.stop()
            if args.log:
                Path(args.log).write_text((tmp / "run.log").read_text())
        if left == 0:
            print("warning: the digest was all sent before the last phase ended; use more readers")
        print(f"\n`r2p-mailer run` on SQLite, {args.readers} readers, {args.connections} SMTP")
        print(f"connections; {accepted}/{args.signups} signups from {args.clients} clients.")
        print(f"service exit code {code}\n")
        print(f"{'phase':<12} {'secs':>6} {'msg/s':>8} {'digest/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
        rates: dict[str, tuple[float, float]] = {}
        for name, start, end, prober in phases:
            seconds = (end - start).total_seconds()
            total, digest = sent_between(factory, start, end)
            rates[name] = (total / seconds, digest / seconds)
            print(
                f"{name:<12} {seconds:>6.1f} {total / seconds:>8.0f} {digest / seconds:>9.0f} "
                f"{percentile(prober.latencies, 0.5) * 1000:>8.1f} "
                f"{percentile(prober.latencies, 0.99) * 1000:>8.1f}"
                + (f"  ({prober.failures} probes not 200)" if prober.failures else "")
            )
        unloaded = statistics.mean([rates["quiet"][0], rates["quiet again"][0]])
        unloaded_digest = statistics.mean([rates["quiet"][1], rates["quiet again"][1]])
        loaded, loaded_digest = rates["signups"]
        print(
            f"\nsending during signups / without: {loaded / unloaded:.2f} (all messages), "
            f"{loaded_digest / unloaded_digest:.2f} (digest only); goal >= 0.7"
        )
        worst = max(percentile(p.latencies, 0.99) for *_, p in phases) * 1000
        print(f"/healthz p99, worst phase: {worst:.0f} ms; goal < 500 ms")


if __name__ == "__main__":
    main()
