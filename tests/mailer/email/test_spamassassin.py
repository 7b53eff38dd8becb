"""Every kind of mail (confirm, manage, digest, alert, alert test), built and sent the way
the real sender does it (DKIM-signed, through SMTP to a loopback server), scores 0 or
below with SpamAssassin's local tests (``spamassassin -L -t``, the Debian package).

Skips, saying so, where SpamAssassin is not installed; ``.ci/run`` installs it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dkim
import pytest

from mailer.config import Settings
from mailer.digest import create_digest, plan_digest
from mailer.models import Campaign, Subscriber
from staff.actions.actor import Actor
from staff.actions.alerts import send_test
from subscribers.mails import queue_confirmation, queue_manage_link
from tests.conftest import Db
from tests.support.dkimkeys import DOMAIN, SELECTOR, make_key
from tests.support.factories import add_item, add_readers, add_source, alert_campaign
from tests.support.ledger import drain, smtp_sender
from tests.support.smtpserver import SMTPServer

SPAMASSASSIN = shutil.which("spamassassin")
pytestmark = [
    pytest.mark.skipif(
        SPAMASSASSIN is None,
        reason="SpamAssassin is not installed (apt-get install spamassassin; .ci/run does)",
    ),
    pytest.mark.parametrize("db", ["sqlite"], indirect=True),
]

KINDS = ("confirm", "manage", "digest", "alert", "alert test")


@dataclass(frozen=True)
class Score:
    total: float
    rules: list[tuple[float, str]]  # (points, rule name), as SpamAssassin lists them

    def explain(self) -> str:
        return ", ".join(f"{name} {points:+g}" for points, name in self.rules) or "no rules hit"


def spam_scores(messages: dict[str, bytes], home: Path) -> dict[str, Score]:
    """``spamassassin -L -t`` (local tests only) on each message, in one run (its start
    takes seconds): an mbox in, each message's report out, told apart by Message-ID."""
    assert SPAMASSASSIN is not None
    mbox = b""
    for message in messages.values():
        escaped = re.sub(rb"(?m)^(>*From )", rb">\1", message.replace(b"\r\n", b"\n"))
        mbox += b"From r2p@localhost Mon Dec  7 12:00:00 2026\n" + escaped + b"\n"
    done = subprocess.run(
        [SPAMASSASSIN, "-L", "-t", "--mbox"],
        input=mbox,
        capture_output=True,
        check=True,
        timeout=300,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
    )
    report = done.stdout.decode("utf-8", "replace")
    blocks = re.split(r"(?m)^From r2p@localhost .*$", report)[1:]
    scores: dict[str, Score] = {}
    for kind, message in messages.items():
        message_id = re.search(rb"(?im)^message-id: *(<[^>]+>)", message)
        assert message_id is not None, kind
        [block] = [b for b in blocks if message_id.group(1).decode() in b]
        found = re.search(r"Content analysis details:\s+\((-?[\d.]+) points", block)
        assert found is not None, block[-2000:]
        table = block[found.end() :].split("\n\n", 2)[1]
        rules = [
            (float(points), name)
            for points, name in re.findall(r"^\s*(-?\d+\.\d+)\s+([A-Z0-9_]+)\s", table, re.M)
        ]
        scores[kind] = Score(float(found.group(1)), rules)
    return scores


@pytest.fixture
def dkim_key(tmp_path: Path) -> tuple[Path, Callable[..., bytes]]:
    return make_key(tmp_path)


@pytest.fixture
def dkim_settings(
    db: Db, smtp_server: SMTPServer, dkim_key: tuple[Path, Callable[..., bytes]]
) -> Settings:
    return db.settings(
        mail_from=f"R2P news <news@{DOMAIN}>",
        transactional_from=f"R2P news <subscribe@{DOMAIN}>",
        reply_to=f"R2P team <team@{DOMAIN}>",
        postal_address="R2P news, 1 Rue de l'Exemple, 1202 Genève, Switzerland",
        base_url=f"https://{DOMAIN}",
        smtp_url=smtp_server.url,
        dkim_key_file=dkim_key[0],
        dkim_selector=SELECTOR,
        dkim_domain=DOMAIN,
    )


def _sent(server: SMTPServer, to: str) -> bytes:
    [received] = server.handler.to(to)
    # What the receiving MTA writes at the top when it delivers.
    return b"Return-Path: <" + received.mail_from.encode() + b">\r\n" + received.data


@pytest.fixture
def every_kind(
    db: Db, smtp_server: SMTPServer, dkim_settings: Settings
) -> Iterator[dict[str, bytes]]:
    """One message of each kind, as the reader's server received it."""
    settings = dkim_settings
    now = datetime.now(UTC)
    source = add_source(db, "un-news", title="UN News")
    for n, title in enumerate(
        [
            "Security Council briefed on the protection of civilians in Sudan",
            "Special Adviser on the Prevention of Genocide warns of rising hate speech",
            "Human Rights Council opens inquiry into attacks on displaced people",
        ]
    ):
        add_item(db, source, title, published_at=now - timedelta(hours=3 + n))
    [pending] = add_readers(db, ["pending@example.net"], status="pending", wants_alerts=False)
    [active] = add_readers(db, ["active@example.net"])
    with db.session() as session:
        queue_confirmation(
            session.get_one(Subscriber, pending), settings=settings, now=now, session=session
        )
        queue_manage_link(
            session.get_one(Subscriber, active), settings=settings, now=now, session=session
        )
        session.commit()
    drain(db, smtp_sender(smtp_server.url), settings)
    mails = {"confirm": _sent(smtp_server, "pending@example.net")}
    mails["manage"] = _sent(smtp_server, "active@example.net")
    smtp_server.handler.received.clear()

    with db.session() as session:
        create_digest(plan_digest(now=now, session=session), settings=settings, session=session)
        session.commit()
    drain(db, smtp_sender(smtp_server.url), settings)
    mails["digest"] = _sent(smtp_server, "active@example.net")
    smtp_server.handler.received.clear()

    campaign_id = alert_campaign(
        db, [active], subject="Imminent risk of mass atrocities in El Fasher"
    )
    drain(db, smtp_sender(smtp_server.url), settings)
    mails["alert"] = _sent(smtp_server, "active@example.net")

    with db.session() as session:
        [result] = send_test(
            session.get_one(Campaign, campaign_id),
            "editor@example.net",
            actor=Actor.cli(),
            settings=settings,
            now=now,
            session=session,
        )
        session.commit()
    assert result.verdict == "sent"
    mails["alert test"] = _sent(smtp_server, "editor@example.net")
    yield mails


def test_every_kind_of_mail_scores_zero_or_below(
    every_kind: dict[str, bytes], dkim_key: tuple[Path, Callable[..., bytes]], tmp_path: Path
) -> None:
    assert set(every_kind) == set(KINDS)
    for kind, message in every_kind.items():
        assert dkim.verify(message, dnsfunc=dkim_key[1]), f"{kind}: no valid DKIM signature"
    scores = spam_scores(every_kind, tmp_path)
    for kind, score in scores.items():
        print(f"{kind}: {score.total:+g} ({score.explain()})")
    failing = {k: s for k, s in scores.items() if s.total > 0}
    assert not failing, "; ".join(f"{k}: {s.total:+g}: {s.explain()}" for k, s in failing.items())
