"""SendGrid's Signed Event Webhook (issue 17): the signature check and the events read
into the ``Report`` a bounce by mail becomes (``mailer.bounces.relays`` for the others).

- **Check**: ``X-Twilio-Email-Event-Webhook-Signature`` is a base64 DER ECDSA signature
  (P-256, SHA-256) of ``X-Twilio-Email-Event-Webhook-Timestamp + raw body`` under the
  public key SendGrid shows (base64 DER SubjectPublicKeyInfo). A timestamp more than
  ``MAX_AGE`` from now is refused; a signed post (timestamp and body) is accepted once
  (the caller keeps them).
- **Read**: the body is a JSON array of events. ``bounce`` (``type`` bounce or blocked)
  is a bounce by its ``status``, ``deferred`` a delay, ``spamreport`` a complaint,
  ``dropped`` (SendGrid did not send) a bounce without a status, kept for an admin.
  The delivery is found by ``smtp-id``, the Message-ID we sent, never by ``email``.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from mailer.bounces.parse import Recipient, Report
from mailer.bounces.relays import MAX_AGE, Event, RefusedError, _text

SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"
MAX_EVENTS = 1000


def public_key(setting: str) -> ec.EllipticCurvePublicKey:
    """The verification key from its setting (base64 DER, or PEM); ValueError if it is
    not a P-256 public key."""
    text = setting.strip()
    if "BEGIN PUBLIC KEY" in text:
        text = "".join(line for line in text.splitlines() if "-----" not in line)
    try:
        key = load_der_public_key(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not a base64 DER public key") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("not an ECDSA P-256 public key")
    return key


def sendgrid_verify(
    body: bytes, *, signature: str, timestamp: str, key: ec.EllipticCurvePublicKey, now: datetime
) -> list[dict[str, Any]]:
    """The events of a post whose signature holds and whose timestamp is fresh (its
    reuse is for the caller to check); RefusedError otherwise."""
    if not signature or not timestamp.isdigit():
        raise RefusedError("unsigned")
    try:
        der = base64.b64decode(signature, validate=True)
        key.verify(der, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (binascii.Error, ValueError, InvalidSignature) as exc:
        raise RefusedError("bad signature") from exc
    if abs(now.timestamp() - int(timestamp)) > MAX_AGE:
        raise RefusedError("stale timestamp")
    try:
        events = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RefusedError("the body is not JSON") from exc
    if not isinstance(events, list):
        raise RefusedError("not a list of events")
    return [e for e in events[:MAX_EVENTS] if isinstance(e, dict)]


def _message_id(data: dict[str, Any]) -> str:
    return _text(data.get("smtp-id", ""), 998).strip().removeprefix("<").removesuffix(">")


def sendgrid_event(data: dict[str, Any]) -> Event | None:
    """The report of one bounce, blocked, dropped, deferred or spamreport event; None for
    the events we do not act on (processed, delivered, open, click, ...)."""
    name = str(data.get("event", ""))
    recipient = _text(data.get("email", ""), 320)
    event_id = _text(data.get("sg_event_id", ""), 200) or _text(data.get("sg_message_id"), 200)
    if not event_id:
        return None
    identity = f"sendgrid:{event_id}"
    raw = json.dumps(data, ensure_ascii=False)[:20_000]
    message_id = _message_id(data)
    if name == "spamreport":
        report = Report(
            "complaint",
            (Recipient(address=recipient),),
            feedback_type="abuse",
            message_id=message_id,
            report_id=identity,
        )
        return Event(report, identity, raw)
    if name not in ("bounce", "deferred", "dropped"):
        return None
    delay = name == "deferred"
    status = _text(data.get("status", ""), 16)
    diagnostic = _text(data.get("reason") or data.get("response") or "")
    if name == "dropped":
        status = ""  # SendGrid did not try: its reason ("Bounced Address", ...) is no reply
    elif delay and not status.startswith("4."):
        status = "4.0.0"
    report = Report(
        "delay" if delay else "bounce",
        (
            Recipient(
                address=recipient,
                action="delayed" if delay else "failed",
                status=status,
                diagnostic=diagnostic,
            ),
        ),
        message_id=message_id,
        report_id=identity,
    )
    return Event(report, identity, raw)
