"""The relay services' bounce webhooks: ``POST /webhooks/mailgun``, ``/webhooks/postmark``,
``/webhooks/sendgrid`` and ``/webhooks/ses`` (Amazon SES through SNS), each off (404)
unless its setting is set.

A post is checked by its provider's signature (``mailer.bounces.relays``; no CSRF: no
browser sends these) before anything is read; an unsigned, forged, stale or replayed post
is refused (403) and records nothing; so is an SNS message of a topic not allowed, and a
subscription is confirmed only for an allowed topic. A network that sent
``REFUSALS_LIMIT`` refused posts in ``REFUSALS_WINDOW`` is answered 429 without a check.
A signed event is taken in like a bounce by mail (``subscribers.reports.take_parsed``,
``via`` ``webhook:<provider>``) and counted once however often the provider retries it.
The app's body limit caps the size.
"""

from __future__ import annotations

import hashlib
import logging

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from mailer.bounces.relays import (
    Event,
    RefusedError,
    mailgun_event,
    mailgun_verify,
    postmark_event,
    postmark_verify,
)
from mailer.bounces.sendgrid import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    public_key,
    sendgrid_event,
    sendgrid_verify,
)
from mailer.bounces.sns import CONFIRM_MAX_BYTES, Certificates, ses_event, sns_verify
from mailer.db import run_with_retry
from mailer.notices import campaigns_paused
from mailer.web.pages import client_of, factory_of, now_of, settings_of
from mailer.web.ratelimit import RateLimiter
from subscribers.reports import Taken, take_parsed

log = logging.getLogger(__name__)
router = APIRouter()

REFUSALS_LIMIT = 30
# What each provider's posts are told apart by, each accepted once: its rate_hits key.
SEEN_KEYS = {
    "mailgun": "webhook-mailgun-token",
    "sendgrid": "webhook-sendgrid-post",
    "ses": "webhook-sns-message",
}


def _json(status: int, message: str) -> Response:
    return JSONResponse({"message": message}, status_code=status)


def _refusals(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.webhook_refusals
    return limiter


def _seen(request: Request, provider: str) -> RateLimiter:
    """The tokens (Mailgun), signed posts (SendGrid) or message ids (SNS) seen."""
    limiter: RateLimiter = request.app.state.webhook_seen[provider]
    return limiter


async def _over_limit(request: Request) -> bool:
    limiter = _refusals(request)
    count = await anyio.to_thread.run_sync(limiter.count, client_of(request), now_of(request))
    return count >= limiter.limit


async def _closed(request: Request, *, on: bool) -> Response | None:
    """404 for a webhook that is off, 429 for a network over its refusals; else None."""
    if not on:
        return _json(404, "not found")
    if await _over_limit(request):
        return _json(429, "too many refused posts")
    return None


async def _refuse(request: Request, provider: str, reason: str) -> Response:
    log.warning("webhook %s: refused a post (%s)", provider, reason)
    await anyio.to_thread.run_sync(
        lambda: _refusals(request).allow(client_of(request), now_of(request))
    )
    return _json(403, "refused")


async def _take(
    request: Request,
    provider: str,
    events: list[Event],
    token: str = "",
    seen: RateLimiter | None = None,
) -> list[Taken] | None:
    """Record the events (and the post's token, kept by ``seen``, in the same
    transaction: a post that failed to store may be retried with it); None when the
    token was seen before."""
    settings = settings_of(request)
    now = now_of(request)

    def work(session: Session) -> list[Taken] | None:
        if token and seen is not None and not seen.allow(token, now, session=session):
            return None
        return [
            take_parsed(
                event.report,
                raw=event.raw,
                identity=event.identity,
                via=f"webhook:{provider}",
                envelope_to=[],
                settings=settings,
                now=now,
                session=session,
            )
            for event in events
        ]

    done = await anyio.to_thread.run_sync(run_with_retry, factory_of(request), work)
    if done is None:
        return None
    for event, taken in zip(events, done, strict=True):
        log.info(
            "webhook %s: %s: %s; delivery %s, reader %s",
            provider,
            event.report.kind,
            ", ".join(taken.decisions) or "already recorded",
            taken.delivery_id or "-",
            taken.subscriber_id or "-",
        )
        if taken.paused:
            await campaigns_paused(settings, factory_of(request), taken.paused)
    return done


@router.post("/webhooks/mailgun")
async def mailgun(request: Request) -> Response:
    secret = settings_of(request).mailgun_signing_key
    key = secret.get_secret_value() if secret is not None else ""
    if (closed := await _closed(request, on=bool(key))) is not None:
        return closed
    body = await request.body()
    try:
        signed = mailgun_verify(body, key=key, now=now_of(request))
    except RefusedError as exc:
        return await _refuse(request, "mailgun", str(exc))
    event = mailgun_event(signed, body.decode("utf-8", errors="replace"))
    if event is None:
        return _json(200, "ignored")
    taken = await _take(request, "mailgun", [event], signed.token, _seen(request, "mailgun"))
    if taken is None:
        return await _refuse(request, "mailgun", "token used before")
    return _json(200, "recorded")


@router.post("/webhooks/postmark")
async def postmark(request: Request) -> Response:
    secret = settings_of(request).postmark_webhook_auth
    credentials = secret.get_secret_value() if secret is not None else ""
    if (closed := await _closed(request, on=bool(credentials))) is not None:
        return closed
    try:
        postmark_verify(request.headers.get("authorization", ""), credentials=credentials)
    except RefusedError as exc:
        return await _refuse(request, "postmark", str(exc))
    body = await request.body()
    try:
        event = postmark_event(body)
    except RefusedError as exc:
        log.warning("webhook postmark: an authenticated post could not be read (%s)", exc)
        return _json(400, "not an event")
    if event is None:
        return _json(200, "ignored")
    await _take(request, "postmark", [event])
    return _json(200, "recorded")


@router.post("/webhooks/sendgrid")
async def sendgrid(request: Request) -> Response:
    settings = settings_of(request)
    if (closed := await _closed(request, on=bool(settings.sendgrid_webhook_key))) is not None:
        return closed
    body = await request.body()
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    try:
        events = sendgrid_verify(
            body,
            signature=request.headers.get(SIGNATURE_HEADER, ""),
            timestamp=timestamp,
            key=public_key(settings.sendgrid_webhook_key),
            now=now_of(request),
        )
    except RefusedError as exc:
        return await _refuse(request, "sendgrid", str(exc))
    read = [e for e in map(sendgrid_event, events) if e is not None]
    # What was signed names the post, not the signature: an ECDSA signature can be
    # rewritten into another valid one (s -> n - s) without the key.
    signed = hashlib.sha256(timestamp.encode() + body).hexdigest()
    if await _take(request, "sendgrid", read, signed, _seen(request, "sendgrid")) is None:
        return await _refuse(request, "sendgrid", "post seen before")
    return _json(200, f"recorded {len(read)}" if read else "ignored")


def _certificates(request: Request) -> Certificates:
    certificates: Certificates = request.app.state.sns_certificates
    return certificates


@router.post("/webhooks/ses")
async def ses(request: Request) -> Response:
    settings = settings_of(request)
    if (closed := await _closed(request, on=bool(settings.ses_topics))) is not None:
        return closed
    body = await request.body()
    certificates = _certificates(request)
    try:
        message = await anyio.to_thread.run_sync(
            lambda: sns_verify(body, certificates=certificates, now=now_of(request))
        )
    except RefusedError as exc:
        return await _refuse(request, "ses", str(exc))
    topic, kind = str(message.get("TopicArn", "")), str(message.get("Type", ""))
    if topic not in settings.ses_topics:
        # Anyone can have SNS sign a message of a topic of their own.
        return await _refuse(request, "ses", f"{kind} of a topic not in R2P_SES_SNS_TOPICS")
    if kind == "SubscriptionConfirmation":
        return await _confirm(request, certificates, message)
    if kind != "Notification":
        log.info("webhook ses: %s of %s: nothing to do", kind, topic)
        return _json(200, "ignored")
    try:
        event = ses_event(message)
    except RefusedError as exc:
        log.warning("webhook ses: a signed notification could not be read (%s)", exc)
        return _json(400, "not an SES notification")
    events = [event] if event is not None else []
    message_id = str(message.get("MessageId", ""))
    if await _take(request, "ses", events, message_id, _seen(request, "ses")) is None:
        return await _refuse(request, "ses", "message id used before")
    return _json(200, "recorded" if events else "ignored")


async def _confirm(
    request: Request, certificates: Certificates, message: dict[str, object]
) -> Response:
    """Confirm a subscription of an allowed topic by fetching its SubscribeURL (held to
    the same https-on-Amazon-SNS rule as the certificates)."""
    url = str(message.get("SubscribeURL", ""))
    seen, key, now = _seen(request, "ses"), str(message.get("MessageId", "")), now_of(request)
    if not await anyio.to_thread.run_sync(lambda: seen.allow(key, now)):
        return await _refuse(request, "ses", "message id used before")
    try:
        await anyio.to_thread.run_sync(certificates.get, url, CONFIRM_MAX_BYTES)
    except RefusedError as exc:
        return await _refuse(request, "ses", f"subscription not confirmed: {exc}")
    log.warning("webhook ses: confirmed the subscription to %s", message.get("TopicArn"))
    return _json(200, "subscription confirmed")
