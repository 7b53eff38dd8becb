"""What a bounce means for the reader, by its enhanced status code (RFC 3463), the same
for a refusal at RCPT time and for a report that came back later:

- 5.1.x, the mailbox does not exist: ``hard``, the address is suppressed at once (but
  5.1.7 and 5.1.8 are about our sender address: ``policy``);
- 5.2.x (mailbox full, disabled) and other permanent failures about the address:
  ``soft`` and *counted*: R2P_HARD_BOUNCE_LIMIT of them make it ``hard``;
- 5.7.x (policy, blocklisting, authentication) and the other permanent refusals of our
  server or message (5.1.7, 5.1.8, 5.2.3, 5.3.x, 5.5.x, 5.6.x): ``policy``, nobody is
  suppressed; enough of them pause the campaign;
- 4.x.x, a delay: ``soft``, never counted and never suppressing;
- a complaint: ``complaint`` (unsubscribed at once); an auto-reply: ``ignored``.

A permanent reply without an enhanced code is read from its words: a block of our server
is ``policy``, an unknown user ``hard``, anything else counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Decision(StrEnum):
    """``mail_reports.decision``: what was done about a report."""

    HARD = "hard"  # the address is suppressed (the reader is bounced)
    SOFT = "soft"  # noted; counted towards suppression only when ``counted``
    POLICY = "policy"  # a block of our server or message: nobody suppressed
    COMPLAINT = "complaint"  # the reader is unsubscribed
    IGNORED = "ignored"  # an auto-reply, or a report that names no delivery of ours
    UNKNOWN = "unknown"  # unparsed: kept for an admin to read


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    counted: bool = False  # a permanent failure that suppresses once repeated
    reason: str = ""


POLICY_WORDS = re.compile(
    r"block|blacklist|black list|denylist|listed|spamhaus|barracuda|spamcop|reputation"
    r"|policy|poor sender|not allowed|not accepted|prohibited|rejected (for|due|as)"
    r"|spam|dmarc|spf|dkim|authenticat|rate limit|too many",
    re.IGNORECASE,
)
UNKNOWN_USER_WORDS = re.compile(
    r"no such (user|mailbox|recipient|account)|user unknown|unknown (user|recipient|mailbox)"
    r"|does not exist|doesn't exist|not exist|recipient not found|mailbox not found"
    r"|invalid (recipient|mailbox|address)|address rejected: user|no mailbox|account (is )?disabled"
    r"|not a known user|unrouteable address|does(n't| not) have an? \S+ account",
    re.IGNORECASE,
)
SENDER_PROBLEMS = {"5.1.7", "5.1.8"}  # about our envelope sender, not the reader
MESSAGE_TOO_BIG = "5.2.3"


def class_of(status: str) -> tuple[int, int]:
    """(class, subject) of an enhanced code: ``5.1.1`` -> (5, 1); (0, 0) if none."""
    parts = status.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return 0, 0
    return int(parts[0]), int(parts[1])


def decide_failure(status: str, smtp_code: int, diagnostic: str) -> Verdict:
    """A bounce or refusal: ``status`` the enhanced code ("" if none), ``smtp_code`` the
    basic one (0 if none), ``diagnostic`` the server's words."""
    klass, subject = class_of(status)
    if klass == 0:
        klass = smtp_code // 100
    if klass == 4 or klass == 2:
        return Verdict(Decision.SOFT, reason="temporary: never suppresses")
    if klass != 5:
        return Verdict(Decision.UNKNOWN, reason="no status code")
    if status in SENDER_PROBLEMS:
        return Verdict(Decision.POLICY, reason="our sender address was refused")
    if subject == 1:
        return Verdict(Decision.HARD, reason="no such mailbox")
    if subject == 7:
        return Verdict(Decision.POLICY, reason="refused for policy: nobody suppressed")
    if status == MESSAGE_TOO_BIG or subject in (3, 5, 6):
        return Verdict(Decision.POLICY, reason="the message was refused, not the address")
    if subject == 2:
        return Verdict(Decision.SOFT, counted=True, reason="mailbox problem: counted")
    # 5.0.x, 5.4.x, or a bare 5xx: what the server said decides.
    if POLICY_WORDS.search(diagnostic):
        return Verdict(Decision.POLICY, reason="refused for policy: nobody suppressed")
    if UNKNOWN_USER_WORDS.search(diagnostic):
        return Verdict(Decision.HARD, reason="no such mailbox")
    return Verdict(Decision.SOFT, counted=True, reason="permanent failure: counted")


def decide(kind: str, status: str = "", smtp_code: int = 0, diagnostic: str = "") -> Verdict:
    """The verdict for a report of ``kind`` (``mailer.bounces.parse.Report.kind``)."""
    if kind == "complaint":
        return Verdict(Decision.COMPLAINT, reason="the reader reported the mail as spam")
    if kind == "auto_reply":
        return Verdict(Decision.IGNORED, reason="an automatic reply")
    if kind == "unparsed":
        return Verdict(Decision.UNKNOWN, reason="not understood: kept for an admin")
    if kind == "delay":
        return Verdict(Decision.SOFT, reason="delayed: never suppresses")
    return decide_failure(status, smtp_code, diagnostic)
