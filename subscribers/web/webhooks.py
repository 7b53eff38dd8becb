"""The relay services' bounce webhooks: ``POST /webhooks/mailgun`` and
``POST /webhooks/postmark``, each off (404) unless its secret setting is set.

A post is checked by its provider's signature (``mailer.bounces.relays``; no CSRF: no
browser sends these) before anything is read; an unsigned, forged, stale or replayed post
is refused (403) and records nothing. A network that sent ``REFUSALS_LIMIT`` refused posts
in ``REFUSALS_WINDOW`` is answered 429 without a check. A signed event is taken in like a
bounce by mail (``subscribers.reports.take_parsed``, ``via`` ``webhook:<provider>``) and
counted once however often the provider retries it. The app's body limit caps the size.
"""

from __future__ import annotations

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
from mailer.db import run_with_retry
from mailer.notices import campaigns_paused
from mailer.web.pages import client_of, factory_of, now_of, settings_of
from mailer.web.ratelimit import RateLimiter
from subscribers.reports import Taken, take_parsed

log = logging.getLogger(__name__)
router = APIRouter()

REFUSALS_LIMIT = 30
MAILGUN_TOKENS = "webhook-mailgun-token"  # the Mailgun tokens seen, each accepted once


def _json(status: int, message: str) -> Response:
    return JSONResponse({"message": message}, status_code=status)


def _refusals(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.webhook_refusals
    return limiter


def _seen_tokens(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.mailgun_tokens
    return limiter


async def _over_limit(request: Request) -> bool:
    limiter = _refusals(request)
    count = await anyio.to_thread.run_sync(limiter.count, client_of(request), now_of(request))
    return count >= limiter.limit


async def _refuse(request: Request, provider: str, reason: str) -> Response:
    log.warning("webhook %s: refused a post (%s)", provider, reason)
    await anyio.to_thread.run_sync(
        lambda: _refusals(request).allow(client_of(request), now_of(request))
    )
    return _json(403, "refused")


async def _take(request: Request, provider: str, event: Event, token: str = "") -> Taken | None:
    """Record the event (and, for Mailgun, its token in the same transaction: a post
    that failed to store may be retried with it); None when the token was seen before."""
    settings = settings_of(request)
    now = now_of(request)
    tokens = _seen_tokens(request)

    def work(session: Session) -> Taken | None:
        if token and not tokens.allow(token, now, session=session):
            return None
        return take_parsed(
            event.report,
            raw=event.raw,
            identity=event.identity,
            via=f"webhook:{provider}",
            envelope_to=[],
            settings=settings,
            now=now,
            session=session,
        )

    taken = await anyio.to_thread.run_sync(run_with_retry, factory_of(request), work)
    if taken is None:
        return None
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
    return taken


@router.post("/webhooks/mailgun")
async def mailgun(request: Request) -> Response:
    settings = settings_of(request)
    if settings.mailgun_signing_key is None:
        return _json(404, "not found")
    if await _over_limit(request):
        return _json(429, "too many refused posts")
    body = await request.body()
    try:
        signed = mailgun_verify(
            body, key=settings.mailgun_signing_key.get_secret_value(), now=now_of(request)
        )
    except RefusedError as exc:
        return await _refuse(request, "mailgun", str(exc))
    event = mailgun_event(signed, body.decode("utf-8", errors="replace"))
    if event is None:
        return _json(200, "ignored")
    if await _take(request, "mailgun", event, token=signed.token) is None:
        return await _refuse(request, "mailgun", "token used before")
    return _json(200, "recorded")


@router.post("/webhooks/postmark")
async def postmark(request: Request) -> Response:
    settings = settings_of(request)
    if settings.postmark_webhook_auth is None:
        return _json(404, "not found")
    if await _over_limit(request):
        return _json(429, "too many refused posts")
    try:
        postmark_verify(
            request.headers.get("authorization", ""),
            credentials=settings.postmark_webhook_auth.get_secret_value(),
        )
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
    await _take(request, "postmark", event)
    return _json(200, "recorded")
