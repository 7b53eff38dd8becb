"""`r2p-mailer run` (issue 13) sends from a delivery worker process of its own, so sending
and request handling do not compete for one interpreter: the child is started and stopped
with `run` (SIGTERM to `run` stops it after its batch), woken when mail is queued, and
restarted, with a logged line, when it dies."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from mailer.models import Delivery
from tests.conftest import Db
from tests.service.cli.test_running import free_port
from tests.support.factories import add_readers, alert_campaign
from tests.support.running import start_run
from tests.support.smtpserver import SMTPServer
from tests.support.waiting import wait_until

STARTED = re.compile(r"delivery worker process (\d+) started")


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    log: Path
    base: str

    def text(self) -> str:
        return self.log.read_text()

    def workers(self) -> list[int]:
        """Pids of the worker processes started so far, in order."""
        return [int(pid) for pid in STARTED.findall(self.text())]

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def gone(pid: int) -> bool:
    """No such process, or only its exit status is left (a zombie)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


@contextmanager
def running(db: Db, tmp_path: Path, smtp_url: str, **settings: str) -> Iterator[Service]:
    """`r2p-mailer run` on ``db`` mailing ``smtp_url``, with these R2P_* settings, until its
    worker process has started; killed at the end if still running."""
    sources = tmp_path / "sources.toml"
    sources.write_text("source = []\n")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("R2P_")},
        "R2P_VAR_DIR": str(tmp_path / "var"),
        "R2P_DATABASE_URL": db.url,
        "R2P_SOURCES_FILE": str(sources),
        "R2P_SMTP_URL": smtp_url,
        "R2P_BASE_URL": base,
        "R2P_SECRET_KEY": "run-test-secret",
        "R2P_POLL_EVERY": "1h",
        **{f"R2P_{name.upper()}": value for name, value in settings.items()},
    }
    process, log = start_run(tmp_path, env, port)
    service = Service(process, log, base)
    try:
        wait_until(lambda: "Application startup complete" in service.text() or process.poll())
        assert process.poll() is None, service.text()
        wait_until(lambda: service.workers() or process.poll())
        yield service
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.fixture
def service(db: Db, smtp_server: SMTPServer, tmp_path: Path) -> Iterator[Service]:
    with running(db, tmp_path, smtp_server.url) as service:
        yield service


def sign_up(base: str, email: str) -> None:
    with httpx.Client(base_url=base) as browser:
        form = browser.get("/subscribe")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None, form.text
        answer = browser.post(
            "/subscribe",
            data={
                "email": email,
                "language": "en",
                "digest": "on",
                "topics_mode": "all",
                "consent": "on",
                "csrf_token": token.group(1),
            },
        )
        assert answer.status_code in {200, 303}, answer.text


def alert_to(db: Db, smtp_server: SMTPServer, count: int, key: str) -> list[str]:
    emails = [f"{key}-{n}@example.org" for n in range(count)]
    alert_campaign(db, add_readers(db, emails), key=f"alert:{key}")
    return emails


def test_run_sends_from_a_worker_process_of_its_own(
    service: Service, db: Db, smtp_server: SMTPServer
) -> None:
    [worker] = service.workers()
    assert worker != service.process.pid
    assert parent_of(worker) == service.process.pid
    # The signup wakes the worker (SIGUSR1): the child takes it and sends.
    sign_up(service.base, "diplomat@example.org")
    wait_until(lambda: smtp_server.handler.to("diplomat@example.org"))
    emails = alert_to(db, smtp_server, 3, "first")
    wait_until(lambda: all(smtp_server.handler.to(e) for e in emails))
    assert service.workers() == [worker] and not gone(worker)
    assert "died" not in service.text()


def test_a_killed_worker_process_is_restarted_and_sending_goes_on(
    service: Service, db: Db, smtp_server: SMTPServer
) -> None:
    [first] = service.workers()
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: len(service.workers()) == 2)
    assert re.search(
        rf"delivery worker process {first} died \(signal 9\) after \d+ s; restarting it",
        service.text(),
    ), service.text()
    second = service.workers()[1]
    assert second != first and parent_of(second) == service.process.pid
    emails = alert_to(db, smtp_server, 3, "after")
    wait_until(lambda: all(smtp_server.handler.to(e) for e in emails))


def test_sigterm_to_run_stops_the_worker_process_after_its_batch(
    service: Service, db: Db, smtp_server: SMTPServer
) -> None:
    [worker] = service.workers()
    emails = alert_to(db, smtp_server, 200, "busy")
    wait_until(lambda: smtp_server.handler.to(emails[0]))
    assert service.stop() in {0, -signal.SIGTERM}, service.text()
    text = service.text()
    assert f"delivery worker process {worker} stopped:" in text, text
    assert "killing it" not in text and "died" not in text
    wait_until(lambda: gone(worker), limit=10)
    with db.session() as session:
        in_flight = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.status == "sending")
        )
    assert in_flight == 0


def test_the_worker_process_stops_when_run_is_killed(service: Service) -> None:
    """No orphan keeps sending after `run` died without stopping it."""
    [worker] = service.workers()
    service.process.kill()
    service.process.wait()
    wait_until(lambda: gone(worker), limit=40)
    assert "the process that started this worker is gone; stopping" in service.text()
    assert f"delivery worker process {worker} stopped:" in service.text()
