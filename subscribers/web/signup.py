"""Signup pages: the form, its POST, the "check your inbox" page, and resending a link.

Every successful POST ends on the same page whatever the address's state, so the form
never tells anyone whether an address is subscribed.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from mailer import i18n
from mailer.db import write_session
from mailer.i18n import N_
from mailer.web.pages import (
    SECURITY_HEADERS,
    client_of,
    csrf_ok,
    factory_of,
    limiter_of,
    page_language,
    settings_of,
    wake_worker,
)
from subscribers.addresses import InvalidAddressError, normalise_address
from subscribers.choices import ChoiceError, vocabulary
from subscribers.consent import FORM_SENTENCE, Consent
from subscribers.signup import request_signup, resend_link
from subscribers.web.forms import CHECKED, ChoiceFields, render_with_choices

log = logging.getLogger(__name__)
router = APIRouter()

SENT = "/subscribe/check-your-inbox"
EXPIRED_FORM = N_(
    "This form was open too long or your browser blocked its cookie. Please send it again."
)


def _form_page(
    request: Request, *, email: str, fields: ChoiceFields, errors: dict[str, str], status: int
) -> Response:
    return render_with_choices(
        request,
        "subscribe.html",
        {"email": email, "fields": fields, "consent_text": FORM_SENTENCE, "errors": errors},
        status=status,
    )


def _sent() -> Response:
    """The "check your inbox" page (in the form's language: the switcher's cookie, else
    ``Accept-Language``, as for the form)."""
    return RedirectResponse(SENT, status_code=303, headers=SECURITY_HEADERS)


def _too_many(request: Request) -> Response:
    log.warning("%s rate limit reached for a client", request.url.path.strip("/") or "signup")
    return render_with_choices(
        request,
        "message.html",
        {
            "title": N_("Too many requests"),
            "message": N_(
                "We received too many signups from your network. Please try again in an hour."
            ),
        },
        status=429,
    )


@router.get("/")
@router.get("/subscribe")
def subscribe_form(request: Request) -> Response:
    fields = ChoiceFields(language=page_language(request))
    return _form_page(request, email="", fields=fields, errors={}, status=200)


@router.post("/subscribe")
def subscribe(
    request: Request,
    email: Annotated[str, Form()] = "",
    language: Annotated[str, Form()] = "en",
    digest: Annotated[str, Form()] = "",
    alerts: Annotated[str, Form()] = "",
    topics_mode: Annotated[str, Form()] = "all",
    topics: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults
    consent: Annotated[str, Form()] = "",
    website: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    settings = settings_of(request)
    fields = ChoiceFields.submitted(
        language=language, digest=digest, alerts=alerts, topics_mode=topics_mode, topics=topics
    )
    shown_email = email[:400]
    if not csrf_ok(request, csrf_token):
        return _form_page(
            request, email=shown_email, fields=fields, errors={"form": EXPIRED_FORM}, status=400
        )
    now = datetime.now(UTC)
    errors: dict[str, str] = {}
    address = ""
    try:
        address = normalise_address(email)
    except InvalidAddressError as exc:
        errors["email"] = str(exc)
    try:
        choices = fields.choices(vocabulary(settings.relevance_file))
    except ChoiceError as exc:
        errors[exc.field] = str(exc)
    if consent != CHECKED:
        errors["consent"] = N_("Please tick the box to agree, so we may send you email.")
    if website or errors:
        # Counted like any other attempt, in a transaction of its own.
        if not limiter_of(request).allow(client_of(request), now):
            return _too_many(request)
        if website:
            # Only bots fill the hidden field; they see success and learn nothing.
            log.info("signup honeypot filled; ignored")
            return _sent()
        return _form_page(request, email=shown_email, fields=fields, errors=errors, status=400)
    record = Consent(
        at=now,
        form=settings.consent_form_version,
        # The sentence as the reader saw it, in the page's language.
        text=_shown_sentence(request),
        ip=request.client.host if request.client else "",
        user_agent=request.headers.get("user-agent", ""),
    )
    # One write transaction: the attempt counted and the signup recorded together.
    with write_session(factory_of(request)) as session:
        if not limiter_of(request).allow(client_of(request), now, session=session):
            result = None
        else:
            result = request_signup(
                address, choices, record, settings=settings, now=now, session=session
            )
    if result is None:
        return _too_many(request)
    log.info("signup: %s, mail queued: %s", result.outcome, result.mailed)
    if result.mailed:
        wake_worker(request)
    return _sent()


def _shown_sentence(request: Request) -> str:
    with i18n.use_language(page_language(request)):
        return i18n.gettext(FORM_SENTENCE)


@router.get(SENT)
def check_your_inbox(request: Request) -> Response:
    days = max(1, settings_of(request).confirm_link_max_age.days)
    return render_with_choices(request, "sent.html", {"valid_days": days})


@router.post("/resend")
def resend(
    request: Request,
    email: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """A new link for whoever lost theirs or let it expire (same answer for any address)."""
    context: dict[str, Any] = {"email": email[:400], "errors": {}, "problem": "resend"}
    if not csrf_ok(request, csrf_token):
        context["errors"] = {"form": EXPIRED_FORM}
        return render_with_choices(request, "link_problem.html", context, status=400)
    now = datetime.now(UTC)
    if not limiter_of(request).allow(client_of(request), now):
        return _too_many(request)
    try:
        address = normalise_address(email)
    except InvalidAddressError as exc:
        context["errors"] = {"email": str(exc)}
        return render_with_choices(request, "link_problem.html", context, status=400)
    with write_session(factory_of(request)) as session:
        mailed = resend_link(address, settings=settings_of(request), now=now, session=session)
    if mailed:
        wake_worker(request)
    return _sent()
