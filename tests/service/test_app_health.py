"""End to end (issue 13): `r2p-mailer run` with its real delivery worker process and a
relay on loopback that is down, then comes back. While it is down /healthz says degraded
(the public only that; the reasons name the open breaker) and /metrics shows the breaker
and the connection errors; when it returns the queue drains and health is ok again."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx

from mailer.config import Settings
from tests.conftest import Db
from tests.jobs.test_worker_process import running
from tests.support.factories import add_readers, alert_campaign
from tests.support.smtpserver import SMTPServer, _free_port
from tests.support.waiting import wait_until

TOKEN = "health-run-token-0123456789"
READERS = 20
DEFAULT_LEASE: int = Settings.model_fields["lease_seconds"].default


def health(base: str, token: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = httpx.get(f"{base}/healthz", headers=headers)
    return answer.status_code, answer.json()


def metric(base: str, pattern: str) -> float | None:
    """The value of the first series line matching ``pattern`` (a regex), or None."""
    text = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    found = re.search(rf"^{pattern} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


def test_health_is_degraded_while_the_relay_is_down_and_ok_when_it_returns(
    db: Db, tmp_path: Path
) -> None:
    relay = SMTPServer(port=_free_port())  # nothing listens on its port yet
    settings = {
        "metrics_token": TOKEN,
        "breaker_failures": "3",
        "breaker_probe_every": "1s",
        "health_degraded_status": "503",
    }
    with running(db, tmp_path, relay.url, **settings) as service:
        base = service.base
        wait_until(lambda: health(base, TOKEN)[1]["workers"]["alive"] == 1)
        assert health(base) == (200, {"status": "ok"})
        emails = [f"r{n:02d}@example.org" for n in range(READERS)]
        alert_campaign(db, add_readers(db, emails))

        wait_until(lambda: health(base)[0] == 503)
        assert health(base) == (503, {"status": "degraded"})
        code, details = health(base, TOKEN)
        assert code == 503 and details["status"] == "degraded"
        assert any("failing: breaker" in reason for reason in details["reasons"]), details
        breaker = metric(base, r'r2p_breaker_state\{relay="[^"]*",worker="[^"]+"\}')
        assert breaker in {1, 2}
        wait_until(
            lambda: (
                (
                    metric(base, r'r2p_delivery_errors_total\{class="connection",worker="[^"]+"\}')
                    or 0
                )
                >= 3
            )
        )

        relay.start()
        try:
            # The default lease: a row claimed while the relay was down and neither sent
            # nor given back would only go out when its lease ran out.
            wait_until(
                lambda: all(relay.handler.to(e) for e in emails),
                DEFAULT_LEASE / 2,
                message="every reader mailed before a lease could have run out",
            )
            wait_until(lambda: health(base) == (200, {"status": "ok"}))
            assert metric(base, r'r2p_breaker_state\{relay="[^"]*",worker="[^"]+"\}') == 0
            wait_until(
                lambda: metric(base, r'r2p_delivery_sent_total\{worker="[^"]+"\}') == READERS
            )
        finally:
            service.stop()
            relay.stop()
