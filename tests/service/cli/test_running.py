"""`r2p-mailer run` as a real process: it starts offline, serves /healthz, reports
unreachable feeds clearly, and stops on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
import urllib.request
from pathlib import Path

import httpx
from sqlalchemy import text

from mailer.db import make_engine
from tests.support.feedserver import FeedServer
from tests.support.running import start_run
from tests.support.smtpserver import SMTPServer
from tests.support.waiting import wait_until

METRICS_TOKEN = "run-test-metrics-token"


def scrape(url: str) -> urllib.request.Request:
    """/metrics and the details of /healthz need the metrics token."""
    return urllib.request.Request(url, headers={"Authorization": f"Bearer {METRICS_TOKEN}"})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_run_starts_without_internet_and_reports_unreachable_feeds(tmp_path: Path) -> None:
    sources = tmp_path / "sources.toml"
    sources.write_text(
        '[[source]]\nkey = "dead-feed"\nurl = "http://127.0.0.1:9/rss.xml"\n'
        '[[source]]\nkey = "unresolvable"\nurl = "https://feeds.invalid/rss.xml"\n'
    )
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("R2P_")},
        "R2P_VAR_DIR": str(tmp_path / "var"),
        "R2P_SOURCES_FILE": str(sources),
        "R2P_ALLOW_PRIVATE_FEEDS": "false",
        "R2P_METRICS_TOKEN": METRICS_TOKEN,
    }
    process, log = start_run(tmp_path, env, port, init=True)
    try:
        health = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            text = log.read_text()
            if "poll finished" in text:
                with urllib.request.urlopen(scrape(f"http://127.0.0.1:{port}/healthz")) as response:
                    health = json.load(response)
                break
            assert process.poll() is None, text
            time.sleep(0.2)
        text = log.read_text()
        assert health is not None, text
        assert health["status"] == "ok" and health["feeds"] == {"enabled": 2, "failing": 2}
        assert "feed dead-feed failed: 127.0.0.1 is a private" in text
        assert "feed unresolvable failed: cannot resolve feeds.invalid" in text
        assert (
            "poll finished: 0 new item(s) from 2 feed(s); failed: dead-feed, unresolvable" in text
        )
    finally:
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down cleanly, then re-raises the signal (systemd counts that as clean).
        assert process.wait(timeout=15) in {0, -signal.SIGTERM}
    assert "Application shutdown complete" in log.read_text()


def test_run_signs_up_polls_sends_a_digest_and_stops_cleanly(
    tmp_path: Path, feed_server: FeedServer, smtp_server: SMTPServer
) -> None:
    sources = tmp_path / "sources.toml"
    press = feed_server.serve_this_weeks("/p", "un-press/rss.xml")
    centre = feed_server.serve_this_weeks("/g", "globalr2p/feed.xml")
    sources.write_text(
        f'[[source]]\nkey = "press"\nurl = "{press}"\n'
        f'[[source]]\nkey = "gc"\nurl = "{centre}"\n'
        "always_relevant = true\n"
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    database = tmp_path / "var" / "r2p.sqlite3"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("R2P_")},
        "R2P_VAR_DIR": str(tmp_path / "var"),
        "R2P_DATABASE_URL": f"sqlite:///{database}",
        "R2P_SOURCES_FILE": str(sources),
        "R2P_ALLOW_PRIVATE_FEEDS": "true",
        "R2P_SMTP_URL": smtp_server.url,
        "R2P_BASE_URL": base,
        "R2P_DIGEST_EVERY": "2s",
        "R2P_DIGEST_REVIEW": "false",
        "R2P_SECRET_KEY": "run-test-secret",
        "R2P_METRICS_TOKEN": METRICS_TOKEN,
    }
    process, log = start_run(tmp_path, env, port, init=True)
    try:
        wait_until(lambda: "poll finished: 8 new item(s)" in log.read_text())
        with httpx.Client(base_url=base) as browser:
            form = browser.get("/subscribe")
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert token is not None, form.text
            answer = browser.post(
                "/subscribe",
                data={
                    "email": "Diplomat@Example.ORG",
                    "language": "en",
                    "digest": "on",
                    "alerts": "on",
                    "topics_mode": "all",
                    "consent": "on",
                    "csrf_token": token.group(1),
                },
                follow_redirects=True,
            )
            assert answer.status_code == 200
            wait_until(lambda: smtp_server.handler.to("diplomat@example.org"))
            confirmation = smtp_server.handler.to("diplomat@example.org")[0].message
            body = confirmation.get_body(("plain",)).get_content()  # type: ignore[union-attr]
            link = re.search(rf"{re.escape(base)}/confirm/\S+", body)
            assert link is not None, body
            page = browser.get(link.group(0))
            assert page.status_code == 200
            # Opening the link changes nothing: the page's button confirms.
            button = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert button is not None, page.text
            confirmed = browser.post(link.group(0), data={"csrf_token": button.group(1)})
            assert confirmed.status_code == 200, confirmed.text

        def digest_arrived() -> bool:
            return any(
                "more" in (r.message["Subject"] or "")  # "<lead story>, and N more"
                for r in smtp_server.handler.to("diplomat@example.org")
            )

        wait_until(digest_arrived, limit=30)

        def both_recorded_sent() -> bool:  # the worker records replies just after the 250
            with urllib.request.urlopen(scrape(f"{base}/metrics")) as response:
                return 'r2p_deliveries{status="sent"} 2' in response.read().decode()

        wait_until(both_recorded_sent, limit=10, message="/metrics counting both mails sent")
        with urllib.request.urlopen(scrape(f"{base}/healthz")) as response:
            health = json.load(response)
        assert health["scheduler"]["alive"] is True and health["queue_depth"] == 0
    finally:
        process.send_signal(signal.SIGTERM)
        exit_code = process.wait(timeout=40)
    assert exit_code in {0, -signal.SIGTERM}, log.read_text()
    assert "Application shutdown complete" in log.read_text()
    engine = make_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        in_flight = connection.execute(
            text("SELECT count(*) FROM deliveries WHERE status = 'sending'")
        ).scalar()
    engine.dispose()
    assert in_flight == 0
    assert "/confirm/" not in log.read_text().replace("/confirm/[token]", "")
