"""The webhooks of relay services (issue 17, inbound path 3): each provider's signature
check, and its events read into the same ``Report`` a bounce by mail becomes, so that
``subscribers.reports.take_parsed`` matches, decides and records them like any other.

- **Mailgun**: ``signature`` = hex HMAC-SHA256 of ``timestamp + token`` under the webhook
  signing key; a timestamp more than ``MAX_AGE`` away from now is refused, and a token is
  accepted once (the caller keeps the tokens seen: ``mailgun_token``).
- **Postmark**: HTTP basic auth with the credentials put in the webhook URL, compared in
  constant time. Postmark's events carry its own message id, so the delivery is found in
  the bounce itself (``Content``, when the webhook includes it): our VERP address and
  signed Message-ID, exactly as for a bounce by mail.

A delivery is found by a VERP address or our signed Message-ID only, never by the
recipient address an event quotes. Nothing here touches the database.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mailer.bounces.parse import Recipient, Report, parse

MAX_AGE = 300  # seconds a signed timestamp may be from now (either way)
# A token is kept while its timestamp could still pass (MAX_AGE either side of now).
TOKEN_WINDOW = timedelta(seconds=2 * MAX_AGE)
# How long a network's refused webhook posts are remembered (the limit is the webhooks').
REFUSALS_WINDOW = timedelta(minutes=10)
DIAGNOSTIC_MAX = 1000


class RefusedError(Exception):
    """A post that is not from the provider (unsigned, a bad signature, stale, replayed)
    or that cannot be read: nothing is recorded."""


@dataclass(frozen=True)
class Event:
    """One provider event read as a report; ``identity`` counts a retried event once."""

    report: Report
    identity: str
    raw: str


def _text(value: object, limit: int = DIAGNOSTIC_MAX) -> str:
    return " ".join(str(value).split())[:limit] if value is not None else ""


def _part(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name)
    return value if isinstance(value, dict) else {}


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RefusedError("the body is not JSON") from exc


# --- Mailgun --------------------------------------------------------------------------


@dataclass(frozen=True)
class MailgunSigned:
    token: str
    event: dict[str, Any]


def mailgun_verify(body: bytes, *, key: str, now: datetime) -> MailgunSigned:
    """The event of a Mailgun webhook post whose signature holds and whose timestamp is
    fresh (the token's reuse is for the caller to check); RefusedError otherwise."""
    payload = _json(body)
    signature = payload.get("signature") if isinstance(payload, dict) else None
    if not isinstance(signature, dict):
        raise RefusedError("unsigned")
    timestamp = str(signature.get("timestamp", ""))
    token = str(signature.get("token", ""))
    given = str(signature.get("signature", ""))
    if not timestamp.isdigit() or not token or not given:
        raise RefusedError("unsigned")
    expected = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given.lower()):
        raise RefusedError("bad signature")
    if abs(now.timestamp() - int(timestamp)) > MAX_AGE:
        raise RefusedError("stale timestamp")
    event = payload.get("event-data")
    if not isinstance(event, dict):
        raise RefusedError("no event-data")
    return MailgunSigned(token, event)


def mailgun_event(signed: MailgunSigned, raw: str) -> Event | None:
    """The report of a ``failed`` or ``complained`` event; None for events we do not act
    on (delivered, opened, ...)."""
    data = signed.event
    name = str(data.get("event", ""))
    headers = _part(_part(data, "message"), "headers")
    envelope = _part(data, "envelope")
    recipient = _text(data.get("recipient", ""), 320)
    senders = tuple(str(a) for a in (envelope.get("sender"), headers.get("return-path")) if a)
    message_id = str(headers.get("message-id", "") or "")
    identity = f"mailgun:{_text(data.get('id', ''), 200) or signed.token}"
    if name == "complained":
        report = Report(
            "complaint",
            (Recipient(address=recipient),),
            feedback_type="abuse",
            senders=senders,
            message_id=message_id,
            report_id=identity,
        )
        return Event(report, identity, raw)
    if name != "failed":
        return None
    status = _part(data, "delivery-status")
    code = status.get("code")
    enhanced = _text(status.get("enhanced-code", ""), 16)
    diagnostic = _text(status.get("message") or status.get("description") or "")
    temporary = str(data.get("severity", "")) == "temporary"
    report = Report(
        "delay" if temporary else "bounce",
        (
            Recipient(
                address=recipient,
                action="delayed" if temporary else "failed",
                status=enhanced,
                smtp_code=code if isinstance(code, int) and 200 <= code < 600 else 0,
                diagnostic=diagnostic or _text(data.get("reason", "")),
            ),
        ),
        senders=senders,
        message_id=message_id,
        report_id=identity,
    )
    return Event(report, identity, raw)


# --- Postmark -------------------------------------------------------------------------


def postmark_verify(authorization: str, *, credentials: str) -> None:
    """Check the request's ``Authorization: Basic ...`` against ``user:password``, in
    constant time; RefusedError otherwise."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic" or not value:
        raise RefusedError("unsigned")
    try:
        given = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RefusedError("bad credentials") from exc
    if not hmac.compare_digest(given, credentials.encode()):
        raise RefusedError("bad credentials")


# Postmark's bounce types (TypeCode) and what they are: a bounce, a delay, a complaint,
# or something we do not act on (an auto-reply, a subscribe request, ...).
POSTMARK_COMPLAINTS = {"SpamComplaint", "SpamNotification"}
POSTMARK_DELAYS = {"Transient", "DnsError", "SoftBounce"}
POSTMARK_AUTO = {"AutoResponder", "Subscribe", "Unsubscribe", "AddressChange"}
# Postmark's word for the failure, when the bounce itself gives no status code.
POSTMARK_STATUS = {
    "HardBounce": "5.1.1",
    "BadEmailAddress": "5.1.3",
    "Blocked": "5.7.1",
    "DMARCPolicy": "5.7.1",
}


def postmark_event(body: bytes) -> Event | None:
    """The report of a Bounce or SpamComplaint post; None for other record types."""
    data = _json(body)
    if not isinstance(data, dict):
        raise RefusedError("not an event")
    record = str(data.get("RecordType", "Bounce"))
    kind_name = str(data.get("Type", ""))
    if record not in ("Bounce", "SpamComplaint") or not data.get("ID"):
        return None
    identity = f"postmark:{_text(data.get('ID'), 60)}:{kind_name}"
    raw = body.decode("utf-8", errors="replace")
    content = data.get("Content")
    inner = parse(content.encode("utf-8", "replace")) if isinstance(content, str) else None
    senders = inner.senders if inner is not None else ()
    message_id = inner.message_id if inner is not None else ""
    recipient = _text(data.get("Email", ""), 320)
    diagnostic = _text(data.get("Details") or data.get("Description") or "")
    if record == "SpamComplaint" or kind_name in POSTMARK_COMPLAINTS:
        kind, recipients = "complaint", (Recipient(address=recipient),)
    elif kind_name in POSTMARK_AUTO:
        kind, recipients = "auto_reply", (Recipient(address=recipient),)
    else:
        found = inner.recipients[0] if inner is not None and inner.recipients else None
        status = found.status if found is not None else ""
        code = found.smtp_code if found is not None else 0
        delay = kind_name in POSTMARK_DELAYS
        if not status and not code:
            status = "4.0.0" if delay else POSTMARK_STATUS.get(kind_name, "")
            code = 0 if status else 550
        kind = "delay" if delay else "bounce"
        recipients = (
            Recipient(
                address=recipient,
                action="delayed" if delay else "failed",
                status=status,
                smtp_code=code,
                diagnostic=(found.diagnostic if found is not None else "") or diagnostic,
            ),
        )
    report = Report(
        kind,
        recipients,
        feedback_type="abuse" if kind == "complaint" else "",
        senders=senders,
        message_id=message_id,
        report_id=identity,
    )
    return Event(report, identity, raw)
