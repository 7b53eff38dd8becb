"""Parsing real-shaped reports (tests/data/bounces/): kind, recipient, status, and what
ties each to our message."""

from __future__ import annotations

import pytest

from mailer.bounces.parse import parse
from tests.support.bounces import fixture

VERP = "bounces+1b-abcdefghijklmnop@bounces.example.org"
MESSAGE_ID = "43.0123456789abcdef@example.org"


@pytest.mark.parametrize(
    ("name", "kind", "status", "code"),
    [
        ("postfix-5.1.1.eml", "bounce", "5.1.1", 550),
        ("postfix-outlook-5.7.1-blocklist.eml", "bounce", "5.7.1", 550),
        ("postfix-yahoo-4.7.0-delayed.eml", "delay", "4.7.0", 421),
        ("exim-5.1.1.eml", "bounce", "5.1.1", 550),
        ("gmail-5.1.1.eml", "bounce", "5.1.1", 0),
        ("microsoft-5.1.10.eml", "bounce", "5.1.10", 550),
        ("microsoft-5.2.2-mailbox-full.eml", "bounce", "5.2.2", 550),
        ("yahoo-554-no-account.eml", "bounce", "", 554),
    ],
)
def test_each_bounce_names_its_recipient_status_and_our_message(
    name: str, kind: str, status: str, code: int
) -> None:
    report = parse(fixture(name, verp=VERP, message_id=MESSAGE_ID, recipient="Gone@Example.net"))
    assert report.kind == kind, report.reason
    [recipient] = report.recipients
    assert recipient.address.lower() == "gone@example.net"
    assert (recipient.status, recipient.smtp_code) == (status, code)
    assert recipient.diagnostic and "\n" not in recipient.diagnostic
    assert report.message_id == f"<{MESSAGE_ID}>"
    assert report.report_id


def test_the_postfix_report_names_the_envelope_sender_and_return_path() -> None:
    report = parse(fixture("postfix-5.1.1.eml", verp=VERP))
    assert report.senders == (VERP,)
    assert report.recipients[0].action == "failed"
    assert report.recipients[0].diagnostic.startswith("550 5.1.1 <reader@example.net>")


def test_the_exim_text_bounce_keeps_the_remote_reply() -> None:
    report = parse(fixture("exim-5.1.1.eml", verp=VERP))
    [recipient] = report.recipients
    assert recipient.diagnostic.startswith("550 5.1.1 <reader@example.net>: Recipient address")
    assert VERP in report.senders


def test_a_yahoo_feedback_report_is_a_complaint_naming_our_verp_address() -> None:
    report = parse(fixture("yahoo-arf-complaint.eml", verp=VERP, message_id=MESSAGE_ID))
    assert report.kind == "complaint" and report.feedback_type == "abuse"
    assert report.recipients[0].address == "reader@example.net"  # Original-Rcpt-To
    assert report.senders[0] == VERP
    assert report.message_id == f"<{MESSAGE_ID}>"


def test_a_microsoft_jmrp_report_is_a_complaint() -> None:
    report = parse(fixture("microsoft-jmrp-complaint.eml", verp=VERP, message_id=MESSAGE_ID))
    assert report.kind == "complaint"
    assert report.recipients[0].address == "reader@example.net"
    assert report.senders == (VERP,)
    assert report.message_id == f"<{MESSAGE_ID}>"


def test_an_out_of_office_reply_is_an_auto_reply() -> None:
    assert parse(fixture("auto-reply-rfc3834.eml")).kind == "auto_reply"


def test_what_is_not_a_report_is_unparsed_with_the_reason() -> None:
    report = parse(fixture("unparsable.eml"))
    assert report.kind == "unparsed" and report.reason == "not a report we know"
    assert report.report_id == "<reply.7781@example.net>"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00\xff\xfe garbage",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\n\n--x\n",
        b"Content-Type: message/delivery-status\n\nReporting-MTA: dns; x\n",
    ],
)
def test_broken_input_is_unparsed_never_an_exception(data: bytes) -> None:
    assert parse(data).kind == "unparsed"


def test_a_delivery_status_part_the_package_cannot_split_is_read_as_text() -> None:
    data = (
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"
        b"--b\nContent-Type: message/delivery-status\nContent-Transfer-Encoding: base64\n\n"
        + __import__("base64").encodebytes(
            b"Reporting-MTA: dns; x\n\nFinal-Recipient: rfc822; a@example.net\n"
            b"Action: failed\nStatus: 5.1.1\n"
        )
        + b"--b--\n"
    )
    report = parse(data)
    assert report.kind == "bounce"
    assert (report.recipients[0].address, report.recipients[0].status) == (
        "a@example.net",
        "5.1.1",
    )
