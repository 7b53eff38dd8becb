"""`r2p-mailer inbound` end to end: an alert to three readers through a loopback relay,
one address bouncing asynchronously into the receiver (a real process): that reader is
bounced within a minute and gets nothing more."""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import subprocess
import sys

from sqlalchemy import select

from mailer.models import MailReport, Subscriber
from tests.conftest import Db
from tests.support.bounces import fixture
from tests.support.factories import add_readers, alert_campaign
from tests.support.ledger import drain, smtp_sender
from tests.support.running import invoke
from tests.support.smtpserver import SMTPServer
from tests.support.waiting import wait_until

DOMAIN = "bounces.example.org"
SECRET = "test-secret-key-not-for-production"  # tests.conftest.make_settings' key


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_an_asynchronous_bounce_suppresses_the_reader_for_good(
    db: Db, smtp_server: SMTPServer
) -> None:
    settings = db.settings(bounce_domain=DOMAIN, smtp_url=smtp_server.url)
    addresses = ["alice@example.net", "gone@example.net", "carol@example.net"]
    readers = add_readers(db, addresses)
    alert_campaign(db, readers, key="alert:first")
    assert drain(db, smtp_sender(smtp_server.url), settings).sent == 3  # the relay takes all
    senders = {r.rcpt_tos[0]: r.mail_from for r in smtp_server.received}
    assert len(set(senders.values())) == 3
    assert all(s.startswith("bounces+") and s.endswith(f"@{DOMAIN}") for s in senders.values())

    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("R2P_")},
        "R2P_VAR_DIR": str(db.tmp_path / "var"),
        "R2P_DATABASE_URL": db.url,
        "R2P_SECRET_KEY": SECRET,
        "R2P_BOUNCE_DOMAIN": DOMAIN,
    }
    log = db.tmp_path / "inbound.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "inbound", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: _listening(port) or process.poll() is not None, 120, message="inbound")
        assert process.poll() is None, log.read_text()
        # Later, the mailbox provider refuses it: the relay returns a DSN to its VERP address.
        [gone] = [r for r in smtp_server.received if r.rcpt_tos == ["gone@example.net"]]
        dsn = fixture(
            "postfix-5.1.1.eml",
            verp=gone.mail_from,
            message_id=str(gone.message["Message-ID"]).strip("<>"),
            recipient="gone@example.net",
        )
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as relay:
            assert relay.sendmail("<>", [gone.mail_from], dsn) == {}

        def bounced() -> bool:
            with db.session() as session:
                reader = session.get_one(Subscriber, readers[1])
                return reader.status == "bounced"

        wait_until(bounced, 60, message="the reader marked bounced")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0, log.read_text()
    assert "inbound: bounce from 127.0.0.1" in log.read_text()
    with db.session() as session:
        [report] = session.scalars(select(MailReport)).all()
        assert (report.via, report.decision, report.subscriber_id) == (
            "inbound",
            "hard",
            readers[1],
        )

    alert_campaign(db, readers, key="alert:second")
    assert drain(db, smtp_sender(smtp_server.url), settings).sent == 2
    assert len(smtp_server.handler.to("gone@example.net")) == 1  # nothing more
    assert len(smtp_server.handler.to("alice@example.net")) == 2
    assert len(smtp_server.handler.to("carol@example.net")) == 2


def test_inbound_without_a_bounce_domain_says_which_setting(cli_env: Db) -> None:
    code, output = invoke("inbound", "--port", "0")
    assert code == 1 and "R2P_BOUNCE_DOMAIN is not set" in output
