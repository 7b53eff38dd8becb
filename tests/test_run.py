"""`r2p-mailer run` as a real process: it starts offline, serves /healthz, reports
unreachable feeds clearly, and stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


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
    }
    log = tmp_path / "run.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "mailer", "run", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        health = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            text = log.read_text()
            if "poll finished" in text:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz") as response:
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
