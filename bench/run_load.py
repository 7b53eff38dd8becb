"""Does `r2p-mailer run` keep sending while the web app is busy, and does /healthz stay
quick? (Issue 13: with 300 signups from 20 clients during a 20,000-reader digest, sending
keeps at least 0.7 of its unloaded rate and /healthz p99 stays under 500 ms.)

One `r2p-mailer run` process (a real subprocess, SQLite) sends a weekly digest to
--recipients readers who all take every topic (so every one of them gets it; the number of
recipients the digest really has is printed, and the run stops if it is smaller) to the
SMTP sink (bench/sink.py, its own process). After a warm-up, for each of --rounds rounds:

  quiet N    only /healthz is asked (ten times a second), for --quiet seconds;
  signups N  --signups signups (form fetched, then posted, each queueing a confirmation
             mail) from --clients concurrent clients, /healthz asked throughout;

then "after", --after seconds of quiet again (shown, not used for the verdict). The
sending rate of each phase comes afterwards from the ledger (rows whose sent_at falls in
the phase). Each signups phase is compared with the quiet phase just before it: that
ratio is the figure for the 0.7 goal (all messages; the digest alone is shown too).

Honest figures need a queue that never runs low: at the end of every phase used for the
verdict at least max(2 batches, 5% of the recipients) digest rows must still be waiting,
or the phase is marked INVALID (raise --recipients or shorten --quiet). The machine may be
shared: for each phase the bench prints the CPU (in cores) its own processes used (the
worker's apart) and what every other process on the machine used; when other processes
were busy, or busier in one phase than in the other, the ratio is marked NOISY.

Exit status: 0 when the run is valid and both goals are met, 1 when a goal is missed,
2 when the run is INVALID (the queue ran low, or the service stopped).

    .venv/bin/python bench/run_load.py [--recipients 20000] [--signups 300] [--clients 20]
        [--quiet 4] [--rounds 1] [--after 2] [--connections 4] [--batch 500] [--log FILE]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from send import (  # noqa: E402  (bench/send.py: the same issue, sink and settings)
    LANGUAGES,
    Sink,
    bench_settings,
    create_issue,
    digest_progress,
    free_port,
    prepare,
    service_env,
)

PROBE_EVERY = 0.1  # seconds between /healthz probes
RATIO_GOAL = 0.7  # sending during signups / sending in the quiet phase before
HEALTH_P99_GOAL = 0.5  # seconds
# Other processes' CPU (in cores) above which, or a change between the two phases of a
# comparison larger than which, the ratio is marked NOISY.
NOISE_BUSY = 0.25
NOISE_CHANGE = 0.2


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


def recipient_rows(count: int) -> Iterator[dict[str, Any]]:
    """Active readers who take every topic (no topics chosen), in the languages of
    bench/send.py: each of them gets the digest, whatever its items are about."""
    rng = random.Random(20261207)
    languages, weights = list(LANGUAGES), list(LANGUAGES.values())
    for i in range(count):
        yield {
            "email": f"reader{i:06d}@example.org",
            "status": "active",
            "language": rng.choices(languages, weights)[0],
            "topics": [],
            "wants_alerts": False,
        }


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


def signups(base: str, total: int, clients: int, prefix: str) -> int:
    """``total`` signups from ``clients`` concurrent clients; how many were accepted."""
    accepted = [0] * clients

    def client_run(n: int) -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            for i in range(n, total, clients):
                accepted[n] += sign_up(client, f"{prefix}-{i:05d}@example.net")

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


# --- CPU: the bench's own processes and everything else on the machine -------------------

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def _machine_cpu() -> float:
    """CPU seconds every CPU of the machine has been busy (not idle, not waiting for I/O)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(values) - values[3] - values[4]) / TICK


def _descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (read from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


@dataclass
class CpuUse:
    """CPU seconds over one phase: the worker, all of the bench's processes (the bench,
    the sink, the service and its children), and the machine."""

    worker: float = 0.0
    web: float = 0.0  # the `run` process itself: the web app and the scheduler
    sink: float = 0.0
    load: float = 0.0  # this process: the signup clients and the /healthz probes
    ours: float = 0.0
    machine: float = 0.0

    def others(self) -> float:
        return max(self.machine - self.ours, 0.0)


class CpuMeter:
    def __init__(self, *, service: int, sink: int) -> None:
        self.available = Path("/proc/stat").exists()
        self.service, self.sink = service, sink
        self.worker = next((p for p in _descendants(service) if _is_worker(p)), None)

    def sample(self) -> CpuUse:
        if not self.available:
            return CpuUse()
        pids = [os.getpid(), self.sink, *_descendants(self.service)]
        return CpuUse(
            worker=_process_cpu(self.worker) if self.worker else 0.0,
            web=_process_cpu(self.service),
            sink=_process_cpu(self.sink),
            load=_process_cpu(os.getpid()),
            ours=sum(_process_cpu(p) for p in pids),
            machine=_machine_cpu(),
        )


def _is_worker(pid: int) -> bool:
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


# --- phases ---------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    start: datetime
    end: datetime
    prober: Prober
    cpu: CpuUse
    left: int  # digest rows still queued or being sent at the end of the phase
    used: bool = True  # part of the verdict (not "after")
    sent: tuple[int, int] = (0, 0)
    notes: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def rate(self) -> float:
        return self.sent[0] / self.seconds

    def digest_rate(self) -> float:
        return self.sent[1] / self.seconds


def run_phase(
    name: str, base: str, meter: CpuMeter, factory: Any, action: Any, *, used: bool = True
) -> Phase:
    before = meter.sample()
    with Prober(base) as prober:
        start = datetime.now(UTC)
        action()
        end = datetime.now(UTC)
    after = meter.sample()
    cpu = CpuUse(
        worker=after.worker - before.worker,
        web=after.web - before.web,
        sink=after.sink - before.sink,
        load=after.load - before.load,
        ours=after.ours - before.ours,
        machine=after.machine - before.machine,
    )
    return Phase(name, start, end, prober, cpu, digest_progress(factory)[1], used)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n    .venv")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--recipients",
        type=int,
        default=20_000,
        help="readers the digest goes to, all taking every topic (default 20000)",
    )
    parser.add_argument("--signups", type=int, default=300, help="signups per round (300)")
    parser.add_argument("--clients", type=int, default=20, help="concurrent signup clients (20)")
    parser.add_argument(
        "--quiet", type=float, default=4.0, help="seconds of each quiet phase (default 4)"
    )
    parser.add_argument("--rounds", type=int, default=1, help="quiet + signups rounds (default 1)")
    parser.add_argument(
        "--after",
        type=float,
        default=2.0,
        help="seconds of quiet after the last signups, shown only (default 2; 0: none)",
    )
    parser.add_argument("--connections", type=int, default=4, help="SMTP connections (4)")
    parser.add_argument("--batch", type=int, default=500, help="delivery batch size (500)")
    parser.add_argument("--log", help="keep the service's log in this file")
    args = parser.parse_args()
    if args.rounds < 1 or args.signups < 1 or args.clients < 1 or args.quiet <= 0:
        parser.error("--rounds, --signups, --clients and --quiet must be positive")

    low_water = max(2 * args.batch, args.recipients // 20)
    sink = Sink()
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        settings = bench_settings(tmp, f"sqlite:///{tmp / 'bench.sqlite3'}", args)
        print(f"preparing {args.recipients:,} readers and the digest ...", flush=True)
        factory = prepare(settings, recipient_rows(args.recipients))
        queued, _, said = create_issue(settings, factory)
        print(f"digest queued: {queued:,} recipients ({said})", flush=True)
        if queued < args.recipients:
            sink.stop()
            sys.exit(f"INVALID: the digest has {queued:,} recipients, not {args.recipients:,}")
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
        phases: list[Phase] = []
        accepted: list[int] = []
        failed = ""
        try:
            # Warm up: the service answers and the digest is going out.
            while digest_progress(factory)[0] < max(1000, 2 * args.batch):
                if service.poll() is not None:
                    raise RuntimeError("the service stopped during the warm-up")
                time.sleep(0.2)
            meter = CpuMeter(service=service.pid, sink=sink.process.pid)
            for n in range(1, args.rounds + 1):
                phases.append(
                    run_phase(f"quiet {n}", base, meter, factory, lambda: time.sleep(args.quiet))
                )

                def load(n: int = n) -> None:
                    accepted.append(signups(base, args.signups, args.clients, f"new-{n}"))

                phases.append(run_phase(f"signups {n}", base, meter, factory, load))
            if args.after > 0:
                phases.append(
                    run_phase(
                        "after", base, meter, factory, lambda: time.sleep(args.after), used=False
                    )
                )
            if service.poll() is not None:
                failed = "the service stopped during the run"
        except RuntimeError as exc:
            failed = str(exc)
        finally:
            service.terminate()
            service.wait(timeout=60)
            log.close()
            sink.stop()
            if args.log:
                Path(args.log).write_text((tmp / "run.log").read_text())
        if failed:
            print((tmp / "run.log").read_text()[-3000:])
            print(f"INVALID: {failed}")
            sys.exit(2)
        for phase in phases:
            phase.sent = sent_between(factory, phase.start, phase.end)
    sys.exit(report(args, phases, accepted, queued, low_water))


def report(
    args: argparse.Namespace, phases: list[Phase], accepted: list[int], queued: int, low: int
) -> int:
    """Print the table and the verdict; the exit status."""
    cpus = os.cpu_count() or 0
    print(
        f"\n`r2p-mailer run` on SQLite: a digest to {queued:,} recipients, "
        f"{args.connections} SMTP connections, batch {args.batch}; "
        f"{' + '.join(str(a) for a in accepted)} of {args.signups} signups per round "
        f"from {args.clients} clients; {cpus} CPUs."
    )
    print(
        "CPU in cores over each phase: 'worker' the delivery worker process, 'web' the run "
        "process (web app,\nscheduler), 'sink' the SMTP sink, 'load' the signup clients and "
        "probes (this process), 'bench' all of\nthese together, 'others' the rest of the "
        "machine.\n"
    )
    print(
        f"{'phase':<11} {'secs':>5} {'msg/s':>7} {'digest/s':>8} {'queue left':>10} "
        f"{'worker':>6} {'web':>5} {'sink':>5} {'load':>5} {'bench':>5} {'others':>6} "
        f"{'p50 ms':>7} {'p99 ms':>7}"
    )
    invalid = False
    for p in phases:
        if p.left < low:
            p.notes.append(f"queue ran low (< {low:,})" + ("; INVALID" if p.used else ""))
            invalid = invalid or p.used
        if p.prober.failures:
            p.notes.append(f"{p.prober.failures} probes not 200")
        secs = p.seconds
        print(
            f"{p.name:<11} {secs:>5.1f} {p.rate():>7.0f} {p.digest_rate():>8.0f} "
            f"{p.left:>10,} {p.cpu.worker / secs:>6.2f} {p.cpu.web / secs:>5.2f} "
            f"{p.cpu.sink / secs:>5.2f} {p.cpu.load / secs:>5.2f} {p.cpu.ours / secs:>5.2f} "
            f"{p.cpu.others() / secs:>6.2f} "
            f"{percentile(p.prober.latencies, 0.5) * 1000:>7.0f} "
            f"{percentile(p.prober.latencies, 0.99) * 1000:>7.0f}"
            + (f"  {'; '.join(p.notes)}" if p.notes else "")
        )
    print()
    ratios: list[float] = []
    noisy = False
    for quiet, loaded in zip(phases[0::2], phases[1::2], strict=False):
        if not loaded.name.startswith("signups"):
            break
        ratio = loaded.rate() / quiet.rate() if quiet.rate() else float("nan")
        digest = loaded.digest_rate() / quiet.digest_rate() if quiet.digest_rate() else 0.0
        ratios.append(ratio)
        others = (quiet.cpu.others() / quiet.seconds, loaded.cpu.others() / loaded.seconds)
        noise = max(others) > NOISE_BUSY or abs(others[0] - others[1]) > NOISE_CHANGE
        noisy = noisy or noise
        print(
            f"sending during {loaded.name} vs {quiet.name} just before: "
            f"{loaded.rate():.0f} / {quiet.rate():.0f} msg/s = {ratio:.2f} "
            f"(digest alone {digest:.2f}); goal >= {RATIO_GOAL}"
            + (
                f"  NOISY: other processes used {others[0]:.2f} and {others[1]:.2f} cores"
                if noise
                else ""
            )
        )
    used = [p for p in phases if p.used]
    quiet_p99 = max(percentile(p.prober.latencies, 0.99) for p in used if p.name[0] == "q")
    loaded_p99 = max(percentile(p.prober.latencies, 0.99) for p in used if p.name[0] == "s")
    print(
        f"/healthz p99: {quiet_p99 * 1000:.0f} ms quiet, {loaded_p99 * 1000:.0f} ms during "
        f"signups (worst phase); goal < {HEALTH_P99_GOAL * 1000:.0f} ms"
    )
    worst = min(ratios)
    met = worst >= RATIO_GOAL and max(quiet_p99, loaded_p99) < HEALTH_P99_GOAL
    if invalid:
        print(f"\nINVALID: a measured phase ended with fewer than {low:,} digest rows queued")
        return 2
    verdict = "goals met" if met else "goals NOT met"
    print(
        f"\nRESULT: {verdict} (lowest ratio {worst:.2f}, /healthz p99 "
        f"{max(quiet_p99, loaded_p99) * 1000:.0f} ms)"
        + ("; NOISY: other processes were busy, see 'others'" if noisy else "")
    )
    return 0 if met else 1


if __name__ == "__main__":
    main()
