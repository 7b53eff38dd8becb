"""Amazon SES bounce and complaint notifications delivered by Amazon SNS (issue 17): the
SNS message signature, its signing certificate, and the SES JSON read into the
``Report`` a bounce by mail becomes.

- **Signature**: ``Signature`` is base64 RSA PKCS#1 v1.5 over the "string to sign"
  (``SignatureVersion`` 1: SHA-1, 2: SHA-256): ``Key\\nValue\\n`` for Message, MessageId,
  Subject (if present), Timestamp, TopicArn, Type in a Notification; Message, MessageId,
  SubscribeURL, Timestamp, Token, TopicArn, Type in a (Un)SubscriptionConfirmation.
- **Certificate**: fetched from ``SigningCertURL`` only when it is ``https`` on
  ``sns.<region>.amazonaws.com[.cn]`` (port 443), with a timeout and a size cap, then
  cached by URL. ``Certificates`` holds that policy; a test gives it a loopback host and
  its own CA, production never does. ``SubscribeURL`` is held to the same host rule.
- **SES**: ``notificationType`` (identity notifications) or ``eventType`` (configuration
  set events) ``Bounce`` or ``Complaint``; ``Delivery`` and the rest are not acted on.
  The delivery is found by ``mail.source`` (our VERP envelope sender) or the Message-ID
  header we sent (``mail.commonHeaders.messageId``, ``mail.headers``), never by address.
"""

from __future__ import annotations

import base64
import binascii
import re
import ssl
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from mailer.bounces.parse import Recipient, Report
from mailer.bounces.relays import Event, RefusedError, _json, _part, _text

# SNS retries a failed post for up to an hour (a delivery policy's longest): a message
# older than this is refused, and its MessageId is remembered twice as long.
SNS_MAX_AGE = timedelta(hours=1)
MESSAGE_WINDOW = 2 * SNS_MAX_AGE
SNS_HOST = re.compile(r"sns\.[a-z0-9-]{1,30}\.amazonaws\.com(\.cn)?")
CERT_MAX_BYTES = 16_384
CONFIRM_MAX_BYTES = 16_384
FETCH_TIMEOUT = 5.0
CACHE_SIZE = 32
SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
SIGNED_FIELDS["UnsubscribeConfirmation"] = SIGNED_FIELDS["SubscriptionConfirmation"]
HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}


@dataclass
class Certificates:
    """Fetches and caches SNS signing certificates, and confirms subscriptions, only from
    hosts matching ``hosts`` on ``port`` over https verified by ``verify``."""

    hosts: re.Pattern[str] = SNS_HOST
    port: int = 443
    verify: ssl.SSLContext | bool = True
    timeout: float = FETCH_TIMEOUT
    max_bytes: int = CERT_MAX_BYTES
    _cache: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check_url(self, url: str) -> str:
        """The URL if it is https on an allowed host and port; RefusedError otherwise."""
        try:
            parts = urlsplit(url)
            port = parts.port or 443
        except ValueError as exc:
            raise RefusedError("a malformed URL") from exc
        if parts.scheme != "https" or parts.username or parts.password:
            raise RefusedError("a URL that is not plain https")
        if not self.hosts.fullmatch(parts.hostname or "") or port != self.port:
            raise RefusedError("a URL on a host that is not Amazon SNS")
        return url

    def get(self, url: str, limit: int) -> bytes:
        """The body of a GET on an allowed URL, at most ``limit`` bytes; RefusedError
        for anything else (a redirect, an error status, too big, unreachable)."""
        self.check_url(url)
        try:
            with (
                httpx.Client(verify=self.verify, timeout=self.timeout) as client,
                client.stream("GET", url) as response,
            ):
                if response.status_code != 200:
                    raise RefusedError(f"HTTP {response.status_code} from the SNS host")
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise RefusedError("an answer over the size limit")
                return body
        except httpx.HTTPError as exc:
            raise RefusedError(f"the SNS host could not be read ({type(exc).__name__})") from exc

    def public_key(self, url: str, now: datetime) -> rsa.RSAPublicKey:
        """The RSA key of the certificate at ``url`` (fetched once, then cached)."""
        with self._lock:
            cached = self._cache.get(url)
        if cached is not None:
            return cached
        body = self.get(url, self.max_bytes)
        try:
            cert = x509.load_pem_x509_certificate(body)
        except ValueError as exc:
            raise RefusedError("the signing certificate is not a PEM certificate") from exc
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise RefusedError("the signing certificate is not valid now")
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise RefusedError("the signing certificate's key is not RSA")
        with self._lock:
            if len(self._cache) >= CACHE_SIZE:
                self._cache.pop(next(iter(self._cache)))
            self._cache[url] = key
        return key


def string_to_sign(message: dict[str, Any]) -> bytes:
    """The canonical text SNS signs for this message's type."""
    fields = SIGNED_FIELDS.get(str(message.get("Type", "")))
    if fields is None:
        raise RefusedError("not an SNS message type")
    lines = []
    for name in fields:
        value = message.get(name)
        if value is None and name == "Subject":
            continue
        if not isinstance(value, str):
            raise RefusedError(f"unsigned ({name} missing)")
        lines.append(f"{name}\n{value}\n")
    return "".join(lines).encode("utf-8")


def _timestamp(value: object) -> datetime:
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise RefusedError("no timestamp") from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def sns_verify(body: bytes, *, certificates: Certificates, now: datetime) -> dict[str, Any]:
    """The SNS message of a post whose signature holds and whose timestamp is fresh (the
    topic and the MessageId's reuse are for the caller to check); RefusedError otherwise."""
    message = _json(body)
    if not isinstance(message, dict):
        raise RefusedError("not an SNS message")
    algorithm = HASHES.get(str(message.get("SignatureVersion", "")))
    signature = message.get("Signature")
    if algorithm is None or not isinstance(signature, str):
        raise RefusedError("unsigned")
    text = string_to_sign(message)
    key = certificates.public_key(str(message.get("SigningCertURL", "")), now)
    try:
        key.verify(
            base64.b64decode(signature, validate=True), text, padding.PKCS1v15(), algorithm()
        )
    except (binascii.Error, ValueError, InvalidSignature) as exc:
        raise RefusedError("bad signature") from exc
    if abs(now - _timestamp(message.get("Timestamp"))) > SNS_MAX_AGE:
        raise RefusedError("stale timestamp")
    return message


def _message_id(mail: dict[str, Any]) -> str:
    """Our Message-ID as submitted (``mail.headers``; SES may put its own in
    ``commonHeaders``, which is the fallback)."""
    headers = mail.get("headers")
    found = next(
        (
            h.get("value")
            for h in (headers if isinstance(headers, list) else [])
            if isinstance(h, dict) and str(h.get("name", "")).lower() == "message-id"
        ),
        None,
    ) or _part(mail, "commonHeaders").get("messageId")
    return _text(found or "", 998).strip().removeprefix("<").removesuffix(">")


def _senders(mail: dict[str, Any]) -> tuple[str, ...]:
    found = [mail.get("source"), mail.get("returnPath")]
    headers = mail.get("headers")
    if isinstance(headers, list):
        found += [
            h.get("value")
            for h in headers
            if isinstance(h, dict) and str(h.get("name", "")).lower() == "return-path"
        ]
    return tuple(_text(a, 320).strip("<>") for a in found if isinstance(a, str) and a)


def _bounced(bounce: dict[str, Any]) -> tuple[Recipient, ...]:
    """The bounced recipients, each with its status (a Transient bounce without one as
    4.0.0, a Permanent one as a bare 550) and the remote server's words."""
    kind_name = str(bounce.get("bounceType", ""))
    delay = kind_name == "Transient"
    recipients = []
    listed = bounce.get("bouncedRecipients")
    for entry in listed if isinstance(listed, list) else []:
        if not isinstance(entry, dict):
            continue
        status = _text(entry.get("status", ""), 16)
        code = 0
        if not status:
            status = "4.0.0" if delay else ""
            code = 0 if delay else 550
        recipients.append(
            Recipient(
                address=_text(entry.get("emailAddress", ""), 320),
                action=_text(entry.get("action", "failed"), 20),
                status=status,
                smtp_code=code,
                diagnostic=_text(entry.get("diagnosticCode", ""))
                or _text(f"{kind_name} {bounce.get('bounceSubType', '')}"),
            )
        )
    return tuple(recipients)


def ses_event(message: dict[str, Any]) -> Event | None:
    """The report of the SES notification an SNS Notification carries: a Bounce or a
    Complaint; None for Delivery and the rest. RefusedError if it is not SES JSON."""
    raw = str(message.get("Message", ""))
    data = _json(raw.encode("utf-8"))
    if not isinstance(data, dict):
        raise RefusedError("not an SES notification")
    name = str(data.get("notificationType") or data.get("eventType") or "")
    mail = _part(data, "mail")
    if name == "Bounce":
        bounce = _part(data, "bounce")
        kind, recipients = "bounce", _bounced(bounce)
        feedback, feedback_type = bounce.get("feedbackId"), ""
    elif name == "Complaint":
        complaint = _part(data, "complaint")
        listed = complaint.get("complainedRecipients")
        kind = "complaint"
        recipients = tuple(
            Recipient(address=_text(r.get("emailAddress", ""), 320))
            for r in (listed if isinstance(listed, list) else [])
            if isinstance(r, dict)
        ) or (Recipient(address=""),)
        feedback = complaint.get("feedbackId")
        feedback_type = _text(complaint.get("complaintFeedbackType") or "abuse", 40)
    else:
        return None
    identity = f"ses:{_text(feedback, 200) or _text(message.get('MessageId'), 200)}"
    report = Report(
        kind,
        recipients,
        feedback_type=feedback_type,
        senders=_senders(mail),
        message_id=_message_id(mail),
        report_id=identity,
    )
    return Event(report, identity, raw[:100_000])
