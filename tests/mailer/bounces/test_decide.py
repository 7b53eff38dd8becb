"""Decisions by enhanced status code: who is suppressed, who never is."""

from __future__ import annotations

import pytest

from mailer.bounces.decide import Decision, decide, decide_failure


@pytest.mark.parametrize(
    ("status", "code", "words", "decision", "counted"),
    [
        ("5.1.1", 550, "user unknown", Decision.HARD, False),
        ("5.1.10", 550, "RESOLVER.ADR.RecipientNotFound", Decision.HARD, False),
        ("5.1.2", 550, "bad destination", Decision.HARD, False),
        ("5.1.8", 553, "sender domain does not exist", Decision.POLICY, False),
        ("5.2.2", 552, "mailbox full", Decision.SOFT, True),
        ("5.2.1", 550, "mailbox disabled", Decision.SOFT, True),
        ("5.2.3", 552, "message too big", Decision.POLICY, False),
        (
            "5.7.1",
            550,
            "Unfortunately, messages from [x] weren't sent: block list",
            Decision.POLICY,
            False,
        ),
        ("5.7.1", 550, "no such user here (claims the words)", Decision.POLICY, False),
        ("5.7.26", 550, "unauthenticated email from example.org", Decision.POLICY, False),
        ("5.7.9", 554, "Message not accepted for policy reasons", Decision.POLICY, False),
        ("5.6.0", 550, "Body line too long", Decision.POLICY, False),
        ("4.2.2", 452, "mailbox full, try later", Decision.SOFT, False),
        ("4.7.0", 421, "user unknown (a 4xx never suppresses)", Decision.SOFT, False),
        ("", 451, "Greylisted", Decision.SOFT, False),
        ("", 550, "No such user", Decision.HARD, False),
        (
            "",
            554,
            "delivery error: dd This user doesn't have a yahoo.com account",
            Decision.HARD,
            False,
        ),
        ("", 554, "Your IP is listed at zen.spamhaus.org", Decision.POLICY, False),
        ("", 550, "Requested action not taken: mailbox unavailable", Decision.SOFT, True),
        ("5.0.0", 550, "Address rejected: user does not exist", Decision.HARD, False),
        ("5.4.4", 550, "Unrouteable address", Decision.HARD, False),
        ("5.4.1", 550, "Recipient address rejected: Access denied", Decision.SOFT, True),
        ("", 0, "", Decision.UNKNOWN, False),
    ],
)
def test_failures_by_code(
    status: str, code: int, words: str, decision: Decision, counted: bool
) -> None:
    verdict = decide_failure(status, code, words)
    assert (verdict.decision, verdict.counted) == (decision, counted)
    assert verdict.reason


def test_report_kinds() -> None:
    assert decide("complaint").decision == Decision.COMPLAINT
    assert decide("auto_reply").decision == Decision.IGNORED
    assert decide("unparsed").decision == Decision.UNKNOWN
    assert decide("delay", "5.1.1", 550).decision == Decision.SOFT  # a delay never suppresses
    assert decide("bounce", "5.1.1", 550).decision == Decision.HARD
