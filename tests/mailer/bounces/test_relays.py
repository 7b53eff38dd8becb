"""Relay services' events read as reports, and their signature checks, without the web:
Mailgun's HMAC over timestamp and token with its freshness window, Postmark's basic auth,
and how each provider's event kinds map onto bounce, delay and complaint."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mailer.bounces.relays import (
    MAX_AGE,
    RefusedError,
    mailgun_event,
    mailgun_verify,
    postmark_event,
    postmark_verify,
)
from tests.support.bounces import fixture

KEY = "key-for-the-relay-tests"
NOW = datetime(2026, 12, 7, 9, 12, 44, tzinfo=UTC)


def _mailgun(name: str, *, at: datetime = NOW, key: str = KEY, **event: Any) -> bytes:
    payload = json.loads(fixture(name, verp="bounces+1-aaaaaaaaaaaaaaaa@bounces.example.org"))
    payload["event-data"].update(event)
    timestamp, token = str(int(at.timestamp())), "t" * 50
    digest = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    payload["signature"] = {"timestamp": timestamp, "token": token, "signature": digest}
    return json.dumps(payload).encode()


def test_mailgun_signatures_hold_only_under_the_key_and_while_fresh() -> None:
    body = _mailgun("mailgun-failed-5.1.1.json")
    assert mailgun_verify(body, key=KEY, now=NOW).token == "t" * 50
    assert mailgun_verify(body, key=KEY, now=NOW + timedelta(seconds=MAX_AGE)).token
    for now, key, reason in (
        (NOW, "another key", "bad signature"),
        (NOW + timedelta(seconds=MAX_AGE + 1), KEY, "stale timestamp"),
        (NOW - timedelta(seconds=MAX_AGE + 1), KEY, "stale timestamp"),
    ):
        with pytest.raises(RefusedError, match=reason):
            mailgun_verify(body, key=key, now=now)
    for bad in (b"[]", b"{}", b'{"signature": {"timestamp": "x", "token": "t"}}', b"\xff"):
        with pytest.raises(RefusedError):
            mailgun_verify(bad, key=KEY, now=NOW)


def test_mailgun_failures_are_bounces_or_delays_by_severity() -> None:
    signed = mailgun_verify(_mailgun("mailgun-failed-5.1.1.json"), key=KEY, now=NOW)
    event = mailgun_event(signed, "raw")
    assert event is not None
    report = event.report
    assert report.kind == "bounce"
    assert report.senders == ("bounces+1-aaaaaaaaaaaaaaaa@bounces.example.org",)
    assert report.message_id == "1.0000000000000000@example.org"
    [recipient] = report.recipients
    assert (recipient.status, recipient.smtp_code) == ("5.1.1", 550)
    assert event.identity == "mailgun:G9Bn5sl1TC6nu79C8C0bwg"
    temporary = _mailgun("mailgun-failed-5.1.1.json", severity="temporary")
    event = mailgun_event(mailgun_verify(temporary, key=KEY, now=NOW), "raw")
    assert event is not None and event.report.kind == "delay"
    complained = mailgun_verify(_mailgun("mailgun-complained.json"), key=KEY, now=NOW)
    event = mailgun_event(complained, "raw")
    assert event is not None and event.report.kind == "complaint"
    delivered = mailgun_verify(_mailgun("mailgun-delivered.json"), key=KEY, now=NOW)
    assert mailgun_event(delivered, "raw") is None


def _basic(value: str) -> str:
    return "Basic " + base64.b64encode(value.encode()).decode()


def test_postmark_needs_exactly_the_configured_credentials() -> None:
    postmark_verify(_basic("hook:secret"), credentials="hook:secret")
    for header in ("", "Basic", "Basic ***", _basic("hook:secreT"), "Bearer hook:secret"):
        with pytest.raises(RefusedError):
            postmark_verify(header, credentials="hook:secret")


def _postmark(name: str, **fields: Any) -> bytes:
    payload = json.loads(fixture(name))
    payload.update(fields)
    return json.dumps(payload).encode()


@pytest.mark.parametrize(
    ("fields", "kind", "status"),
    [
        ({}, "bounce", "5.1.1"),  # the status of the bounce in Content
        ({"Content": None}, "bounce", "5.1.1"),  # HardBounce without Content
        ({"Content": None, "Type": "Blocked", "TypeCode": 100000}, "bounce", "5.7.1"),
        ({"Content": None, "Type": "SoftBounce", "TypeCode": 4096}, "delay", "4.0.0"),
        ({"Content": None, "Type": "Unknown", "TypeCode": 2048}, "bounce", ""),
        ({"Type": "AutoResponder", "TypeCode": 64}, "auto_reply", ""),
    ],
)
def test_postmark_bounce_types(fields: dict[str, Any], kind: str, status: str) -> None:
    event = postmark_event(_postmark("postmark-hardbounce.json", **fields))
    assert event is not None
    assert event.report.kind == kind
    assert event.report.recipients[0].status == status


def test_postmark_finds_our_message_id_in_the_content_and_ignores_other_records() -> None:
    event = postmark_event(_postmark("postmark-spamcomplaint.json"))
    assert event is not None and event.report.kind == "complaint"
    assert event.report.message_id == "<1.0000000000000000@example.org>"
    assert postmark_event(_postmark("postmark-hardbounce.json", RecordType="Delivery")) is None
    with pytest.raises(RefusedError):
        postmark_event(b"[1, 2]")
