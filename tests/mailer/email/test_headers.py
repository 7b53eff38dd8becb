"""Header injection through RFC 2047 encoded words (CVE-2024-6923) stays closed.

The header builder (mailer/email/headers.py, standard library only) is loaded by file path
under the oldest and newest Python available here, including the vulnerable 3.11.7 and
3.12.1, and every payload is checked on the serialized bytes. End to end: an alert made
from a hostile feed title reaches a real SMTP server with one Subject and nothing added.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from jobs.poll import poll_sources
from mailer.admins import add_admin
from mailer.alerts import approve, create_alert, draft_from_item
from mailer.config import load_settings
from mailer.email.compose import build_template
from mailer.email.render import SLOTS, RenderedEmail
from mailer.errors import ConfigError, MessageError
from mailer.feeds.registry import SourceSpec, add_source
from mailer.models import Campaign, Item
from tests.conftest import Db
from tests.support.factories import add_readers
from tests.support.feedserver import FeedServer
from tests.support.ledger import drain, smtp_sender
from tests.support.paths import PROJECT
from tests.support.running import cli
from tests.support.smtpserver import SMTPServer
from tests.support.subjects import corpus

ROOT = PROJECT
HEADERS_MODULE = ROOT / "mailer" / "email" / "headers.py"
BCC = "=?utf-8?b?DQpCY2M6IGFsbEBldmlsLmV4YW1wbGU=?="  # "\r\nBcc: all@evil.example"
REPLY_TO = "=?utf-8?b?DQpSZXBseS1Ubzogb3BzQGV2aWwuZXhhbXBsZQ==?="  # "\r\nReply-To: ops@..."
PAYLOADS = [
    f"Imminent risk of genocide {BCC}",
    REPLY_TO,
    "Alert =?utf-8?q?=0D=0ABcc:_all@evil.example?=",
    "=?UTF-8?Q?x=0ABcc:_lf@evil.example?= after",
    "=?utf-8?q?=0DBcc:_cr@evil.example?=",
    "nul =?utf-8?b?AA==?= and =?utf-8?q?a=00b?=",
    "=?UtF-8?B?DQpCY2M6IGFsbEBldmlsLmV4YW1wbGU=?=",
    "=?iso-8859-1?q?=0D=0AReply-To:_ops@evil.example?=",
    "=?utf-8*en?b?DQpCY2M6IGFsbEBldmlsLmV4YW1wbGU=?=",
    "=?=?utf-8?b?DQpCY2M6IGFAZXZpbC5leGFtcGxl?=?=",
    "Atrocity “alert” — Darfur " + BCC + " ünïcode",
    ("Imminent risk of mass atrocities in El Fasher " * 4) + BCC + (" more words" * 12),
    "x" * 120 + BCC + "y" * 120,
    "Line one\r\nBcc: raw@evil.example",
    "tab\there\x00nul\x0bvt\x85nel\u2028ls\u2029ps\x1cfs",
]
MAIL_FROM_PAYLOAD = f"R2P {REPLY_TO} <r2p@example.org>"
ALLOWED = {
    "subject",
    "from",
    "list-id",
    "precedence",
    "auto-submitted",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
}

# Runs under the interpreter being tested: only the standard library and headers.py.
CHILD = r"""
import email, email.policy, importlib.util, json, re, sys
spec = importlib.util.spec_from_file_location("r2p_headers", sys.argv[1])
headers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(headers)
raw_mode = sys.argv[2] == "raw"
payloads, mail_from, allowed = json.loads(sys.stdin.read())
report = {"version": sys.version.split()[0], "problems": []}
for subject in payloads + [mail_from]:
    try:
        if raw_mode:  # what the code did before: controls stripped, encoded words kept
            message = email.message.EmailMessage(policy=email.policy.SMTP)
            message["Subject"] = " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", subject).split())
        else:
            message = headers.new_message(
                subject=subject, mail_from=mail_from, list_id=subject, bulk=True,
                extra_headers={"X-Campaign": subject},
            )
        message.set_content("body", charset="utf-8", cte="8bit")
        data = message.as_bytes(policy=email.policy.SMTP)
    except Exception as exc:  # a fixed interpreter refuses to write the header at all
        report["problems"].append([subject, "refused: " + type(exc).__name__])
        continue
    head = data.split(b"\r\n\r\n", 1)[0]
    lines = head.split(b"\r\n")
    bad = [l for l in lines if not (re.match(rb"^[A-Za-z-]+: ", l) or l[:1] in (b" ", b"\t"))]
    if bad or b"\x00" in head or head.count(b"\n") != head.count(b"\r\n"):
        report["problems"].append([subject, "bad header lines: %r" % bad])
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    names = [n.lower() for n in parsed]
    allowed_here = set(allowed) | {"x-campaign"}
    if sorted(set(names) - allowed_here) or names.count("subject") != 1:
        report["problems"].append([subject, "headers: %r" % names])
        continue
    if raw_mode:
        continue
    clean = " ".join(re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", " ", subject).split())
    shown = headers.readable(str(parsed["Subject"]))
    if shown != clean:
        report["problems"].append([subject, "reader sees %r" % shown])
    if headers.readable(str(parsed["X-Campaign"])) != clean:
        report["problems"].append([subject, "X-Campaign %r" % str(parsed["X-Campaign"])])
    if parsed["From"].addresses[0].addr_spec != "r2p@example.org":
        report["problems"].append([subject, "From %r" % str(parsed["From"])])
print(json.dumps(report))
"""

INTERPRETERS = [
    ("current", sys.executable),
    ("3.11.2 (oldest, Debian)", "/usr/bin/python3.11"),
    ("3.11.7 (vulnerable)", "/root/.pyenv/versions/3.11.7/bin/python"),
    ("3.12.1 (vulnerable)", "/root/.pyenv/versions/3.12.1/bin/python"),
    ("3.13.0 (newest)", "/root/.pyenv/versions/3.13.0/bin/python"),
]


def run_child(python: str, mode: str) -> dict[str, object]:
    if python != sys.executable and not Path(python).exists():
        pytest.skip(f"{python} is not installed on this machine")
    payload = json.dumps([PAYLOADS, MAIL_FROM_PAYLOAD, sorted(ALLOWED)])
    done = subprocess.run(
        [python, "-I", "-c", CHILD, str(HEADERS_MODULE), mode],
        input=payload,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, object] = json.loads(done.stdout)
    return report


@pytest.mark.parametrize(("label", "python"), INTERPRETERS, ids=[i[0] for i in INTERPRETERS])
def test_no_payload_adds_a_header_on_any_supported_python(label: str, python: str) -> None:
    report = run_child(python, "safe")
    assert report["problems"] == [], f"Python {report['version']} ({label})"


@pytest.mark.parametrize(
    "python", ["/root/.pyenv/versions/3.11.7/bin/python", "/root/.pyenv/versions/3.12.1/bin/python"]
)
def test_the_payloads_do_inject_on_a_vulnerable_python_without_the_builder(python: str) -> None:
    """The control: the same check catches the attack when encoded words are kept."""
    report = run_child(python, "raw")
    injected = [p for p in report["problems"] if isinstance(p, list) and "headers" in p[1]]
    assert any(BCC in p[0] for p in injected), report


HOSTILE_FEED = f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Watch</title><link>https://watch.example/</link>
<description>x</description>
<item><title>Imminent risk of genocide {BCC}</title>
<link>https://watch.example/a</link><guid>https://watch.example/a</guid>
<description>Civilians are at imminent risk of genocide.</description>
<pubDate>Mon, 23 Nov 2026 08:00:00 GMT</pubDate></item>
<item><title>Atrocity alert {REPLY_TO}</title>
<link>https://watch.example/b</link><guid>https://watch.example/b</guid>
<description>Mass atrocities reported.</description>
<pubDate>Mon, 23 Nov 2026 09:00:00 GMT</pubDate></item>
</channel></rss>
""".encode()


def assert_clean(data: bytes) -> str:
    """The readable Subject of a message that has exactly one Subject and no header the
    attacker chose; fails on anything else."""
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    names = [n.lower() for n in parsed]
    assert names.count("subject") == 1, names
    assert not {"bcc", "cc", "reply-to"} & set(names), names
    for name, value in parsed.items():
        if name.lower() != "subject":
            assert "evil.example" not in str(value), (name, value)
    return str(parsed["Subject"]).replace("\u2060", "")


def test_an_alert_from_a_hostile_feed_title_reaches_smtp_with_no_added_header(
    cli_env: Db, feed_server: FeedServer, smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = cli_env
    monkeypatch.setenv("R2P_SMTP_URL", smtp_server.url)
    url = feed_server.serve_bytes("/watch.xml", HOSTILE_FEED)
    with db.session() as session:
        add_source(
            SourceSpec(key="watch", url=url, always_relevant=True),
            allow_private=True,
            session=session,
        )
        session.commit()
    asyncio.run(poll_sources(db.settings(), db.factory))
    titles = [f"Imminent risk of genocide {BCC}", f"Atrocity alert {REPLY_TO}"]
    add_readers(db, ["reader@example.org"])
    with db.session() as session:
        add_admin("staff@r2p.org", "correct horse battery", session=session)
        session.commit()
    now = datetime.now(UTC)
    for title in titles:
        with db.session() as session:
            item = session.scalars(select(Item).where(Item.title == title)).one()
            draft = draft_from_item(item.id, session=session)
            alert = create_alert(
                draft, by="staff@r2p.org", expires_in=timedelta(hours=6), now=now, session=session
            )
            session.commit()
            alert_id = alert.id
        tested = cli("alert", "test", str(alert_id), "--to", "me@r2p.org")
        assert tested.exit_code == 0, tested.output
        with db.session() as session:
            approve(
                session.get_one(Campaign, alert_id),
                by="staff@r2p.org",
                settings=db.settings(),
                now=now,
                session=session,
            )
            session.commit()
        drain(db, smtp_sender(smtp_server.url))
    received = smtp_server.received
    assert sorted(tuple(m.rcpt_tos) for m in received) == [
        ("me@r2p.org",),
        ("me@r2p.org",),
        ("reader@example.org",),
        ("reader@example.org",),
    ]
    subjects = sorted(assert_clean(m.data) for m in received)
    assert subjects == sorted(
        [f"Urgent: {t}" for t in titles] + [f"[TEST] Urgent: {t}" for t in titles]
    )


@pytest.mark.parametrize(
    "address",
    ["me@r2p.org\r\nBcc: all@evil.example", "me@r2p.org\nX: y", "me@r2p.org\x00", "mé@r2p.org"],
)
def test_a_per_reader_value_that_could_break_a_header_line_is_refused(address: str) -> None:
    rendered = RenderedEmail("Subject", "text", "<p>html</p>")
    template = build_template(
        rendered, mail_from="R2P <r2p@example.org>", list_id="R2P <news.example.org>", bulk=True
    )
    values = {name: "x" for name in SLOTS} | {"address": address}
    with pytest.raises(MessageError, match="address"):
        template.fill(values)


def test_an_extra_header_name_must_be_a_plain_token() -> None:
    rendered = RenderedEmail("Subject", "text", "<p>html</p>")
    with pytest.raises(MessageError, match="header name"):
        build_template(
            rendered,
            mail_from="R2P <r2p@example.org>",
            list_id="R2P",
            bulk=False,
            extra_headers={"X-A: b\r\nBcc": "c"},
        )


@pytest.mark.parametrize(
    "value",
    ["R2P <r2p@example.org>\r\nBcc: all@evil.example", "R2P <not an address>", "r2p"],
)
def test_r2p_mail_from_must_be_one_plain_address(value: str) -> None:
    with pytest.raises(ConfigError, match="R2P_MAIL_FROM"):
        load_settings(_env_file=None, mail_from=value)


# Runs under the interpreter being tested: every corpus subject through headers.py (and,
# with "package", through the email package's own folding), serialised and parsed back.
FOLDING_CHILD = r"""
import email, email.policy, importlib.util, json, sys
from email.message import EmailMessage
spec = importlib.util.spec_from_file_location("r2p_headers", sys.argv[1])
headers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(headers)
problems = []
for subject in json.loads(sys.stdin.read()):
    text = headers.header_text(subject)
    if sys.argv[2] == "package":
        message = EmailMessage(policy=email.policy.SMTP)
        message["Subject"] = text
    else:
        message = headers.new_message(
            subject=subject, mail_from="R2P <r2p@example.org>", list_id=subject, bulk=True
        )
    message.set_content("body", charset="utf-8", cte="8bit")
    data = message.as_bytes(policy=email.policy.SMTP)
    head = data.split(b"\r\n\r\n", 1)[0]
    if max(len(line) for line in head.split(b"\r\n")) > 76 or not head.isascii():
        problems.append([subject, "line over 76 or not ASCII"])
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    for name in ("Subject", "List-Id") if sys.argv[2] != "package" else ("Subject",):
        if str(parsed[name]) != text:
            problems.append([subject, "%s decodes as %r" % (name, str(parsed[name]))])
print(json.dumps({"version": sys.version.split()[0], "problems": problems}))
"""


def run_folding(python: str, mode: str) -> dict[str, Any]:
    if python != sys.executable and not Path(python).exists():
        pytest.skip(f"{python} is not installed on this machine")
    done = subprocess.run(
        [python, "-I", "-c", FOLDING_CHILD, str(HEADERS_MODULE), mode],
        input=json.dumps(corpus()),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


@pytest.mark.parametrize(("label", "python"), INTERPRETERS, ids=[i[0] for i in INTERPRETERS])
def test_every_subject_of_the_corpus_decodes_to_exactly_what_was_written(
    label: str, python: str
) -> None:
    """French, Arabic, Chinese, emoji and mixed subjects of every length, folded into
    lines of at most 76 characters, read back the same on every supported Python."""
    assert len(corpus()) >= 306
    report = run_folding(python, "safe")
    assert report["problems"] == [], f"Python {report['version']} ({label})"


def test_the_email_packages_own_folding_changes_some_subjects() -> None:
    """The control: the same corpus through the email package's folder loses or gains
    spaces in some subjects (why headers.py folds them itself)."""
    report = run_folding(sys.executable, "package")
    assert len(report["problems"]) > 10, report
